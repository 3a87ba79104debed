"""The labels consumer's logic (count once, settle, accept, late votes) over an in-memory glyph store.

tests/integration/test_labels_consumer.py runs the same rules against the moto server's transactions.
"""

from __future__ import annotations

import inspect

import pytest

from drcaptcha import labelling
from drcaptcha.errors import NotFound
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD
from drcaptcha.serving import ActiveEnsembleCache, replace_active_ensemble
from drcaptcha.store.challenges import ChallengeStore
from drcaptcha.store.glyphs import GlyphVoteStore
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


@pytest.fixture
def records() -> MemoryGlyphVoteStore:
    # No ensemble was ever activated: the model casts no vote, and nothing is read from S3.
    replace_active_ensemble(ActiveEnsembleCache(records=MemoryEnsembleStore()), purpose=labelling.MODEL_VOTES)
    store = MemoryGlyphVoteStore()
    store.add_glyph(GLYPH)
    return store


def test_agreeing_votes_label_the_glyph_and_credit_their_voters(records: MemoryGlyphVoteStore) -> None:
    outcomes = [labelling.record_vote(vote(number, 8), records=records).outcome for number in (1, 2, 3)]

    assert outcomes[-1] is labelling.VoteOutcome.ACCEPTED
    assert (records.glyphs[GLYPH].state, records.glyphs[GLYPH].label) == (CROWD, 8)
    assert records.acceptances[GLYPH].label == 8
    assert records.sources == {f"client-{number}": (1.0, 0.0) for number in (1, 2, 3)}


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
    assert [vote.vote_id for vote in records.counted_votes(GLYPH)] == [f"challenge-{n}:{n}" for n in (1, 2, 3)]


def test_voters_who_keep_disagreeing_leave_the_glyph_ambiguous(records: MemoryGlyphVoteStore) -> None:
    for number, label in enumerate((1, 2, 3, 1, 2, 3), start=1):
        result = labelling.record_vote(vote(number, label), records=records)

    assert result.outcome is labelling.VoteOutcome.AMBIGUOUS
    assert records.glyphs[GLYPH].state == AMBIGUOUS


def test_a_vote_for_an_unknown_glyph_is_refused(records: MemoryGlyphVoteStore) -> None:
    with pytest.raises(NotFound):
        labelling.record_vote(vote(1, 8, glyph_id="train:00009:0009"), records=records)


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
