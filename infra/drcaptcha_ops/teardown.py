"""Removing a deployment's data on purpose.

template.yaml retains the bucket and every table when the stack is deleted (or when a change would replace one),
so that `sam delete` or a careless edit never loses labels, votes, sites or admin keys. Deleting that data is a
separate, deliberate step: this module, behind `drcaptcha teardown`.

A versioned bucket is empty only when every object version *and* every delete marker is gone; S3's DeleteObjects
takes at most 1,000 keys a call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from drcaptcha import aws
from drcaptcha.config import Settings
from drcaptcha.errors import DataError

# S3 DeleteObjects: at most 1,000 keys per request.
DELETE_BATCH = 1000


@dataclass(frozen=True)
class DataResources:
    """The retained resources of one deployment, by physical name."""

    bucket: str
    tables: tuple[str, ...]


def data_resources(settings: Settings) -> DataResources:
    """The bucket and every table the settings name (every `*_table` setting: the template's tables)."""
    tables = tuple(
        sorted(
            value
            for name in type(settings).model_fields
            if name.endswith("_table") and (value := getattr(settings, name))
        )
    )
    return DataResources(bucket=settings.bucket_name, tables=tables)


def _first_versions(name: str, batch: int) -> list[dict[str, str]]:
    """The first `batch` versions and delete markers of the bucket, as DeleteObjects wants them."""
    page = aws.client("s3").list_object_versions(Bucket=name, MaxKeys=batch)
    return [
        {"Key": entry["Key"], "VersionId": entry["VersionId"]}
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
    ]


def empty_bucket(name: str, batch: int = DELETE_BATCH) -> int:
    """Delete every object version and delete marker, `batch` (at most 1,000) at a time; returns how many.

    It lists from the start again after each batch instead of following the listing's markers, which point at
    versions it has just deleted. An empty bucket is not an error (0); a key S3 refuses to delete is.
    """
    if not 1 <= batch <= DELETE_BATCH:
        raise ValueError(f"batch must be 1..{DELETE_BATCH}, not {batch}")
    s3 = aws.client("s3")
    deleted = 0
    while entries := _first_versions(name, batch):
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            response: dict[str, Any] = s3.delete_objects(Bucket=name, Delete={"Objects": chunk, "Quiet": True})
            if errors := response.get("Errors"):
                first = errors[0]
                raise DataError(f"s3://{name}: {len(errors)} keys not deleted, e.g. {first['Key']}: {first['Message']}")
            deleted += len(chunk)
    return deleted


def delete_bucket(name: str) -> int | None:
    """Empty the bucket and delete it; returns the versions deleted, or None when there is no such bucket."""
    s3 = aws.client("s3")
    try:
        deleted = empty_bucket(name)
        s3.delete_bucket(Bucket=name)
    except s3.exceptions.NoSuchBucket:
        return None
    return deleted


def back_up_table(name: str, label: str) -> str | None:
    """An on-demand backup (kept after the table is deleted, unlike point-in-time recovery); None if no table."""
    dynamodb = aws.client("dynamodb")
    try:
        response = dynamodb.create_backup(TableName=name, BackupName=f"{name}-{label}"[:255])
    except dynamodb.exceptions.TableNotFoundException:
        return None
    arn: str = response["BackupDetails"]["BackupArn"]
    return arn


def delete_table(name: str) -> bool:
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.delete_table(TableName=name)
    except dynamodb.exceptions.ResourceNotFoundException:
        return False
    return True


def backup_label(now: float | None = None) -> str:
    """A backup-name suffix: DynamoDB backup names allow letters, digits, '_', '-' and '.'."""
    return "teardown-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
