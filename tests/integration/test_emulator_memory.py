"""The embedded emulator does not keep every moto object alive: a long bench process stays bounded in memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from moto.core.model_instances import model_data
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from drcaptcha import aws
from drcaptcha_ops.emulator import Emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDED_ITEMS = 20
TRANSACTIONS = 40


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
    table = emulator.stack.physical_name("SitesTable")
    for index in range(SEEDED_ITEMS):
        dynamodb.put_item(TableName=table, Item={"site_key": {"S": f"seed-{index}"}, "hits": {"N": "0"}})
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
