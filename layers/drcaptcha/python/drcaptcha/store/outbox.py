"""The vote outbox (the Outbox table): a passed challenge's votes that the stream refused, one item a challenge."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from drcaptcha.models.tables.outbox import OutboxItem


@dataclass(frozen=True)
class KeptVotes:
    challenge_id: str
    votes_json: str


class OutboxStore:
    def keep(self, challenge_id: str, votes_json: str, created_at: float, expires_at: float) -> None:
        """One PutItem, all or nothing (a second keep for the same challenge replaces the first)."""
        OutboxItem(challenge_id, votes=votes_json, created_at=created_at, expires_at=expires_at).save()

    def kept(self, max_items: int) -> Iterator[KeptVotes]:
        for item in OutboxItem.scan(limit=max_items, consistent_read=True):
            yield KeptVotes(item.challenge_id, item.votes)

    def retry_later(self, challenge_id: str, remaining_json: str) -> None:
        """Keep only the votes the stream still refused, and count the attempt."""
        OutboxItem(challenge_id).update(actions=[OutboxItem.attempts.add(1), OutboxItem.votes.set(remaining_json)])

    def remove(self, challenge_id: str) -> None:
        OutboxItem(challenge_id).delete()
