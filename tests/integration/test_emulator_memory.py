"""The embedded emulator does not keep every moto object alive: a long bench process stays bounded in memory."""

from __future__ import annotations

import pytest
from moto.core.model_instances import model_data
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from drcaptcha import aws
from drcaptcha_ops.emulator import Emulator

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
