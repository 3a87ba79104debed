"""Glyphs and their votes (the Glyphs, Votes, Acceptances and Sources tables), as the labels consumer writes them.

- `count_vote`: ONE transaction puts the vote with `attribute_not_exists` AND adds its weight to the glyph's
  tallies while the glyph is open, so neither happens without the other, and a redelivery counts nothing;
- `accept`: ONE transaction, conditional on the glyph still being open, labels it, writes the audit record and
  adds each voter's agreement or disagreement to its track record;
- `count_gold_reading`: ONE transaction puts a gold reading (a vote on a known glyph shown unscored) once, adds
  it to the glyph's reading counts and to its source's track record (gold.py decides what it means);
- `mark_ambiguous`, `keep_late_vote`, `set_reading_state`: single conditional writes.
Each failed condition comes back as an outcome, never as an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from drcaptcha.config import get_settings
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, GOLD, GOLD_STATES, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import AcceptanceItem, SourceItem, VoteItem, audited
from drcaptcha.store.base import ConditionFailed, conditional_write, count_scan, transaction

CROWD_LABEL_SOURCE: Final = "crowd"
# The states in which votes still count; a glyph leaves them only by being labelled.
OPEN_STATES: Final = (UNLABELLED, AMBIGUOUS)
# DynamoDB takes at most 100 items a transaction; the acceptance uses two for the glyph and its audit record.
MAX_SOURCES_PER_ACCEPTANCE: Final = 98
_FIRST_ITEM: Final = 0  # count_vote's first item: the vote; accept's first item: the glyph


class Counted(Enum):
    COUNTED = "counted"
    DUPLICATE = "duplicate"  # the vote was counted at an earlier delivery
    GLYPH_CLOSED = "glyph-closed"  # the glyph is labelled already, or unknown: nothing was counted


@dataclass(frozen=True)
class Glyph:
    """Where a glyph stands: its state, its label once it has one, and its votes' summed weights per class."""

    glyph_id: str
    state: str
    label: int | None
    tallies: dict[int, float]
    unreadable: float
    readings: int = 0  # a known glyph's gold readings, and how many were right (gold.py)
    read_right: int = 0


@dataclass(frozen=True)
class CountedVote:
    vote_id: str
    source: str
    label: int | None
    weight: float


@dataclass(frozen=True)
class Acceptance:
    """A crowd label, with the rule's figures: what `accept` writes."""

    glyph_id: str
    label: int
    accepted_at: float
    leader_weight: float
    runner_up_weight: float


class GlyphVoteStore:
    # --- reads ------------------------------------------------------------------------------------------------
    def glyph_ids_in_state(self, state: str, limit: int) -> list[str]:
        """Up to `limit` ids of glyphs in `state`, least shown first (the `by-state` index, ids only)."""
        return [
            item.glyph_id
            for item in GlyphItem.by_state.query(
                state, scan_index_forward=True, limit=limit, page_size=limit, attributes_to_get=["glyph_id"]
            )
        ]

    def count_in_state(self, state: str) -> int:
        return count_scan(get_settings().glyphs_table, "#state = :state", {":state": {"S": state}})

    def count_votes(self) -> int:
        return count_scan(get_settings().votes_table)

    def glyph(self, glyph_id: str) -> Glyph | None:
        try:
            item = GlyphItem.get(glyph_id, consistent_read=True)
        except DoesNotExist:
            return None
        return Glyph(
            glyph_id=item.glyph_id,
            state=item.state,
            label=None if item.label is None else int(item.label),
            tallies={int(label): float(weight) for label, weight in item.tallies.attribute_values.items()},
            unreadable=float(item.unreadable),
            readings=int(item.readings or 0),
            read_right=int(item.read_right or 0),
        )

    def counted_votes(self, glyph_id: str) -> list[CountedVote]:
        return [
            CountedVote(vote.vote_id, vote.source, None if vote.label is None else int(vote.label), float(vote.weight))
            for vote in VoteItem.query(glyph_id, consistent_read=True)
            if vote.counted
        ]

    def has_vote_with_prefix(self, glyph_id: str, prefix: str) -> bool:
        return next(iter(VoteItem.query(glyph_id, VoteItem.vote_id.startswith(prefix), limit=1)), None) is not None

    def track_record(self, source: str) -> tuple[float, float]:
        """A source's (agreements, disagreements) with accepted labels; (0, 0) for a new source."""
        try:
            record = SourceItem.get(source)
        except DoesNotExist:
            return 0.0, 0.0
        return float(record.agreements), float(record.disagreements)

    # --- writes -----------------------------------------------------------------------------------------------
    def count_vote(self, vote: VoteRecord, weight: float) -> Counted:
        """The vote, if new, and its weight on the glyph's tallies, if the glyph is still open: one transaction."""
        item = vote_item(vote, weight, counted=True)
        tally_action: Action
        if vote.label is None:
            tally_action = GlyphItem.unreadable.add(weight)
        else:
            class_tally = Path([GlyphItem.tallies.attr_name, str(vote.label)])
            tally_action = class_tally.set((class_tally | 0) + weight)
        try:
            with transaction() as writes:
                writes.save(item, condition=VoteItem.vote_id.does_not_exist())
                writes.update(
                    GlyphItem(vote.glyph_id),
                    actions=[tally_action, GlyphItem.votes.add(1)],
                    condition=GlyphItem.glyph_id.exists() & GlyphItem.state.is_in(*OPEN_STATES),
                )
        except ConditionFailed as failed:
            return Counted.DUPLICATE if failed.at(_FIRST_ITEM) else Counted.GLYPH_CLOSED
        return Counted.COUNTED

    def count_gold_reading(self, vote: VoteRecord, right: bool) -> Counted:
        """A gold reading, once: the vote, the known glyph's reading counts (made with the glyph's item on its
        first reading) and the source's agreement or disagreement, in one transaction. GLYPH_CLOSED: the glyph
        is not a known one (it has a state outside the gold states), and nothing was written."""
        if vote.gold is None:
            raise ValueError(f"vote {vote.vote_id} is not a gold reading")
        glyph = GlyphItem(vote.glyph_id)
        try:
            with transaction() as writes:
                writes.save(vote_item(vote, vote.weight, counted=True), condition=VoteItem.vote_id.does_not_exist())
                writes.update(
                    glyph,
                    actions=[
                        GlyphItem.readings.add(1),
                        GlyphItem.read_right.add(1 if right else 0),
                        GlyphItem.state.set(GlyphItem.state | GOLD),
                        GlyphItem.label.set(GlyphItem.label | vote.gold),
                        # The by-state index holds only items with a `shown`.
                        GlyphItem.shown.set(GlyphItem.shown | 0),
                    ],
                    condition=GlyphItem.glyph_id.does_not_exist() | GlyphItem.state.is_in(*GOLD_STATES),
                )
                writes.update(
                    SourceItem(vote.source),
                    actions=[
                        SourceItem.agreements.add(1 if right else 0),
                        SourceItem.disagreements.add(0 if right else 1),
                        SourceItem.updated_at.set(vote.ts),
                    ],
                )
        except ConditionFailed as failed:
            return Counted.DUPLICATE if failed.at(_FIRST_ITEM) else Counted.GLYPH_CLOSED
        return Counted.COUNTED

    def set_reading_state(self, glyph_id: str, state: str, readings: int) -> bool:
        """Set a known glyph's gold state, if it still has `readings` readings; False if more arrived meanwhile
        (their own update decides)."""
        try:
            with conditional_write():
                GlyphItem(glyph_id).update(
                    actions=[GlyphItem.state.set(state)],
                    condition=(GlyphItem.readings == readings) & GlyphItem.state.is_in(*GOLD_STATES),
                )
        except ConditionFailed:
            return False
        return True

    def keep_late_vote(self, vote: VoteRecord, weight: float) -> bool:
        """Keep a vote for a labelled glyph for the record only; False if it was kept already."""
        try:
            with conditional_write():
                vote_item(vote, weight, counted=False).save(condition=VoteItem.vote_id.does_not_exist())
        except ConditionFailed:
            return False
        return True

    def accept(
        self, acceptance: Acceptance, votes: Iterable[CountedVote], track_records: Mapping[str, tuple[int, int]]
    ) -> bool:
        """Label the glyph, write its audit record and update its voters' track records, all or nothing; False if
        the glyph was labelled meanwhile (nothing was written)."""
        audit = AcceptanceItem(
            acceptance.glyph_id,
            label=acceptance.label,
            accepted_at=acceptance.accepted_at,
            leader_weight=acceptance.leader_weight,
            runner_up_weight=acceptance.runner_up_weight,
            votes=[audited(vote.vote_id, vote.source, vote.label, vote.weight) for vote in votes],
        )
        try:
            with transaction() as writes:
                writes.update(
                    GlyphItem(acceptance.glyph_id),
                    actions=[
                        GlyphItem.state.set(CROWD),
                        GlyphItem.label.set(acceptance.label),
                        GlyphItem.label_source.set(CROWD_LABEL_SOURCE),
                    ],
                    condition=GlyphItem.state.is_in(*OPEN_STATES),
                )
                writes.save(audit, condition=AcceptanceItem.glyph_id.does_not_exist())
                for source, (agreed, disagreed) in list(track_records.items())[:MAX_SOURCES_PER_ACCEPTANCE]:
                    writes.update(
                        SourceItem(source),
                        actions=[
                            SourceItem.agreements.add(agreed),
                            SourceItem.disagreements.add(disagreed),
                            SourceItem.updated_at.set(acceptance.accepted_at),
                        ],
                    )
        except ConditionFailed as failed:
            if not failed.at(_FIRST_ITEM):
                raise
            return False
        return True

    def mark_ambiguous(self, glyph_id: str) -> bool:
        """Mark an unlabelled glyph ambiguous; False if it was settled meanwhile."""
        try:
            with conditional_write():
                GlyphItem(glyph_id).update(
                    actions=[GlyphItem.state.set(AMBIGUOUS)], condition=GlyphItem.state == UNLABELLED
                )
        except ConditionFailed:
            return False
        return True


def vote_item(vote: VoteRecord, weight: float, counted: bool) -> VoteItem:
    return VoteItem(
        vote.glyph_id,
        vote.vote_id,
        source=vote.source,
        answer=vote.answer,
        label=vote.label,
        weight=weight,
        counted=counted,
        site_key=vote.site_key,
        challenge_id=vote.challenge_id,
        ts=vote.ts,
    )
