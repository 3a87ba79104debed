"""`drcaptcha teardown` against the moto server: a versioned bucket emptied of every version and delete marker,
1,000 keys per DeleteObjects at most, and the retained tables deleted after a backup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha_ops import teardown
from drcaptcha_ops.cli import main
from drcaptcha_ops.emulator import Emulator

KEYS = 520  # written twice and 260 of them deleted: 1,040 versions + 260 delete markers, over one batch


def fill_versioned_bucket(bucket: str) -> int:
    """Two versions of each key, and a delete marker on every other key; returns the entries S3 now lists."""
    s3 = aws.client("s3")

    def write(index: int) -> None:
        for body in (b"first", b"second"):
            s3.put_object(Bucket=bucket, Key=f"glyphs/train/{index:05d}.npy", Body=body)
        if index % 2 == 0:
            s3.delete_object(Bucket=bucket, Key=f"glyphs/train/{index:05d}.npy")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(KEYS)))
    return 2 * KEYS + KEYS // 2


def record_delete_batches(batches: list[int]) -> None:
    def record(params: dict[str, Any], **_: Any) -> None:
        batches.append(len(params["Delete"]["Objects"]))

    aws.client("s3").meta.events.register("provide-client-params.s3.DeleteObjects", record)


def test_empty_bucket_removes_every_version_and_delete_marker_in_batches_of_1000(emulator: Emulator) -> None:
    # Given a versioned bucket with old versions and delete markers
    bucket = get_settings().bucket_name
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    entries = fill_versioned_bucket(bucket)
    listed = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    assert listed == KEYS // 2  # a plain listing shows only live keys: `aws s3 rm --recursive` is not enough
    batches: list[int] = []
    record_delete_batches(batches)

    # When it is emptied
    deleted = teardown.empty_bucket(bucket)

    # Then every entry went, no call carried more than 1,000 keys, and the bucket can be deleted
    assert deleted == entries
    assert batches == [1000, entries - 1000]
    remaining = s3.list_object_versions(Bucket=bucket)
    assert not remaining.get("Versions") and not remaining.get("DeleteMarkers")
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_emptying_an_empty_bucket_is_not_an_error(emulator: Emulator) -> None:
    bucket = get_settings().bucket_name
    assert teardown.empty_bucket(bucket) == 0
    assert teardown.delete_bucket(bucket) == 0
    assert teardown.delete_bucket(bucket) is None  # gone already


def test_teardown_without_confirm_deletes_nothing(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    settings = get_settings()
    aws.client("s3").put_object(Bucket=settings.bucket_name, Key="glyphs/manifest.json", Body=b"{}")

    assert main(["teardown"]) == 0

    out = capsys.readouterr().out
    assert "nothing deleted" in out and settings.glyphs_table in out
    assert settings.glyphs_table in aws.client("dynamodb").list_tables()["TableNames"]
    assert aws.client("s3").list_objects_v2(Bucket=settings.bucket_name)["KeyCount"] == 1


def test_teardown_refuses_a_confirm_that_is_not_the_bucket(emulator: Emulator) -> None:
    assert main(["teardown", "--confirm", "some-other-bucket"]) == 2
    assert get_settings().sites_table in aws.client("dynamodb").list_tables()["TableNames"]


def test_teardown_backs_up_and_deletes_every_table_and_the_bucket(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the deployment's data: tables, and a key with two versions and a delete marker
    settings = get_settings()
    resources = teardown.data_resources(settings)
    assert len(resources.tables) == len(emulator.stack.resources_of_type("AWS::DynamoDB::Table"))
    s3 = aws.client("s3")
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=settings.bucket_name, Key="sites/example.json", Body=body)
    s3.delete_object(Bucket=settings.bucket_name, Key="sites/example.json")

    # When it is torn down, confirmed by the bucket's name
    assert main(["teardown", "--confirm", settings.bucket_name]) == 0

    # Then no table and no bucket is left, and each table has an on-demand backup
    dynamodb = aws.client("dynamodb")
    assert not set(resources.tables) & set(dynamodb.list_tables()["TableNames"])
    backed_up = {backup["TableName"] for backup in dynamodb.list_backups()["BackupSummaries"]}
    assert backed_up == set(resources.tables)
    assert settings.bucket_name not in {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    assert "3 versions and delete markers removed, bucket deleted" in capsys.readouterr().out
