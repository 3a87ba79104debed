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

    @classmethod
    def window_attribute(cls, slot: str) -> NumberAttribute:
        """The attribute that holds `slot`'s window number (for conditions and updates)."""
        attribute: NumberAttribute = getattr(cls, f"{slot}_window")
        return attribute

    @classmethod
    def hits_attribute(cls, slot: str) -> NumberAttribute:
        """The attribute that holds the hits of `slot`'s window."""
        attribute: NumberAttribute = getattr(cls, f"{slot}_hits")
        return attribute

    def window_of(self, slot: str) -> int | None:
        value = getattr(self, self.window_attribute(slot).attr_name)
        return None if value is None else int(value)

    def hits_of(self, slot: str) -> int:
        value = getattr(self, self.hits_attribute(slot).attr_name)
        return 0 if value is None else int(value)

    def start(self, slot: str, window: int, hits: int) -> None:
        """Set `slot` to `window`, holding `hits`."""
        setattr(self, self.window_attribute(slot).attr_name, window)
        setattr(self, self.hits_attribute(slot).attr_name, hits)
