"""The labels consumer's logic (count once, settle, accept, late votes) over an in-memory glyph store.

tests/integration/test_labels_consumer.py runs the same rules against the moto server's transactions.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import pytest

from drcaptcha import labelling
from drcaptcha.errors import NotFound
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD
from drcaptcha.serving import ActiveEnsembleCache, replace_active_ensemble
from drcaptcha.store.challenges import ChallengeStore
from drcaptcha.store.glyphs import Acceptance, CountedVote, Glyph, GlyphVoteStore
from drcaptcha.store.rate_limits import RateLimitStore
from drcaptcha.store.sites import SiteStore
from tests.unit.memory_stores import (
    MemoryChallengeStore,
    MemoryEnsembleStore,
    MemoryGlyphVoteStore,
    MemoryRateLimitStore,
    MemorySiteStore,
)

GLYPH = "train:00003:0042"


def vote(number: int, label: int | None, glyph_id: str = GLYPH) -> VoteRecord:
    return VoteRecord(
        vote_id=f"challenge-{number}:{number % 6}",
        glyph_id=glyph_id,
        answer="?" if label is None else str(label),
        label=label,
        source=f"client-{number}",
        ts=1_700_000_000 + number,
    )


@pytest.fixture(autouse=True)
def no_ensemble() -> None:
    # No ensemble was ever activated: the model casts no vote, and nothing is read from S3.
    replace_active_ensemble(ActiveEnsembleCache(records=MemoryEnsembleStore()), purpose=labelling.MODEL_VOTES)


@pytest.fixture
def records() -> MemoryGlyphVoteStore:
    store = MemoryGlyphVoteStore()
    store.add_glyph(GLYPH)
    return store


def test_agreeing_votes_label_the_glyph_and_credit_their_voters(records: MemoryGlyphVoteStore) -> None:
    outcomes = [labelling.record_vote(vote(number, 8), records=records).outcome for number in (1, 2, 3)]

    assert outcomes[-1] is labelling.VoteOutcome.ACCEPTED
    assert (records.glyphs[GLYPH].state, records.glyphs[GLYPH].label) == (CROWD, 8)
    assert records.acceptances[GLYPH].label == 8
    assert records.sources == {f"client-{number}": (1.0, 0.0) for number in (1, 2, 3)}


def test_an_acceptance_without_its_audit_record_is_finished_by_a_late_vote_once(
    records: MemoryGlyphVoteStore,
) -> None:
    # Given an acceptance claimed by the fourth vote (8, 9, 8, 8), whose batch died after crediting client-1 only
    labelling.record_vote(vote(1, 8), records=records)
    labelling.record_vote(vote(2, 9), records=records)
    for number in (3, 4):
        labelling.record_vote(vote(number, 8), records=records)
    assert (records.glyphs[GLYPH].state, records.glyphs[GLYPH].label) == (CROWD, 8)
    del records.acceptances[GLYPH]
    records.sources = {"client-1": records.sources["client-1"]}
    records.source_pending = {"client-1": records.source_pending["client-1"]}

    # When a late vote comes, and then another
    late = labelling.record_vote(vote(5, 9), records=records)
    labelling.record_vote(vote(6, 9), records=records)

    # Then the first finished the acceptance from the glyph's counted votes: each voter credited once (client-2
    # with a disagreement), the audit record written with the claim's time; the second changed nothing
    assert late.outcome is labelling.VoteOutcome.LATE
    assert records.sources == {
        "client-1": (1.0, 0.0),
        "client-2": (0.0, 1.0),
        "client-3": (1.0, 0.0),
        "client-4": (1.0, 0.0),
    }
    assert records.acceptances[GLYPH].accepted_at == records.glyphs[GLYPH].accepted_at
    assert (records.acceptances[GLYPH].label, records.acceptances[GLYPH].leader_weight) == (8, 3.0)


def test_a_redelivered_vote_counts_once(records: MemoryGlyphVoteStore) -> None:
    labelling.record_vote(vote(1, 8), records=records)

    again = labelling.record_vote(vote(1, 8), records=records)

    assert again.outcome is labelling.VoteOutcome.DUPLICATE
    assert records.glyphs[GLYPH].tallies == {8: 1.0}


def test_a_vote_after_the_label_is_kept_for_the_record_only(records: MemoryGlyphVoteStore) -> None:
    for number in (1, 2, 3):
        labelling.record_vote(vote(number, 8), records=records)

    late = labelling.record_vote(vote(4, 9), records=records)

    assert (late.outcome, late.label) == (labelling.VoteOutcome.LATE, 8)
    assert records.glyphs[GLYPH].tallies == {8: 3.0}
    assert [vote.vote_id for vote in records.glyph(GLYPH).counted] == [f"challenge-{n}:{n}" for n in (1, 2, 3)]


def test_voters_who_keep_disagreeing_leave_the_glyph_ambiguous(records: MemoryGlyphVoteStore) -> None:
    for number, label in enumerate((1, 2, 3, 1, 2, 3), start=1):
        result = labelling.record_vote(vote(number, label), records=records)

    assert result.outcome is labelling.VoteOutcome.AMBIGUOUS
    assert records.glyphs[GLYPH].state == AMBIGUOUS


def test_a_vote_for_an_unknown_glyph_is_refused(records: MemoryGlyphVoteStore) -> None:
    with pytest.raises(NotFound):
        labelling.record_vote(vote(1, 8, glyph_id="train:00009:0009"), records=records)


@dataclass
class CountingStore(MemoryGlyphVoteStore):
    """Counts the per-glyph writes; `stale_reads` hands out the glyphs as they were before a given moment, as a
    batch's read does when another delivery counts votes between its read and its write."""

    count_writes: int = 0
    stale: dict[str, Glyph] = field(default_factory=dict)

    def read_glyphs(self, glyph_ids: Collection[str]) -> dict[str, Glyph]:
        return {**super().read_glyphs(glyph_ids), **{k: v for k, v in self.stale.items() if k in glyph_ids}}

    def count_glyph_votes(
        self,
        glyph: Glyph,
        votes: Sequence[CountedVote],
        ambiguous: bool = False,
        acceptance: Acceptance | None = None,
    ) -> bool:
        self.count_writes += 1
        return super().count_glyph_votes(glyph, votes, ambiguous, acceptance)


def test_a_batchs_votes_for_one_glyph_count_in_one_write_in_stream_order() -> None:
    # Given an unlabelled glyph, and a batch with four agreeing votes and a dissent after them, the second vote
    # delivered twice
    records = CountingStore()
    records.add_glyph(GLYPH)
    batch = [vote(1, 8), vote(2, 8), vote(2, 8), vote(3, 8), vote(4, 9)]

    # When the batch is recorded
    results = labelling.record_votes(batch, records=records)

    # Then one write counted the three votes the rule needed, as if they had come one by one: the third
    # accepts the label, and the dissent after it is late (kept, counted nowhere), as is the repeated vote
    outcomes = [result.outcome for result in results if isinstance(result, labelling.VoteResult)]
    assert outcomes == ["pending", "pending", "duplicate", "accepted", "late"]
    assert records.count_writes == 1
    assert (records.glyphs[GLYPH].tallies, records.glyphs[GLYPH].state) == ({8: 3.0}, CROWD)
    assert records.votes[GLYPH]["challenge-4:4"][1] is False
    assert len(records.votes[GLYPH]) == 4


def test_votes_counted_by_another_delivery_after_the_batchs_read_are_not_counted_again() -> None:
    # Given a glyph read by this batch before another delivery counted vote 1 on it
    records = CountingStore()
    records.add_glyph(GLYPH)
    read = records.glyph(GLYPH)
    assert read is not None
    records.stale[GLYPH] = read
    labelling.record_votes([vote(1, 8)], records=records)
    records.count_writes = 0

    # When this batch, with votes 1 and 2, is counted against its stale read
    results = labelling.record_votes([vote(1, 8), vote(2, 8)], records=records)

    # Then its first write is refused (the glyph changed), and the retry counts vote 2 alone
    assert [result.outcome for result in results if isinstance(result, labelling.VoteResult)] == [
        "duplicate",
        "pending",
    ]
    assert records.count_writes == 2
    assert records.glyphs[GLYPH].tallies == {8: 2.0}
    assert records.glyphs[GLYPH].votes == 2


def test_a_batchs_votes_are_weighed_by_the_track_records_the_batch_found() -> None:
    # Given a new source whose batch holds a wrong gold reading before its vote on an unlabelled glyph
    records = CountingStore()
    records.add_glyph(GLYPH)
    wrong_gold = vote(1, 7, glyph_id="train:00001:0007").model_copy(update={"gold": 30, "source": "client-2"})

    # When the batch is recorded
    labelling.record_votes([wrong_gold, vote(2, 8)], records=records)

    # Then the reading is a disagreement on its record, but the vote in the same batch still weighs a new
    # source's 1 (the batch's reads come first; the disagreement counts from the next batch on)
    assert records.sources["client-2"] == (0.0, 1.0)
    assert records.glyphs[GLYPH].tallies == {8: 1.0}


def test_one_glyphs_failure_fails_only_its_own_votes() -> None:
    # Given a batch with votes for a known glyph and for one that has no item
    records = CountingStore()
    records.add_glyph(GLYPH)
    batch = [vote(1, 8, glyph_id="train:00009:0009"), vote(2, 8), vote(3, 8, glyph_id="train:00009:0009")]

    # When it is recorded
    first, second, third = labelling.record_votes(batch, records=records)

    # Then the unknown glyph's two votes fail, and the other is counted
    assert isinstance(first, NotFound) and isinstance(third, NotFound)
    assert isinstance(second, labelling.VoteResult) and second.outcome is labelling.VoteOutcome.PENDING
    assert records.glyphs[GLYPH].tallies == {8: 1.0}


@pytest.mark.parametrize(
    ("real", "memory"),
    [
        (ChallengeStore, MemoryChallengeStore),
        (SiteStore, MemorySiteStore),
        (GlyphVoteStore, MemoryGlyphVoteStore),
        (RateLimitStore, MemoryRateLimitStore),
    ],
)
def test_each_memory_store_has_the_real_stores_methods_and_parameters(real: type, memory: type) -> None:
    def methods(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    real_methods = methods(real)
    memory_methods = methods(memory)
    assert {name: memory_methods.get(name) for name in real_methods} == real_methods
