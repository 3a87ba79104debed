"""The rate-limit counters: one item per client and kind of request, holding both of its staggered windows."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel


class RateLimitCounter(TableModel):
    """`bucket` is `<kind>#<client hash>`. Each slot (a, b: windows staggered by half a window, ratelimit.py) keeps
    the number of its current window and that window's hits; the item lapses (TTL) one window after its last."""

    table_setting: ClassVar[str] = "rate_limits_table"

    class Meta:
        table_name = ""

    bucket = UnicodeAttribute(hash_key=True)
    a_window = NumberAttribute(null=True)
    a_hits = NumberAttribute(null=True)
    b_window = NumberAttribute(null=True)
    b_hits = NumberAttribute(null=True)
    expires_at = NumberAttribute()

    def window_of(self, slot: str) -> int | None:
        value = getattr(self, f"{slot}_window")
        return None if value is None else int(value)

    def hits_of(self, slot: str) -> int:
        value = getattr(self, f"{slot}_hits")
        return 0 if value is None else int(value)
