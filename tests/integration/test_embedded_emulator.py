"""The embedded emulator, where moto's own behaviour is patched: it does not keep every moto object alive (a long
bench process stays bounded in memory), and its DynamoDB transactions are isolated, as real DynamoDB's are (a
transaction that fails and rolls back never takes another request's write with it, nor breaks it).

Unpatched, moto 5.2 fails the isolation test about two runs in three: a put that lands while a transaction
deep-copies the table makes the copy fail (HTTP 500), and one that lands before the rollback is erased by it (CI saw
the second as an activation race whose winner's pointer vanished)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from moto.core.model_instances import model_data
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from drcaptcha import aws
from drcaptcha_ops.emulator import Emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDED_ITEMS = 20
TRANSACTIONS = 40
# The isolation test: a table large enough that a rollback backup takes a while to copy, and failing transactions
# that each apply many writes before their last condition fails.
ISOLATION_SEEDED_ITEMS = 200
FAILING_TRANSACTIONS = 20
WRITES_BEFORE_THE_FAILED_CHECK = 60


def seeded_sites_table(emulator: Emulator, items: int) -> str:
    """The Sites table (any table would do) with `items` items in it."""
    dynamodb = aws.client("dynamodb")
    table = emulator.stack.physical_name("SitesTable")
    for index in range(items):
        dynamodb.put_item(TableName=table, Item={"site_key": {"S": f"seed-{index}"}, "hits": {"N": "0"}})
    return table


def _tracked_instances() -> int:
    """Every model instance moto holds for its dashboard, over all services."""
    tracked: list[list[object]] = [
        model.instances_tracked  # type: ignore[attr-defined]
        for models in model_data.values()
        for model in models.values()
    ]
    return sum(len(instances) for instances in tracked)


def test_transactions_against_the_emulator_leave_no_tracked_table_copies_behind(emulator: Emulator) -> None:
    if emulator.server is None:
        pytest.skip("moto's instance tracking only exists in the embedded moto server")
    # Given a table with some items, so that each transaction's rollback backup deep-copies all of them
    dynamodb = aws.client("dynamodb")
    table = seeded_sites_table(emulator, SEEDED_ITEMS)
    tracked_before = _tracked_instances()
    tables_before = len(Table.instances_tracked)  # type: ignore[attr-defined]
    items_before = len(Item.instances_tracked)  # type: ignore[attr-defined]

    # When many TransactWriteItems run, each one writing two items
    for index in range(TRANSACTIONS):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"site_key": {"S": f"tx-{index}"}, "hits": {"N": str(index)}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"site_key": {"S": "seed-0"}},
                        "UpdateExpression": "ADD hits :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )

    # Then moto tracked none of the table copies nor their Items (tracked, that was 80 tables and ~3,000 Items)
    assert len(Table.instances_tracked) == tables_before  # type: ignore[attr-defined]
    assert len(Item.instances_tracked) == items_before  # type: ignore[attr-defined]
    assert _tracked_instances() == tracked_before
    # And the emulator still applied every transaction
    seed = dynamodb.get_item(TableName=table, Key={"site_key": {"S": "seed-0"}}, ConsistentRead=True)["Item"]
    assert seed["hits"] == {"N": str(TRANSACTIONS)}
    last = dynamodb.get_item(TableName=table, Key={"site_key": {"S": f"tx-{TRANSACTIONS - 1}"}})["Item"]
    assert last["hits"] == {"N": str(TRANSACTIONS - 1)}
    assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == SEEDED_ITEMS + TRANSACTIONS


def _failing_transaction(table: str) -> None:
    """A transaction whose last condition fails after many writes: moto backs up the whole table first, applies
    the writes one by one, and puts the backup back."""
    try:
        aws.client("dynamodb").transact_write_items(
            TransactItems=[
                *(
                    {"Put": {"TableName": table, "Item": {"site_key": {"S": f"never-{index}"}, "hits": {"N": "1"}}}}
                    for index in range(WRITES_BEFORE_THE_FAILED_CHECK)
                ),
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"site_key": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(site_key)",
                    }
                },
            ]
        )
    except ClientError as error:
        assert error.response["Error"]["Code"] == "TransactionCanceledException"
    else:  # pragma: no cover - the condition cannot hold
        raise AssertionError("the transaction's condition held")


def test_a_rolled_back_transaction_does_not_erase_a_write_made_meanwhile(emulator: Emulator) -> None:
    if emulator.server is None:
        pytest.skip("the rollback race is the embedded moto server's; LocalStack has its own DynamoDB")
    # Given a table large enough that a transaction's rollback backup takes a while to copy
    dynamodb = aws.client("dynamodb")
    table = seeded_sites_table(emulator, ISOLATION_SEEDED_ITEMS)

    # When failing transactions run over and over while another client puts new items into the same table
    transactions_done = threading.Event()
    put_keys: list[str] = []
    failures: list[str] = []

    def fail_repeatedly() -> None:
        try:
            for _ in range(FAILING_TRANSACTIONS):
                _failing_transaction(table)
        except (AssertionError, ClientError) as error:  # a transaction that did not fail as its condition says
            failures.append(repr(error))
        finally:
            transactions_done.set()

    def put_meanwhile() -> None:
        while not transactions_done.is_set():
            key = f"meanwhile-{len(put_keys)}"
            aws.client("dynamodb").put_item(TableName=table, Item={"site_key": {"S": key}, "hits": {"N": "1"}})
            put_keys.append(key)

    threads = [threading.Thread(target=fail_repeatedly), threading.Thread(target=put_meanwhile)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lost = [
        key
        for key in put_keys
        if "Item" not in dynamodb.get_item(TableName=table, Key={"site_key": {"S": key}}, ConsistentRead=True)
    ]

    # Then every put that succeeded is still there, and the failed transactions wrote nothing
    assert put_keys
    assert failures == []
    assert lost == []
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"site_key": {"S": "never-0"}}, ConsistentRead=True)
    assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == ISOLATION_SEEDED_ITEMS + len(put_keys)


SECOND_EMULATOR_SCRIPT = """
from drcaptcha.models.tables.sites import SiteItem
from drcaptcha_ops.emulator import running_emulator
with running_emulator():
    SiteItem(site_key="left-behind", domain="example.com", secret_hash="x", created_at=0).save()
    print("first", SiteItem.count())
with running_emulator():
    print("second", SiteItem.count())
"""


def test_an_embedded_emulator_started_after_another_in_the_same_process_starts_empty(tmp_path: Path) -> None:
    """In its own process: moto's state is process-wide, and this test must not reset the session's emulator."""
    # Given a process that starts an embedded emulator, writes a site into it, and stops it
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_ENDPOINT_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "layers/drcaptcha/python"), str(REPO_ROOT / "infra")])

    # When it starts a second one (the simulation bench runs one per scenario)
    run = subprocess.run(
        [sys.executable, "-c", SECOND_EMULATOR_SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True
    )

    # Then the second holds none of the first one's data
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["first", "1", "second", "0"]
