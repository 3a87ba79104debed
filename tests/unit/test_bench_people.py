"""bench/bench_people.py: the pass rule the service uses is the one the model chooses, and the parts of the model
read their data the way the bench says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.bench_people import (
    MAX_SCORED,
    MISREAD_ONLY,
    PRIVATE_POOL,
    PUBLIC_POOL,
    Figures,
    Parts,
    Rule,
    choose,
    human_error_rate,
    network_errors,
    private_pool_rows,
    real_pass_rates,
    rho_rows,
    simulate,
    simulate_measured,
)
from bench.bench_readings import Reading
from drcaptcha import charset
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.selection import MIN_KNOWN_GLYPHS, SCORED_WHEN_PRIVATE, SCORED_WRONG_ALLOWED


def test_the_services_pass_rule_is_the_one_the_model_chooses() -> None:
    # Given the model at rho = 0.5 with every part on (a small run: the choice is far from the margins)
    rules = [Rule(n, t) for n in range(2, MAX_SCORED + 1) for t in (0, 1)]
    results = {rule: simulate(rule, 0.5, Parts(), human_rate=0.125, challenges=1_000, seed=15) for rule in rules}

    # When the default is chosen
    default, _ = choose(results)

    # Then it is the rule the answer's conditional write applies
    assert default == Rule(MIN_KNOWN_GLYPHS, SCORED_WRONG_ALLOWED)


def test_the_choice_prefers_a_rule_that_meets_every_goal_and_never_one_that_leaves_too_few_votes() -> None:
    good, weak = Figures(0.95, 0.99, 0.01, 0.05), Figures(0.91, 0.98, 0.30, 0.60)
    assert choose({Rule(3, 1): weak, Rule(2, 0): good})[0] == Rule(2, 0)
    # 5 scored glyphs leave no unlabelled position: never the default, however well it does
    assert choose({Rule(5, 0): good, Rule(3, 1): weak})[0] == Rule(3, 1)


def test_the_groups_forgive_the_networks_lookalike_confusions() -> None:
    grouped, exact = network_errors(groups=True), network_errors(groups=False)
    assert np.all(grouped <= exact + 1e-12)
    capital_o = charset.class_of("O")
    assert capital_o is not None and grouped[capital_o] < exact[capital_o] / 2


def test_real_readings_are_scored_under_the_groups_with_the_rules_allowance() -> None:
    zero, seven, a = (charset.CLASSES.index(c) for c in "07A")
    readings = [
        # captcha 0: an O-typed 0 (right under the groups) and a 1-typed 7 (wrong); captcha 1: all right
        Reading(0, zero, True, "A", "O"),
        Reading(0, seven, True, "A", "1"),
        Reading(0, a, True, "A", "A"),
        Reading(1, zero, True, "A", "0"),
        Reading(1, seven, True, "A", "7"),
        Reading(1, a, True, "A", "A"),
    ]

    assert real_pass_rates(readings, Rule(3, 0)) == (0.5, 2)  # captcha 0 fails, captcha 1 passes
    assert real_pass_rates(readings, Rule(3, 1)) == (1.0, 2)
    # Every pair of each captcha's scored glyphs: 2 of captcha 0's 3 pairs hold the 7; captcha 1's 3 all pass
    assert real_pass_rates(readings, Rule(2, 0)) == (4 / 6, 6)
    assert human_error_rate(readings) == 1 / 4  # the 7s and the As (the 0s are grouped): one of four wrong


def test_a_trained_transfer_networks_errors_replace_the_modelled_ones(tmp_path: Path) -> None:
    # Given two trained transfer networks' confusions: one reads every class right, one reads every class wrong
    perfect, hopeless = tmp_path / "perfect.json", tmp_path / "hopeless.json"
    perfect.write_text(json.dumps({"counts": (10 * np.eye(NUM_CLASSES, dtype=int)).tolist()}))
    hopeless.write_text(json.dumps({"counts": (10 * np.roll(np.eye(NUM_CLASSES, dtype=int), 17, axis=1)).tolist()}))
    rule = Rule(MIN_KNOWN_GLYPHS, SCORED_WRONG_ALLOWED)

    # When the bench runs with each (the same seed, so the same people and the same ensemble bot)
    def run(confusion: Path | None) -> Figures:
        return simulate(rule, 0.5, Parts(), 0.125, 1_000, 15, transfer_confusion=confusion)

    modelled, with_perfect, with_hopeless = run(None), run(perfect), run(hopeless)

    # Then only the transfer bot moves: the perfect network loses only what the warp takes, and the hopeless one
    # fails (all but the few glyphs its shift lands inside their lookalike group, as 1 read as I)
    assert with_perfect.first_try == modelled.first_try == with_hopeless.first_try
    assert with_perfect.ensemble_bot == modelled.ensemble_bot
    assert with_perfect.transfer_bot > 0.9 > modelled.transfer_bot
    assert with_hopeless.transfer_bot < 0.01


def test_rho_is_checked_against_the_real_readers_errors_on_the_glyphs_the_ensemble_misreads(tmp_path: Path) -> None:
    # Given measured readings: 2,000 glyphs of an ungrouped class, the ensemble misreading the 100 it is least
    # sure of, and 40 real readings whose readers erred on 4 of the 10 misread glyphs and on 3 of the 30 others
    rng = np.random.default_rng(0)
    seven, one = charset.class_of("7"), charset.class_of("1")
    right = rng.random(2_000)
    misread = right < np.sort(right)[100]
    readings = tmp_path / "glyph-readings.npz"
    np.savez(
        readings,
        train_labels=np.full(2_000, seven),
        train_ensemble_right=right,
        train_ensemble_top=np.where(misread, one, seven),
        train_transfer_top=np.full(2_000, seven),
        readers_wrong=np.array([True] * 4 + [False] * 6 + [True] * 3 + [False] * 27),
        readers_ensemble_wrong=np.array([True] * 10 + [False] * 30),
        readers_transfer_wrong=np.zeros(40, dtype=bool),
    )

    # When rho is checked
    real, *simulated = rho_rows(human_rate=0.1, seed=15, readings=readings)

    # Then the real readers' errors are 40% against 10%, four times as high where the ensemble misreads
    assert real[1:] == ["10", "40.0%", "10.0%", 4.0]
    # And the simulated people's ratio grows with rho: none at 0, most at 0.9
    ratios = [row[-1] for row in simulated]
    assert [row[0] for row in simulated] == [f"simulated people, rho = {rho}" for rho in (0.0, 0.5, 0.9)]
    assert ratios[0] < 1.5 < ratios[1] < ratios[2]


def test_a_private_pool_scores_the_glyphs_the_transfer_bot_never_trained_on(tmp_path: Path) -> None:
    # Given measured readings where the transfer bot reads every training glyph right (it trained on them) and
    # every test glyph wrong (it never saw them), and the ensemble misreads the same 200 glyphs of each part
    seven, one = charset.class_of("7"), charset.class_of("1")
    right = np.linspace(0.0, 1.0, 2_000)
    misread = right < 0.1
    readings = tmp_path / "glyph-readings.npz"
    transfer_top = {"train": np.full(2_000, seven), "test": np.full(2_000, one)}
    np.savez(
        readings,
        **{f"{part}_labels": np.full(2_000, seven) for part in transfer_top},
        **{f"{part}_ensemble_right": right for part in transfer_top},
        **{f"{part}_ensemble_top": np.where(misread, one, seven) for part in transfer_top},
        **{f"{part}_transfer_top": top for part, top in transfer_top.items()},
    )
    rule = Rule(MIN_KNOWN_GLYPHS, SCORED_WRONG_ALLOWED)

    # When the default rule is played on each pool (the same seed, so the same people)
    def run(scored_pool: str) -> Figures:
        return simulate_measured(rule, 0.5, Parts(), 0.1, 2_000, 15, readings, MISREAD_ONLY, scored_pool=scored_pool)

    public, private = run(PUBLIC_POOL), run(PRIVATE_POOL)

    # Then only the transfer bot moves: it passes the public pool (all but what the warp takes) and fails the
    # private one
    assert public.first_try == private.first_try
    assert public.ensemble_bot == private.ensemble_bot == 0.0
    assert public.transfer_bot > 0.9
    assert private.transfer_bot == 0.0
    # And the table gives each rule at rho 0.5 and 0.9, marking the rules that meet every goal
    rows = private_pool_rows([rule], 0.1, 2_000, 15, MISREAD_ONLY, readings)
    assert [row[3] for row in rows] == [0.5, 0.9]
    assert rows[0][:3] == [rule.scored, rule.tolerance, 5 - rule.scored]
    assert rows[0][-1] == ("yes" if private.meets() else "")


def test_a_private_imports_rule_is_the_one_the_measured_private_pool_chooses() -> None:
    """Reads the committed measured readings (bench/data/glyph-readings.npz, bench/glyph_readings.py)."""
    # Given the private pool's rules at rho = 0.5, each keeping at least one unlabelled position
    rules = [Rule(n, 1) for n in range(2, MAX_SCORED)]
    rows = private_pool_rows(rules, human_rate=0.125, challenges=2_000, seed=15, selection=MISREAD_ONLY)
    meeting = [(row[0], row[1]) for row in rows if row[3] == 0.5 and row[-1] == "yes"]

    # Then the rule a private import's challenges apply is the one (or the best for people) that meets every goal
    assert meeting and meeting[0] == (SCORED_WHEN_PRIVATE, SCORED_WRONG_ALLOWED)
