"""The cap on how often one glyph is drawn, whatever the model prefers (selection.WeightedCandidates)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from drcaptcha.glyphs import GlyphRef
from drcaptcha.selection import MAX_SHOWS_PER_WINDOW, WeightedCandidates


def candidates(weights: list[float]) -> WeightedCandidates:
    refs = [GlyphRef("train", 0, offset) for offset in range(len(weights))]
    return WeightedCandidates.of(refs, np.array(weights), [None] * len(weights))


def test_a_strongly_preferred_glyph_is_capped_and_the_others_fill_in() -> None:
    # Given one glyph the model is very unsure of (weight 1000) among 29 it reads easily (weight 0.01)
    pool = candidates([1000.0] + [0.01] * 29)
    rng = np.random.default_rng(7)

    # When 100 challenges each draw 3 of them
    shown = Counter(pick.ref.offset for _ in range(100) for pick in pool.draw(rng, 3))

    # Then the favourite is shown exactly up to the cap, never more, and every draw still got 3 distinct glyphs
    assert shown[0] == MAX_SHOWS_PER_WINDOW
    assert max(shown.values()) <= MAX_SHOWS_PER_WINDOW
    assert sum(shown.values()) == 300


def test_preference_shows_before_the_cap_is_reached() -> None:
    pool = candidates([1000.0] + [0.01] * 29)

    first = pool.draw(np.random.default_rng(1), 1)

    assert first[0].ref.offset == 0


def test_when_every_candidate_is_capped_the_draw_falls_back_to_uniform() -> None:
    pool = candidates([1.0, 1.0, 1.0])
    pool.shown[:] = MAX_SHOWS_PER_WINDOW

    picks = pool.draw(np.random.default_rng(3), 3)

    assert sorted(pick.ref.offset for pick in picks) == [0, 1, 2]


def test_unlabelled_candidates_use_their_own_smaller_cap_and_say_when_a_draw_would_exceed_it() -> None:
    # Given three unlabelled candidates capped at 5 shows each
    refs = [GlyphRef("train", 0, offset) for offset in range(3)]
    pool = WeightedCandidates.of(refs, np.array([1.0, 1.0, 1.0]), [None] * 3, cap=5)
    rng = np.random.default_rng(0)

    # When two are drawn 4 times, a draw of 2 still fits under the cap
    for _ in range(4):
        pool.draw(rng, 2)
    assert not pool.used_up(2)

    # Then once only one candidate is left under the cap, a draw of 2 would exceed it, a draw of 1 would not
    pool.shown[:] = [5, 5, 3]
    assert pool.used_up(2) and not pool.used_up(1)
    # And a pool with fewer candidates than a draw needs is used up only when all are capped; an empty one never
    small = WeightedCandidates.of(refs[:1], np.array([1.0]), [None], cap=5)
    assert not small.used_up(3)
    small.shown[:] = 5
    assert small.used_up(3)
    assert not WeightedCandidates.of([], np.array([]), []).used_up(3)
