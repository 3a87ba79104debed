"""The cap on how often one glyph is drawn, whatever the model prefers (selection.WeightedCandidates)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

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


def test_no_candidates_draw_no_glyphs() -> None:
    """Nothing left to label (issue 14): the draw used to divide 0 by 0 and fail every challenge."""
    empty = WeightedCandidates.of([], np.array([]), [], cap=5)

    assert empty.draw(np.random.default_rng(0), 3) == []
    assert empty.draw(np.random.default_rng(0), 0) == []


def test_fewer_candidates_than_asked_are_all_drawn_once() -> None:
    pool = candidates([1.0, 2.0])

    picks = pool.draw(np.random.default_rng(0), 3)

    assert sorted(pick.ref.offset for pick in picks) == [0, 1]
    assert pool.shown.tolist() == [1, 1]


def test_draws_follow_the_weights_as_drawing_one_at_a_time_would() -> None:
    # Given weights 6, 3 and 1: drawing two one at a time without replacement leaves glyph 2 out with probability
    # (6/10)(3/4) + (3/10)(6/7) = 0.707, glyph 1 with 0.217 and glyph 0 with 0.076
    pool = WeightedCandidates.of(
        [GlyphRef("train", 0, offset) for offset in range(3)], np.array([6.0, 3.0, 1.0]), [None] * 3, cap=None
    )
    rng = np.random.default_rng(11)

    # When 20,000 challenges draw two of them
    left_out = Counter[int]()
    for _ in range(20_000):
        drawn = {pick.ref.offset for pick in pool.draw(rng, 2)}
        left_out.update({0, 1, 2} - drawn)

    # Then each is left out as often as sequential weighted sampling leaves it out (within 1.5 points)
    expected = {0: 0.3 * (1 / 7) + 0.1 * (3 / 9), 1: 0.6 * (1 / 4) + 0.1 * (6 / 9), 2: 0.6 * (3 / 4) + 0.3 * (6 / 7)}
    assert sum(expected.values()) == pytest.approx(1.0)
    for offset, share in expected.items():
        assert left_out[offset] / 20_000 == pytest.approx(share, abs=0.015)


def test_a_glyph_with_no_weight_is_drawn_only_when_too_few_others_are_left() -> None:
    pool = candidates([0.0, 1.0, 1.0, 1.0])
    rng = np.random.default_rng(5)

    assert all(0 not in {pick.ref.offset for pick in pool.draw(rng, 3)} for _ in range(6))
    pool.shown[1:] = MAX_SHOWS_PER_WINDOW
    assert {pick.ref.offset for pick in pool.draw(rng, 4)} == {0, 1, 2, 3}


def test_an_uncapped_uniform_pool_is_never_used_up_and_keeps_the_labels() -> None:
    refs = [GlyphRef("train", 2, offset) for offset in range(50)]
    pool = WeightedCandidates.of(refs, np.ones(50), [offset % 47 for offset in range(50)], cap=None)
    rng = np.random.default_rng(2)

    picks = [pick for _ in range(200) for pick in pool.draw(rng, 6)]

    assert not pool.used_up(6)
    assert all(pick.label == pick.ref.offset % 47 for pick in picks)
    assert len(set(picks)) == 50


def test_candidates_drawn_in_rounds_recur_only_after_every_other_one_has_been_shown() -> None:
    """Issue 19, item 2: unlabelled glyphs recurred within a few challenges, which told a remembering client the
    positions that do not count."""
    refs = [GlyphRef("train", 0, index) for index in range(10)]
    weights = np.array([10.0] + [1.0] * 9)  # one candidate far more likely than the rest
    candidates = WeightedCandidates.of(refs, weights, [None] * 10, cap=5, rounds=True)
    rng = np.random.default_rng(0)

    first_round = [pick.ref.key for _ in range(5) for pick in candidates.draw(rng, 2)]
    assert len(set(first_round)) == 10  # each shown once before any is shown twice, the heavy one included
    second_round = [pick.ref.key for _ in range(5) for pick in candidates.draw(rng, 2)]
    assert len(set(second_round)) == 10
    assert set(candidates.shown) == {2}


def test_a_draw_avoids_the_glyphs_a_client_has_seen_while_others_are_left() -> None:
    """Issue 19, item 2: what a remembering client has seen is not shown to it again while the set allows."""
    refs = [GlyphRef("train", 0, index) for index in range(6)]
    candidates = WeightedCandidates.of(refs, np.ones(6), [None] * 6, cap=5)
    rng = np.random.default_rng(1)
    seen: set[str] = set()
    for _ in range(3):  # three draws of two use up the six
        picks = {pick.ref.key for pick in candidates.draw(rng, 2, avoid=seen)}
        assert not picks & seen
        seen |= picks
    assert len(seen) == 6
    # Once the client has seen them all, it is shown some again rather than nothing
    assert len(candidates.draw(rng, 2, avoid=seen)) == 2
