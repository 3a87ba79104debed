"""Admin keys, stored as hashes."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel


class AdminItem(TableModel):
    """One admin key, stored as the SHA-256 of the key: the key itself is printed once and kept nowhere."""

    table_setting: ClassVar[str] = "admins_table"

    class Meta:
        table_name = ""

    key_hash = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = NumberAttribute()
