"""The crowd simulation's agents: how simulated people read and type, how spammers and colluders poison, and
how bots cut a captcha into glyphs (drcaptcha_ops/simulation/)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from drcaptcha import charset
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.render import compose_captcha
from drcaptcha_ops.simulation.agents import CONFUSION, Agent, Crowd, Kind, Sight, collusion_label, misread
from drcaptcha_ops.simulation.bots import ink_mask, segment_glyphs
from drcaptcha_ops.simulation.report import (
    glyph_accuracy,
    pass_rates_by_quarter,
    projected_pass_rate,
    scoring_rules,
    tolerated_pass_rate,
)
from drcaptcha_ops.simulation.run import RunLog, scored_mistakes
from tests.fixtures.glyph_data import read_emnist


def sight(truth: list[int], scored: list[bool] | None = None, hard: bool = False, first_id: int = 0) -> Sight:
    return Sight(
        glyph_ids=[f"train:00000:{first_id + i:04d}" for i in range(len(truth))],
        truth=truth,
        scored=scored if scored is not None else [True, True, True, False, False, False],
        hard=[hard] * len(truth),
    )


def wrong_positions(typed: str, truth: list[int]) -> list[int]:
    return [i for i, (c, t) in enumerate(zip(typed, truth, strict=True)) if charset.class_of(c) != t]


def random_sights(rng: np.random.Generator, count: int, hard: bool = False) -> list[Sight]:
    return [sight([int(t) for t in rng.integers(0, NUM_CLASSES, 6)], hard=hard, first_id=i) for i in range(count)]


def test_the_confusion_matrix_is_a_distribution_that_favours_lookalikes() -> None:
    assert np.allclose(CONFUSION.sum(axis=1), 1.0)
    assert np.all(np.diag(CONFUSION) == 0)
    o, zero, five, s = (charset.class_of(c) for c in "O05S")
    assert o is not None and zero is not None and five is not None and s is not None
    # A misread O is far more often a 0 than, say, a 5.
    assert CONFUSION[o, zero] > 10 * CONFUSION[o, five]
    rng = np.random.default_rng(1)
    assert sum(misread(five, rng) == s for _ in range(400)) > 200


def test_a_human_errs_at_about_the_configured_rate_and_three_times_that_on_hard_glyphs() -> None:
    # Given a human with an 8% error rate, and 1,500 challenges of six glyphs each
    rng = np.random.default_rng(7)
    human = Agent(Kind.HUMAN, 0, error_rate=0.08)
    easy, hard = random_sights(rng, 1500), random_sights(rng, 1500, hard=True)

    # When they read them
    easy_errors = sum(len(wrong_positions(human.answer(s, rng), s.truth)) for s in easy) / (6 * len(easy))
    hard_errors = sum(len(wrong_positions(human.answer(s, rng), s.truth)) for s in hard) / (6 * len(hard))

    # Then the error rates are as configured (binomial noise: about ±0.3 points at this size)
    assert easy_errors == pytest.approx(0.08, abs=0.012)
    assert hard_errors == pytest.approx(0.24, abs=0.02)


def test_a_human_who_reads_right_may_type_either_case_of_a_merged_letter_and_still_name_the_class() -> None:
    rng = np.random.default_rng(3)
    human = Agent(Kind.HUMAN, 0, error_rate=0.0)
    o = charset.class_of("O")
    assert o is not None

    typed = {human.answer(sight([o] * 6), rng)[0] for _ in range(60)}

    assert typed == {"O", "o"}


def test_the_crowd_samples_error_rates_between_five_and_ten_percent_and_gives_stable_distinct_addresses() -> None:
    crowd = Crowd.create(humans=200, spammers=20, colluders=20, bots=5, rng=np.random.default_rng(0))

    rates = [agent.error_rate for agent in crowd.agents if agent.kind is Kind.HUMAN]
    assert 0.05 <= min(rates) < 0.055 and 0.095 < max(rates) <= 0.10
    addresses = [agent.address for agent in crowd.agents]
    assert len(set(addresses)) == len(addresses) == 245
    assert all(address.startswith("127.") for address in addresses)


def test_a_blind_spammer_poisons_one_or_two_positions_and_reads_the_rest_honestly() -> None:
    # Given a spammer who reads without error, and truths that never equal a spammer's constant
    rng = np.random.default_rng(11)
    spammer = Agent(Kind.SPAMMER, 0, error_rate=0.0, constant="X")
    no_x = [label for label in range(NUM_CLASSES) if charset.character_of(label) != "X"]
    sights = [sight([int(t) for t in rng.choice(no_x, 6)], first_id=i) for i in range(400)]

    # When they answer
    poisoned = [len(wrong_positions(spammer.answer(s, rng), s.truth)) for s in sights]

    # Then one or two positions are wrong, never more, and both counts occur
    assert set(poisoned) == {1, 2}
    # And the poison falls at random positions, so it often hits a scored one (3 of 6 here)
    hits = sum(bool(set(wrong_positions(spammer.answer(s, rng), s.truth)) & {0, 1, 2}) for s in sights)
    assert 0.4 < hits / len(sights) < 0.85


def test_informed_colluders_pass_the_scored_glyphs_and_agree_on_the_same_wrong_class_elsewhere() -> None:
    rng = np.random.default_rng(5)
    first, second = Agent(Kind.COLLUDER, 0, 0.07), Agent(Kind.COLLUDER, 1, 0.09)
    challenge = sight([1, 2, 3, 4, 5, 6])

    answers = [first.answer(challenge, rng), second.answer(challenge, rng)]

    for typed in answers:
        assert wrong_positions(typed, challenge.truth) == [3, 4, 5]
        assert [charset.class_of(c) for c in typed[3:]] == [
            collusion_label(g, t) for g, t in zip(challenge.glyph_ids[3:], challenge.truth[3:], strict=True)
        ]
    assert [charset.class_of(c) for c in answers[0]] == [charset.class_of(c) for c in answers[1]]


def test_the_collusion_label_is_always_wrong_and_varies_between_glyphs() -> None:
    labels = {collusion_label(f"train:00001:{i:04d}", 10) for i in range(200)}

    assert 10 not in labels
    assert len(labels) > 30


# --- bots ---


@pytest.fixture(scope="module")
def glyphs(emnist_dir: Path) -> np.ndarray:
    images, _ = read_emnist(600, emnist_dir)
    return images


def test_a_bot_segments_a_rendered_captcha_of_six_real_glyphs_into_six_glyphs_in_place(glyphs: np.ndarray) -> None:
    # Given 60 captchas rendered from real EMNIST glyphs, with the production warp
    rng = np.random.default_rng(2)
    found_in_place = 0
    for number in range(60):
        composed = compose_captcha(glyphs[number * 6 : number * 6 + 6], rng)

        # When a bot segments the image alone
        segments = segment_glyphs(composed.pixels)

        # Then it finds six 28x28 glyphs with ink, and the ink it kept is where the glyphs were drawn
        assert segments.shape[1:] == (28, 28)
        if len(segments) == 6 and all(segment.max() > 0 for segment in segments):
            columns = np.flatnonzero(ink_mask(composed.pixels).any(axis=0))
            found_in_place += columns.min() < composed.placements[0].x < composed.placements[-1].x < columns.max()
    assert found_in_place >= 48  # most of the time: touching glyphs are split at a guess


# --- the command ---


@pytest.mark.parametrize("argv", [["--humans", "-1"], ["--challenges", "0"], ["--bots", "many"]])
def test_the_simulate_command_refuses_bad_numbers_with_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from drcaptcha_ops.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", *argv])

    assert exit_info.value.code == 2
    assert "simulate" in capsys.readouterr().err


def test_scored_mistakes_count_only_scored_positions_under_the_merge_rule_and_a_short_answer_as_wrong() -> None:
    # Given a challenge whose positions 0, 2 and 5 are scored: "A", "o" (merged with "O") and "7"
    truth = [charset.class_of(c) for c in "AbocZ7"]
    scored = [True, False, True, False, False, True]
    sight = Sight([f"g{i}" for i in range(6)], [t for t in truth if t is not None], scored, [False] * 6)

    # Then an upper-case "O" is right, wrong unscored positions do not count, and missing characters do
    assert scored_mistakes("AXOXX7", sight) == 0
    assert scored_mistakes("BbocZ1", sight) == 2
    assert scored_mistakes("Ab", sight) == 2


def test_other_scoring_rules_are_judged_on_the_recorded_attempts_and_projected_binomially() -> None:
    # Given ten recorded attempts at three scored glyphs: six all right, three with one wrong, one with two wrong
    mistakes = Counter({0: 6, 1: 3, 2: 1})

    # Then the exact rule passes 60%, one tolerated 90%, and 25 of the 30 scored glyphs were right
    assert tolerated_pass_rate(mistakes, 0) == pytest.approx(0.6)
    assert tolerated_pass_rate(mistakes, 1) == pytest.approx(0.9)
    assert glyph_accuracy(mistakes, 30) == pytest.approx(25 / 30)
    assert tolerated_pass_rate(Counter(), 0) is None

    # And the projection is the binomial tail: all of 3 at 90% is 0.729; at most one of 4 wrong at 50% is 5/16
    assert projected_pass_rate(0.9, 3, 0) == pytest.approx(0.729)
    assert projected_pass_rate(0.5, 4, 1) == pytest.approx(5 / 16)
    assert projected_pass_rate(0.8, 3, 5) == pytest.approx(1.0)


def test_the_scoring_rules_report_covers_each_kind_that_made_attempts() -> None:
    # Given a log where humans made attempts and bots made none
    log = RunLog()
    log.scored_wrong["human"].update({0: 8, 1: 2})
    log.scored_glyphs["human"] = 30

    # When the scoring rules are reported
    rules = scoring_rules(log)

    # Then humans are in it with their measured figures, bots are not, and the projection has a row per rule
    assert set(rules["kinds"]) == {"human"}
    assert rules["kinds"]["human"]["pass_rate_exact"] == pytest.approx(0.8)
    assert rules["kinds"]["human"]["scored_glyph_accuracy"] == pytest.approx(28 / 30)
    exact_three = next(row for row in rules["projection"] if row["scored"] == 3 and row["tolerance"] == 0)
    assert exact_three["human"] == pytest.approx((28 / 30) ** 3)
    assert "bot" not in exact_three


def test_pass_rates_by_quarter_show_how_a_kind_fares_as_the_run_goes_on() -> None:
    # Given bots that pass the first half of their attempts and fail the second, among humans who always pass
    log = RunLog()
    for number in range(16):
        log.outcomes.append(("bot", number < 8) if number % 2 else ("human", True))

    # When the pass rates are reported by quarter of the run
    quarters = pass_rates_by_quarter(log)

    # Then the bots' fall from 100% to 0% halfway through, the humans' stay at 100%, and a kind with no attempts
    # has no rate
    assert quarters["bot"] == [1.0, 1.0, 0.0, 0.0]
    assert quarters["human"] == [1.0] * 4
    assert quarters["spammer"] == [None] * 4
