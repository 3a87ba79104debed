"""The rate-limit counters: one item per site, client and fixed window."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel


class RateLimitCounter(TableModel):
    """`bucket` is `<site>#<client hash>#<window number>`; the item lapses (TTL) one window after its own."""

    table_setting: ClassVar[str] = "rate_limits_table"

    class Meta:
        table_name = ""

    bucket = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()
