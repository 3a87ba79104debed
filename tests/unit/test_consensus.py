"""Consensus maths: the acceptance rule, source reliability weights, and Dawid–Skene against majority vote.

The crowd simulation here is a plain numpy model of the votes (issue 9's "plain numpy model"): 100 sources,
honest humans who err 5–10% of the time on a uniformly chosen wrong class, and either colluders who all give the
same wrong class for every unlabelled glyph, or spammers who answer at random.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from drcaptcha import consensus
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.consensus import Outcome, WeightedVote


def human(label: int | None, source: str = "h", weight: float = 1.0) -> WeightedVote:
    return WeightedVote(label, weight, source)


def model(label: int) -> WeightedVote:
    return WeightedVote(label, consensus.vote_weight(consensus.model_source("e1")), consensus.model_source("e1"))


# --- the acceptance rule ---


def test_three_agreeing_humans_label_a_glyph_and_two_do_not() -> None:
    two = [human(7, "a"), human(7, "b")]

    assert consensus.decide_votes(two).outcome is Outcome.PENDING
    decision = consensus.decide_votes([*two, human(7, "c")])
    assert decision.outcome is Outcome.ACCEPTED
    assert decision.label == 7
    assert decision.leader_weight == pytest.approx(3.0)


def test_the_model_vote_weighs_half_and_tips_two_humans_over_but_never_one() -> None:
    assert model(4).weight == consensus.MODEL_WEIGHT == 0.5

    assert consensus.decide_votes([human(4, "a"), human(4, "b"), model(4)]).label == 4
    assert consensus.decide_votes([human(4, "a"), model(4)]).outcome is Outcome.PENDING


def test_the_leader_must_beat_the_runner_up_by_the_margin() -> None:
    # Given three votes for 5 and one for 9: a lead of exactly the margin (2)
    three_to_one = [human(5, "a"), human(5, "b"), human(5, "c"), human(9, "d")]
    # And three for 5 against one and a half for 9 (a human and the model): a lead of 1.5
    three_to_one_and_a_half = [*three_to_one, model(9)]

    assert consensus.MARGIN == 2.0
    assert consensus.decide_votes(three_to_one).label == 5
    assert consensus.decide_votes(three_to_one_and_a_half).outcome is Outcome.PENDING
    assert consensus.decide_votes([*three_to_one_and_a_half, human(5, "e")]).label == 5


def test_the_runner_up_is_the_strongest_other_class_not_the_sum_of_dissent() -> None:
    votes = [human(5, s) for s in "abcd"] + [human(1, "e"), human(2, "f")]

    decision = consensus.decide_votes(votes)

    assert decision.outcome is Outcome.ACCEPTED
    assert decision.runner_up_weight == pytest.approx(1.0)


def test_a_tie_is_never_accepted_even_when_both_classes_pass_the_threshold() -> None:
    tallies = {3: 3.0, 8: 3.0}

    decision = consensus.decide(tallies)

    assert decision.outcome is not Outcome.ACCEPTED
    assert decision.label is None


def test_votes_that_keep_disagreeing_make_a_glyph_ambiguous() -> None:
    # Given six votes split three ways: six human votes' worth and no class near the margin
    votes = [human(label, source) for label, source in zip([1, 1, 2, 2, 3, 3], "abcdef", strict=True)]

    assert consensus.decide_votes(votes[:5]).outcome is Outcome.PENDING
    assert consensus.decide_votes(votes).outcome is Outcome.AMBIGUOUS


def test_unreadable_answers_add_to_no_class_but_count_towards_ambiguity() -> None:
    votes = [human(None, s) for s in "abcd"] + [human(6, "e"), human(6, "f")]

    decision = consensus.decide_votes(votes)

    assert consensus.tally(votes) == {6: 2.0}
    assert decision.outcome is Outcome.AMBIGUOUS
    assert decision.total_weight == pytest.approx(6.0)


def test_an_ambiguous_glyph_can_still_be_settled_by_later_votes() -> None:
    tallies = {1: 5.0, 2: 3.0}

    assert consensus.decide(tallies).outcome is Outcome.ACCEPTED


def test_discounted_votes_need_more_of_them() -> None:
    # Given three agreeing votes from sources worth 0.8 each: 2.4 < 2.5
    votes = [human(2, s, weight=0.8) for s in "abc"]

    assert consensus.decide_votes(votes).outcome is Outcome.PENDING
    assert consensus.decide_votes([*votes, human(2, "d", weight=0.8)]).label == 2


# --- reliability weights ---


def test_a_new_source_weighs_one_and_the_model_always_weighs_half() -> None:
    assert consensus.reliability_weight(0, 0) == 1.0
    assert consensus.vote_weight("client-hash") == 1.0
    assert consensus.vote_weight("model:e7", agreements=0, disagreements=50) == 0.5


def test_an_honest_human_keeps_full_weight_through_an_occasional_slip() -> None:
    assert consensus.reliability_weight(agreements=3, disagreements=1) == 1.0
    assert consensus.reliability_weight(agreements=40, disagreements=4) == 1.0


def test_a_source_that_keeps_disagreeing_loses_its_weight_step_by_step() -> None:
    weights = [consensus.reliability_weight(agreements=0, disagreements=n) for n in range(12)]

    assert weights[0] == 1.0
    assert all(later <= earlier for earlier, later in itertools.pairwise(weights))
    assert 0 < weights[2] < 1
    assert weights[-1] == 0.0


def test_a_coin_flipping_source_weighs_nothing() -> None:
    assert consensus.source_accuracy(500, 500) == pytest.approx(0.5, abs=0.01)
    assert consensus.reliability_weight(450, 550) == 0.0


def test_a_human_vote_scales_with_its_base_weight() -> None:
    assert consensus.vote_weight("h", base=0.5) == 0.5


# --- Dawid–Skene against majority vote ---


@dataclass(frozen=True)
class Crowd:
    truth: np.ndarray
    votes: list[tuple[int, int, int]]
    colluders: int


def simulate_crowd(
    seed: int, colluders: float = 0.0, spammers: float = 0.0, glyphs: int = 1500, votes_per_glyph: int = 5
) -> Crowd:
    """Each glyph gets votes from distinct random sources among 100; colluders come first in the source ids."""
    rng = np.random.default_rng(seed)
    sources = 100
    colluding, spamming = int(sources * colluders), int(sources * spammers)
    error_rate = rng.uniform(0.05, 0.10, sources)
    truth = rng.integers(0, NUM_CLASSES, glyphs)
    votes = []
    for glyph in range(glyphs):
        for source in rng.choice(sources, votes_per_glyph, replace=False):
            if source < colluding:
                label = (truth[glyph] + 1) % NUM_CLASSES
            elif source < colluding + spamming or rng.random() < error_rate[source]:
                label = (truth[glyph] + 1 + rng.integers(NUM_CLASSES - 1)) % NUM_CLASSES
            else:
                label = truth[glyph]
            votes.append((glyph, int(source), int(label)))
    return Crowd(truth, votes, colluding)


def accuracy(labels: dict, truth: np.ndarray) -> float:
    return float(np.mean([labels[glyph] == truth[glyph] for glyph in range(len(truth))]))


def test_dawid_skene_beats_majority_vote_against_twenty_percent_colluders() -> None:
    crowd = simulate_crowd(seed=1, colluders=0.2)

    labels, source_accuracy = consensus.dawid_skene(crowd.votes)
    majority = accuracy(consensus.majority_vote(crowd.votes), crowd.truth)
    modelled = accuracy(labels, crowd.truth)

    # Measured: majority 94.3%, Dawid–Skene 99.3% (seeds 2 and 3: 94.6/99.1, 93.1/99.1).
    assert majority < 0.96
    assert modelled >= 0.985
    assert modelled - majority >= 0.03
    colluder_accuracy = np.mean([source_accuracy[s] for s in range(crowd.colluders)])
    honest_accuracy = np.mean([source_accuracy[s] for s in range(crowd.colluders, 100)])
    assert colluder_accuracy < 0.1 < 0.85 < honest_accuracy


def test_random_spammers_break_neither_majority_vote_nor_dawid_skene() -> None:
    crowd = simulate_crowd(seed=2, spammers=0.2)

    labels, _ = consensus.dawid_skene(crowd.votes)

    assert accuracy(consensus.majority_vote(crowd.votes), crowd.truth) >= 0.97
    assert accuracy(labels, crowd.truth) >= 0.98


def test_dawid_skene_takes_any_hashable_ids_and_rejects_labels_outside_the_classes() -> None:
    labels, accuracies = consensus.dawid_skene([("g1", "alice", 3), ("g1", "bob", 3), ("g2", "alice", 9)])

    assert labels == {"g1": 3, "g2": 9}
    assert set(accuracies) == {"alice", "bob"}
    assert consensus.dawid_skene([]) == ({}, {})
    with pytest.raises(ValueError, match="labels"):
        consensus.dawid_skene([("g", "s", NUM_CLASSES)])


# --- the online rule, with and without reliability weights ---


@dataclass(frozen=True)
class OnlineRun:
    accuracy: float
    coverage: float
    votes_per_label: float


def run_online_rule(seed: int, colluders: float, reliability: bool, glyphs: int = 2000) -> OnlineRun:
    """Glyphs in turn, votes from random sources until the rule accepts (or 12 votes), as the labels function
    does; each glyph also has one vote from a 90%-accurate model. On acceptance each voter's agreement or
    disagreement is counted, and with `reliability` its later votes are weighted by its record."""
    rng = np.random.default_rng(seed)
    sources = 100
    colluding = int(sources * colluders)
    error_rate = rng.uniform(0.05, 0.10, sources)
    agreements, disagreements = np.zeros(sources), np.zeros(sources)
    truth = rng.integers(0, NUM_CLASSES, glyphs)
    right = accepted = human_votes = 0
    for glyph in range(glyphs):
        model_label = truth[glyph] if rng.random() < 0.9 else (truth[glyph] + 1) % NUM_CLASSES
        votes = [model(int(model_label))]
        for _ in range(12):
            source = int(rng.integers(sources))
            if source < colluding:
                label = (truth[glyph] + 1) % NUM_CLASSES
            elif rng.random() < error_rate[source]:
                label = (truth[glyph] + 1 + rng.integers(NUM_CLASSES - 1)) % NUM_CLASSES
            else:
                label = truth[glyph]
            weight = consensus.reliability_weight(agreements[source], disagreements[source]) if reliability else 1.0
            votes.append(human(int(label), str(source), weight))
            decision = consensus.decide_votes(votes)
            if decision.outcome is Outcome.ACCEPTED:
                accepted += 1
                right += decision.label == truth[glyph]
                human_votes += len(votes) - 1
                for vote in votes[1:]:
                    if vote.label == decision.label:
                        agreements[int(vote.source)] += 1
                    else:
                        disagreements[int(vote.source)] += 1
                break
    return OnlineRun(right / accepted, accepted / glyphs, human_votes / accepted)


def test_reliability_weights_close_the_gap_the_bare_rule_leaves_against_colluders() -> None:
    bare = run_online_rule(seed=1, colluders=0.2, reliability=False)
    weighted = run_online_rule(seed=1, colluders=0.2, reliability=True)

    # Measured: bare 97.7%, weighted 99.95% (seeds 2, 3: 97.9/99.85, 96.9/99.9). Issue 9: bare 97.6%, goal ≥ 99%.
    assert bare.accuracy < 0.985
    assert weighted.accuracy >= 0.995
    assert weighted.coverage >= 0.99
    assert weighted.votes_per_label < 4


def test_without_spam_a_label_takes_fewer_than_three_human_votes() -> None:
    run = run_online_rule(seed=2, colluders=0.0, reliability=True)

    assert run.accuracy >= 0.995
    assert run.votes_per_label < 3
