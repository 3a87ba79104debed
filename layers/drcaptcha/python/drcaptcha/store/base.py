"""What every store shares: the one translation of a failed condition, and the one transaction connection."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from drcaptcha import aws, warm
from drcaptcha.config import get_settings

# How DynamoDB names a failed condition: on a single write, and as a transaction item's cancellation reason.
_WRITE_CONDITION_FAILED: Final = "ConditionalCheckFailedException"
_ITEM_CONDITION_FAILED: Final = "ConditionalCheckFailed"

_connections: warm.LRUCache[tuple[str, str | None, str | None, str | None], Connection] = warm.lasting(4)


class ConditionFailed(Exception):
    """A conditional write or transaction was refused because a condition did not hold: nothing was written.

    `failed` tells, item by item in the order they were added, whose condition failed (one item for a single
    write). Only the stores catch this: they turn it into a domain outcome or a typed error.
    """

    def __init__(self, failed: Sequence[bool]) -> None:
        super().__init__(f"condition failed: {list(failed)}")
        self.failed = tuple(failed)

    def at(self, position: int) -> bool:
        """Whether the condition of the item at `position` failed (-1: the last item)."""
        try:
            return self.failed[position]
        except IndexError:
            return False


@contextmanager
def conditional_write() -> Iterator[None]:
    """Raise ConditionFailed when the write (or transaction) inside is refused for a condition; other errors pass."""
    try:
        yield
    except (PutError, UpdateError, DeleteError) as error:
        if error.cause_response_code == _WRITE_CONDITION_FAILED:
            raise ConditionFailed((True,)) from error
        raise
    except TransactWriteError as error:
        failed = [reason is not None and reason.code == _ITEM_CONDITION_FAILED for reason in error.cancellation_reasons]
        if any(failed):
            raise ConditionFailed(failed) from error
        raise


def connection() -> Connection:
    """The pynamodb connection for transactions, configured like the models' own (models/tables/base.py)."""
    settings = get_settings()
    key = (settings.aws_region, settings.aws_endpoint_url, settings.aws_access_key_id, settings.aws_secret_access_key)
    if key not in _connections:
        region, host, access_key, secret_key = key
        _connections[key] = Connection(
            region=region, host=host, aws_access_key_id=access_key, aws_secret_access_key=secret_key
        )
    return _connections[key]


@contextmanager
def transaction() -> Iterator[TransactWrite]:
    """One TransactWriteItems call, written when the block ends; a failed condition raises ConditionFailed."""
    with conditional_write(), TransactWrite(connection=connection()) as writes:
        yield writes


def count_scan(table: str, condition: str | None = None, values: dict[str, Any] | None = None) -> int:
    """How many items of `table` match `condition`, by a COUNT scan: cheap at this scale, and only the admin stats
    ask. In `condition`, `#name` stands for the attribute `name` (state, outcome and used are reserved words)."""
    arguments: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    if condition:
        arguments["FilterExpression"] = condition
        arguments["ExpressionAttributeValues"] = values or {}
        arguments["ExpressionAttributeNames"] = {f"#{name}": name for name in re.findall(r"#(\w+)", condition)}
    total = 0
    for page in aws.client("dynamodb").get_paginator("scan").paginate(**arguments):
        total += int(page["Count"])
    return total
