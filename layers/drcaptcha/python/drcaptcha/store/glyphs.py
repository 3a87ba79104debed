"""Glyphs and their votes (the Glyphs, Votes, Acceptances and Sources tables), as the labels consumer writes them.

- `count_glyph_votes`: ONE conditional update counts a batch's new votes for one glyph: it adds them to the
  glyph's tallies and to its map of counted vote ids, conditioned on the glyph being open and unchanged since it
  was read (its `votes` count is the version), so a redelivered vote, already in the map, is never counted again;
- `keep_votes`: the Votes table's record of each vote (counted or late), in BatchWriteItem calls: plain puts of
  the same content, so writing a record twice changes nothing, and exactly once rests on the glyph's map alone;
- `accept`: ONE transaction, conditional on the glyph still being open, labels it, writes the audit record and
  adds each voter's agreement or disagreement to its track record;
- `count_gold_reading`: ONE transaction puts a gold reading (a vote on a known glyph shown unscored) once, adds
  it to the glyph's reading counts and to its source's track record (gold.py decides what it means);
- `mark_ambiguous`, `set_reading_state`: single conditional writes;
- `read_glyphs`, `track_records`: one BatchGetItem for a batch's glyphs, one for its sources.
Each failed condition comes back as an outcome, never as an exception.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from pynamodb.exceptions import DoesNotExist
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
_FIRST_ITEM: Final = 0  # count_gold_reading's first item: the vote; accept's first item: the glyph


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
    votes: int = 0  # how many votes are counted: the version `count_glyph_votes` is conditioned on
    counted: tuple[CountedVote, ...] = ()

    @property
    def is_open(self) -> bool:
        """Whether votes still count for the glyph."""
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class CountedVote:
    vote_id: str
    source: str
    label: int | None
    weight: float


@dataclass(frozen=True)
class KeptVote:
    """A vote as the Votes table keeps it: the weight it was counted with, and whether it was counted at all."""

    vote: VoteRecord
    weight: float
    counted: bool


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
        """Up to `limit` ids of glyphs in `state`, least shown first (the `by-state-label` index, ids only)."""
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
        return _glyph(item)

    def read_glyphs(self, glyph_ids: Collection[str]) -> dict[str, Glyph]:
        """The glyphs among `glyph_ids` that have an item, by id: one consistent BatchGetItem a hundred ids."""
        items = GlyphItem.batch_get(sorted(set(glyph_ids)), consistent_read=True)
        return {item.glyph_id: _glyph(item) for item in items}

    def track_records(self, sources: Collection[str]) -> dict[str, tuple[float, float]]:
        """Each source's (agreements, disagreements) with accepted labels, (0, 0) for a new source: one
        BatchGetItem a hundred sources."""
        found = {
            record.source: (float(record.agreements), float(record.disagreements))
            for record in SourceItem.batch_get(sorted(set(sources)))
        }
        return {source: found.get(source, (0.0, 0.0)) for source in sources}

    # --- writes -----------------------------------------------------------------------------------------------
    def count_glyph_votes(self, glyph: Glyph, votes: Sequence[CountedVote], ambiguous: bool = False) -> bool:
        """Count `votes` (none of them in `glyph.counted`) for the glyph as it was read: its tallies, its map of
        counted votes and its vote count become the read ones plus these, and its state becomes ambiguous if
        `ambiguous`, in ONE conditional update. False, and nothing written, if the glyph is closed or changed
        since it was read (another delivery counted votes meanwhile): read it again, and count what is missing.
        """
        tallies = dict(glyph.tallies)
        unreadable = glyph.unreadable
        for vote in votes:
            if vote.label is None:
                unreadable += vote.weight
            else:
                tallies[vote.label] = tallies.get(vote.label, 0.0) + vote.weight
        actions: list[Action] = [
            GlyphItem.tallies.set({str(label): weight for label, weight in tallies.items()}),
            GlyphItem.unreadable.set(unreadable),
            GlyphItem.counted.set({vote.vote_id: _counted_entry(vote) for vote in (*glyph.counted, *votes)}),
            GlyphItem.votes.set(glyph.votes + len(votes)),
        ]
        if ambiguous and glyph.state == UNLABELLED:
            actions.append(GlyphItem.state.set(AMBIGUOUS))
        unchanged = GlyphItem.votes == glyph.votes
        if glyph.votes == 0:
            unchanged = unchanged | GlyphItem.votes.does_not_exist()
        try:
            with conditional_write():
                GlyphItem(glyph.glyph_id).update(
                    actions=actions,
                    condition=GlyphItem.glyph_id.exists() & GlyphItem.state.is_in(*OPEN_STATES) & unchanged,
                )
        except ConditionFailed:
            return False
        return True

    def keep_votes(self, votes: Iterable[KeptVote]) -> None:
        """The Votes table's record of each vote, in BatchWriteItem calls of up to 25 (unprocessed items are
        retried). A record written again holds the same content, so a redelivery changes nothing."""
        with VoteItem.batch_write() as writes:
            for kept in votes:
                writes.save(vote_item(kept.vote, kept.weight, counted=kept.counted))

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
                        # The state index holds only items with a `shown`.
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


def _counted_entry(vote: CountedVote) -> dict[str, Any]:
    entry: dict[str, Any] = {"s": vote.source, "w": vote.weight}
    if vote.label is not None:
        entry["l"] = vote.label
    return entry


def _counted_vote(vote_id: str, entry: Mapping[str, Any]) -> CountedVote:
    label = entry.get("l")
    return CountedVote(vote_id, str(entry["s"]), None if label is None else int(label), float(entry["w"]))


def _glyph(item: GlyphItem) -> Glyph:
    counted = item.counted.attribute_values if item.counted is not None else {}
    return Glyph(
        glyph_id=item.glyph_id,
        state=item.state,
        label=None if item.label is None else int(item.label),
        tallies={int(label): float(weight) for label, weight in item.tallies.attribute_values.items()},
        unreadable=float(item.unreadable),
        readings=int(item.readings or 0),
        read_right=int(item.read_right or 0),
        votes=int(item.votes or 0),
        counted=tuple(_counted_vote(vote_id, entry) for vote_id, entry in counted.items()),
    )
