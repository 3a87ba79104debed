"""Vote delivery that loses no vote: the stream first, a durable outbox (DynamoDB) when the stream fails.

A passing visitor gets their token whatever the stream does; the votes of their pass must still be counted.
`deliver_votes` puts them on the stream and keeps whatever the stream refused (or all of them, when Kinesis is
down or throttles past the client's retries) in the Outbox table. `replay_outbox` (the scheduled
OutboxReplayFunction) puts the kept votes on the stream again and deletes each item once the stream took all
its votes. The labels consumer counts a vote once by its id, so a vote replayed twice (the stream took it, the
delete failed) is still counted once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError
from pynamodb.exceptions import PynamoDBException

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha.models.stream import VoteRecord
from drcaptcha.store.outbox import OutboxStore

logger = logging.getLogger(__name__)

# Kinesis refuses single records under load (ProvisionedThroughputExceeded) while taking the rest: one more try
# for those, within the request, before they go to the outbox.
_STREAM_ATTEMPTS: Final = 2
_VOTE_LIST: Final = TypeAdapter(list[VoteRecord])
RECORDS: Final = OutboxStore()


def put_on_stream(votes: Sequence[VoteRecord]) -> list[VoteRecord]:
    """Append `votes` to the stream; return the ones it did not take (all of them when the call failed)."""
    pending = list(votes)
    for _attempt in range(_STREAM_ATTEMPTS):
        if not pending:
            return []
        records = [{"Data": vote.model_dump_json().encode(), "PartitionKey": vote.glyph_id} for vote in pending]
        try:
            reply = aws.client("kinesis").put_records(StreamName=get_settings().votes_stream, Records=records)
        except (ClientError, BotoCoreError) as error:
            logger.warning("the stream did not take %d votes: %s", len(pending), error)
            return pending
        pending = [vote for vote, result in zip(pending, reply["Records"], strict=True) if "ErrorCode" in result]
    return pending


def deliver_votes(
    challenge_id: str, votes: Sequence[VoteRecord], now: float | None = None, records: OutboxStore = RECORDS
) -> int:
    """Put `votes` on the stream, and keep the ones it refused in the outbox; return how many were kept.

    Only when DynamoDB fails too (the outbox write, right after the conditional update that recorded the pass
    succeeded) are the votes logged in full at ERROR, as the record of last resort: see docs/RELIABILITY.md.
    """
    unsent = put_on_stream(votes)
    if not unsent:
        return 0
    now = time.time() if now is None else now
    unsent_json = _VOTE_LIST.dump_json(unsent).decode()
    try:
        records.keep(
            challenge_id, unsent_json, created_at=now, expires_at=now + get_settings().outbox_retention_seconds
        )
    except PynamoDBException:
        logger.exception(
            "votes refused by both the stream and the outbox",
            extra={"unsent_votes": unsent_json, "challenge": challenge_id},
        )
        raise
    logger.warning("kept %d votes of challenge %s in the outbox", len(unsent), challenge_id)
    return len(unsent)


@dataclass(frozen=True)
class ReplayReport:
    """One replay round: items whose votes all reached the stream (and were deleted), and those kept."""

    replayed_items: int
    replayed_votes: int
    kept_items: int
    unreadable_items: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "replayed_items": self.replayed_items,
            "replayed_votes": self.replayed_votes,
            "kept_items": self.kept_items,
            "unreadable_items": self.unreadable_items,
        }


def replay_outbox(max_items: int = 500, records: OutboxStore = RECORDS) -> ReplayReport:
    """Put the outbox's votes on the stream again; delete each item whose votes the stream all took.

    An item the stream still refuses stays for the next round with its attempts counted; the item's TTL is the
    only thing that ever ends its retries.
    """
    replayed_items = replayed_votes = kept_items = unreadable_items = 0
    for item in records.kept(max_items):
        try:
            votes = _VOTE_LIST.validate_json(item.votes_json)
        except ValidationError:
            # Written by this module only, so never expected; kept (not deleted) for a human to look at.
            logger.exception("outbox item %s does not hold votes", item.challenge_id)
            unreadable_items += 1
            continue
        unsent = put_on_stream(votes)
        if unsent:
            records.retry_later(item.challenge_id, _VOTE_LIST.dump_json(unsent).decode())
            kept_items += 1
            continue
        records.remove(item.challenge_id)
        replayed_items += 1
        replayed_votes += len(votes)
    report = ReplayReport(replayed_items, replayed_votes, kept_items, unreadable_items)
    logger.info("outbox replay: %s", report.as_dict())
    return report
