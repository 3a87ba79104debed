"""The vote outbox: the votes of a passed challenge that the stream would not take, kept until they are replayed.

One item per challenge, holding all its unsent votes as one JSON list, so keeping them is a single PutItem
(all or nothing). The item lapses (TTL) after the outbox retention: long past any outage worth replaying.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel


class OutboxItem(TableModel):
    table_setting: ClassVar[str] = "outbox_table"

    class Meta:
        table_name = ""

    challenge_id = UnicodeAttribute(hash_key=True)
    votes = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    attempts = NumberAttribute(default=0)
