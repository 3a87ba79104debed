"""Glyphs and their votes (the Glyphs, Votes, Acceptances and Sources tables), as the labels consumer writes them.

- `count_glyph_votes`: ONE conditional update counts a batch's new votes for one glyph: it adds them to the
  glyph's tallies and to its map of counted vote ids, conditioned on the glyph being open and unchanged since it
  was read (its `votes` count is the version), so a redelivered vote, already in the map, is never counted again.
  When the votes accept a label, the same update labels the glyph: that is the acceptance's claim;
- `keep_votes`: the Votes table's record of each vote (counted or late), in BatchWriteItem calls: plain puts of
  the same content, so writing a record twice changes nothing, and exactly once rests on the glyph's map alone;
- `credit_acceptance`: ONE conditional update adds a voter's agreements or disagreements with an accepted label
  to its track record and `acc:<glyph id>` to its `gold_pending`, conditioned on that id being absent;
  `keep_acceptance`: the acceptance's audit record, written once every voter is credited (labelling.py);
- `count_gold_readings`: ONE conditional update adds a batch's new gold readings (votes on a known glyph shown
  unscored) to the glyph's reading counts and its state, and their ids to its `gold_pending`;
  `credit_gold_readings`: ONE conditional update adds a source's readings of the batch to its track record and
  their ids to its `gold_pending` (gold.py decides what they mean, and when an id may go);
- `mark_ambiguous`: a single conditional write;
- `read_glyphs`, `track_records`, `gold_pending_of`, `kept_vote_ids`, `accepted_glyphs`: one BatchGetItem each,
  for a batch's glyphs, its sources' track records, its sources' pending credits, which votes have their record,
  and which acceptances have theirs.
Each failed condition comes back as an outcome, never as an exception. No write here is a transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from drcaptcha.config import get_settings
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, GOLD_STATES, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import AcceptanceItem, SourceItem, VoteItem, audited
from drcaptcha.store.base import ConditionFailed, conditional_write, count_scan

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition

CROWD_LABEL_SOURCE: Final = "crowd"
# The states in which votes still count; a glyph leaves them only by being labelled.
OPEN_STATES: Final = (UNLABELLED, AMBIGUOUS)
# How an acceptance's credit is named in a source's `gold_pending` map, next to its gold readings' vote ids.
ACCEPTANCE_CREDIT_PREFIX: Final = "acc:"


def acceptance_credit_id(glyph_id: str) -> str:
    """The id under which a source's credit for the acceptance of `glyph_id` waits in its `gold_pending`."""
    return f"{ACCEPTANCE_CREDIT_PREFIX}{glyph_id}"


def is_acceptance_credit(pending_id: str) -> bool:
    return pending_id.startswith(ACCEPTANCE_CREDIT_PREFIX)


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
    gold_pending: Mapping[str, float] = field(default_factory=dict)  # readings counted here, not seen on record
    accepted_at: float | None = None  # when its crowd label was accepted (what its audit record says)

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
class GoldReading:
    """A gold reading as the glyph and the source count it: right or not under the lookalike groups."""

    vote_id: str
    glyph_id: str
    source: str
    right: bool
    ts: float


@dataclass(frozen=True)
class KeptVote:
    """A vote as the Votes table keeps it: the weight it was counted with, and whether it was counted at all."""

    vote: VoteRecord
    weight: float
    counted: bool


@dataclass(frozen=True)
class Acceptance:
    """A crowd label, with the rule's figures: what the claim (`count_glyph_votes`) and the audit record
    (`keep_acceptance`) write."""

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

    def gold_pending_of(self, sources: Collection[str], consistent: bool = False) -> dict[str, dict[str, str] | None]:
        """Each source's gold readings credited but not yet seen on record (vote id to glyph id), None where the
        source has no such map (or no item): one BatchGetItem a hundred sources, eventually consistent (a stale
        read makes `credit_gold_readings`' condition fail, never a double credit)."""
        found = {
            item.source: None
            if item.gold_pending is None
            else {k: str(v) for k, v in item.gold_pending.attribute_values.items()}
            for item in SourceItem.batch_get(
                sorted(set(sources)), consistent_read=consistent, attributes_to_get=["source", "gold_pending"]
            )
        }
        return {source: found.get(source) for source in sources}

    def kept_vote_ids(self, keys: Iterable[tuple[str, str]]) -> set[str]:
        """The ids among `keys` (glyph id, vote id) whose Votes record exists: one consistent BatchGetItem a
        hundred keys."""
        unique = sorted(set(keys))
        if not unique:
            return set()
        return {
            item.vote_id
            for item in VoteItem.batch_get(unique, consistent_read=True, attributes_to_get=["glyph_id", "vote_id"])
        }

    def accepted_glyphs(self, glyph_ids: Collection[str], consistent: bool = False) -> set[str]:
        """The ids among `glyph_ids` whose acceptance has its audit record: one BatchGetItem a hundred ids. An
        eventually consistent read may miss a record just written, never find one that is not there."""
        unique = sorted(set(glyph_ids))
        if not unique:
            return set()
        return {
            item.glyph_id
            for item in AcceptanceItem.batch_get(unique, consistent_read=consistent, attributes_to_get=["glyph_id"])
        }

    # --- writes -----------------------------------------------------------------------------------------------
    def count_glyph_votes(
        self,
        glyph: Glyph,
        votes: Sequence[CountedVote],
        ambiguous: bool = False,
        acceptance: Acceptance | None = None,
    ) -> bool:
        """Count `votes` (none of them in `glyph.counted`) for the glyph as it was read: its tallies, its map of
        counted votes and its vote count become the read ones plus these, and its state becomes ambiguous if
        `ambiguous`, or crowd-labelled with `acceptance` (the acceptance's claim; `votes` may then be empty), in
        ONE conditional update. False, and nothing written, if the glyph is closed or changed since it was read
        (another delivery counted votes, or claimed it, meanwhile): read it again, and count what is missing.
        """
        actions: list[Action] = []
        if votes:
            tallies = dict(glyph.tallies)
            unreadable = glyph.unreadable
            for vote in votes:
                if vote.label is None:
                    unreadable += vote.weight
                else:
                    tallies[vote.label] = tallies.get(vote.label, 0.0) + vote.weight
            actions += [
                GlyphItem.tallies.set({str(label): weight for label, weight in tallies.items()}),
                GlyphItem.unreadable.set(unreadable),
                GlyphItem.counted.set({vote.vote_id: _counted_entry(vote) for vote in (*glyph.counted, *votes)}),
                GlyphItem.votes.set(glyph.votes + len(votes)),
            ]
        if acceptance is not None:
            actions += [
                GlyphItem.state.set(CROWD),
                GlyphItem.label.set(acceptance.label),
                GlyphItem.label_source.set(CROWD_LABEL_SOURCE),
                GlyphItem.accepted_at.set(acceptance.accepted_at),
            ]
        elif ambiguous and glyph.state == UNLABELLED:
            actions.append(GlyphItem.state.set(AMBIGUOUS))
        if not actions:
            raise ValueError(f"nothing to write to glyph {glyph.glyph_id}")
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

    def count_gold_readings(
        self,
        glyph_id: str,
        glyph: Glyph | None,
        known: int,
        new: Sequence[GoldReading],
        settled: Collection[str],
        state: str,
    ) -> bool:
        """Count `new` readings (none of them in the glyph's `gold_pending`) for the known glyph as it was read
        (None: it has no item yet, and this makes it): its reading counts and its `gold_pending` become the read
        ones plus these (less `settled`, the ids whose records exist), and its state `state`, in ONE conditional
        update. False, and nothing written, if the glyph holds votes, or changed since it was read."""
        readings = (glyph.readings if glyph else 0) + len(new)
        right = (glyph.read_right if glyph else 0) + sum(reading.right for reading in new)
        kept = {vote_id: ts for vote_id, ts in (glyph.gold_pending if glyph else {}).items() if vote_id not in settled}
        actions: list[Action] = [
            GlyphItem.readings.set(readings),
            GlyphItem.read_right.set(right),
            GlyphItem.state.set(state),
            GlyphItem.label.set(GlyphItem.label | known),
            # The state index holds only items with a `shown`.
            GlyphItem.shown.set(GlyphItem.shown | 0),
            GlyphItem.gold_pending.set({**kept, **{reading.vote_id: reading.ts for reading in new}}),
        ]
        if glyph is None:
            condition: Condition = GlyphItem.glyph_id.does_not_exist()
        else:
            condition = GlyphItem.state.is_in(*GOLD_STATES) & (GlyphItem.readings == glyph.readings)
        try:
            with conditional_write():
                GlyphItem(glyph_id).update(actions=actions, condition=condition)
        except ConditionFailed:
            return False
        return True

    def credit_gold_readings(
        self, source: str, pending: Mapping[str, str] | None, new: Sequence[GoldReading], settled: Collection[str]
    ) -> bool:
        """Add `new` readings (none of them in the source's `gold_pending` as read) to the source's track record
        and their ids to its `gold_pending`, and drop `settled` ids from it, in ONE conditional update: False,
        and nothing written, if one of them was credited meanwhile, or the map is not as read (read again)."""
        agreed = sum(reading.right for reading in new)
        return _credit(
            source,
            pending,
            {reading.vote_id: reading.glyph_id for reading in new},
            (agreed, len(new) - agreed),
            max(reading.ts for reading in new),
            settled,
        )

    def credit_acceptance(
        self, source: str, pending: Mapping[str, str] | None, acceptance: Acceptance, agreed: int, disagreed: int
    ) -> bool:
        """Add a voter's agreements and disagreements with an accepted label to its track record, and
        `acc:<glyph id>` to its `gold_pending` (`pending`: the map as read, or believed to be; None: the source
        has none), in ONE conditional update: False, and nothing written, if that id is there already (credited
        at an earlier delivery) or the map is not as believed (read it, and try again)."""
        credit = {acceptance_credit_id(acceptance.glyph_id): acceptance.glyph_id}
        return _credit(source, pending, credit, (agreed, disagreed), acceptance.accepted_at, settled=())

    def keep_acceptance(self, acceptance: Acceptance, votes: Iterable[CountedVote]) -> None:
        """The acceptance's audit record, with the votes counted for it: a plain put, so writing it again (the
        same content, from the glyph item) changes nothing. Its existence proves every voter credited."""
        AcceptanceItem(
            acceptance.glyph_id,
            label=acceptance.label,
            accepted_at=acceptance.accepted_at,
            leader_weight=acceptance.leader_weight,
            runner_up_weight=acceptance.runner_up_weight,
            votes=[audited(vote.vote_id, vote.source, vote.label, vote.weight) for vote in votes],
        ).save()

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


def _credit(
    source: str,
    pending: Mapping[str, str] | None,
    credits: Mapping[str, str],
    counts: tuple[int, int],
    at: float,
    settled: Collection[str],
) -> bool:
    """Add `counts` (agreements, disagreements) to a source's track record and `credits` (pending id to the glyph
    id of its proof) to its `gold_pending`, dropping the `settled` ids that `pending` holds, in ONE update
    conditioned on the map being as `pending` says (absent, or present) and on none of the new ids being in it."""
    agreed, disagreed = counts
    actions: list[Action] = [
        SourceItem.agreements.add(agreed),
        SourceItem.disagreements.add(disagreed),
        SourceItem.updated_at.set(at),
    ]
    if pending is None:
        actions.append(SourceItem.gold_pending.set(dict(credits)))
        condition: Condition = SourceItem.gold_pending.does_not_exist()
    else:
        actions += [_source_pending(pending_id).set(glyph_id) for pending_id, glyph_id in credits.items()]
        actions += [_source_pending(pending_id).remove() for pending_id in settled if pending_id in pending]
        condition = SourceItem.gold_pending.exists()
        for pending_id in credits:
            condition &= _source_pending(pending_id).does_not_exist()
    try:
        with conditional_write():
            SourceItem(source).update(actions=actions, condition=condition)
    except ConditionFailed:
        return False
    return True


def _source_pending(vote_id: str) -> Path:
    """The path of one entry of a source's `gold_pending` map (a vote id may hold any character: pynamodb puts
    every name of a path in a placeholder)."""
    return Path([SourceItem.gold_pending.attr_name, vote_id])


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
        gold_pending={
            k: float(v) for k, v in (item.gold_pending.attribute_values if item.gold_pending else {}).items()
        },
        accepted_at=None if item.accepted_at is None else float(item.accepted_at),
    )
