"""The Glyphs table's state index, read from template.yaml: it projects the keys and what its readers read, so that
counting votes and gold readings does not write it (issue 17: an index that projected every attribute was
written again, at 1 WRU, by every count)."""

from __future__ import annotations

from typing import Any

import pytest

from drcaptcha.models.tables.glyphs import STATE_INDEX_ATTRIBUTES, GlyphItem
from drcaptcha_ops.iam import Statement, allows, function_statements
from drcaptcha_ops.template import LocalStack, local_stack

# What the labels function's updates write that no reader of the index needs: a count (store/glyphs.py
# `count_glyph_votes`) and a count of gold readings (`count_gold_readings`).
COUNTED_ATTRIBUTES = ("tallies", "unreadable", "counted", "votes", "readings", "read_right", "gold_pending")


@pytest.fixture(scope="module")
def stack() -> LocalStack:
    return local_stack()


@pytest.fixture(scope="module")
def statements(stack: LocalStack) -> dict[str, list[Statement]]:
    return function_statements(stack)


def state_index(stack: LocalStack) -> dict[str, Any]:
    indexes = stack.resources["GlyphsTable"]["Properties"]["GlobalSecondaryIndexes"]
    (index,) = [index for index in indexes if index["IndexName"] == GlyphItem.by_state.Meta.index_name]
    return index


def test_the_template_declares_the_index_the_model_queries(stack: LocalStack) -> None:
    index = state_index(stack)
    keys = {key["KeyType"]: key["AttributeName"] for key in index["KeySchema"]}
    assert keys == {"HASH": "state", "RANGE": "shown"}
    projection = GlyphItem.by_state.Meta.projection
    assert index["Projection"]["ProjectionType"] == projection.projection_type
    assert index["Projection"].get("NonKeyAttributes", []) == projection.non_key_attributes


def test_the_index_projects_the_keys_and_label_and_none_of_the_counted_attributes(stack: LocalStack) -> None:
    projection = state_index(stack)["Projection"]
    assert projection["ProjectionType"] == "INCLUDE"
    assert projection["NonKeyAttributes"] == list(STATE_INDEX_ATTRIBUTES) == ["label"]
    assert not set(COUNTED_ATTRIBUTES) & set(projection["NonKeyAttributes"])


def test_the_glyphs_table_has_one_index_and_roles_query_only_it(
    stack: LocalStack, statements: dict[str, list[Statement]]
) -> None:
    """A projection cannot change in place, so the index has a new name: the old one is gone from the template,
    and the captcha function (selection) can query the new one, not the old."""
    indexes = stack.resources["GlyphsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert [index["IndexName"] for index in indexes] == ["by-state-label"]
    table = stack.arn("GlyphsTable")
    captcha = statements["CaptchaFunction"]
    assert allows(captcha, "dynamodb:Query", f"{table}/index/by-state-label")
    assert not allows(captcha, "dynamodb:Query", f"{table}/index/by-state")
    assert not allows(captcha, "dynamodb:Query", table)
