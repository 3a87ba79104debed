"""Turning votes into labels: the acceptance rule, source reliability, and Dawid–Skene. Pure maths, no I/O.

The acceptance rule (DESIGN.md, "The captcha loop", step 4). A glyph's votes are summed per class. The glyph is
accepted when the leading class's weight reaches `ACCEPT_WEIGHT` and leads the runner-up by at least `MARGIN`.

- A human vote weighs 1 times its source's reliability weight (1 for a new source, down to 0 for a source whose
  votes keep disagreeing with accepted labels). The active ensemble's prediction weighs `MODEL_WEIGHT` (0.5,
  the reCAPTCHA rule): it can tip a close call but never labels a glyph with fewer than two humans behind it.
- With every weight 1 the rule reads: 3 agreeing votes and no dissent, 4 against 1, 5 against 2 (or against
  two different wrong answers, since the runner-up is one class), and so on. `ACCEPT_WEIGHT` = 2.5 means two
  humans alone never suffice, two humans plus the model do (2.5), one human plus the model never.
- `MARGIN` = 2.0: one dissenting vote costs two more agreeing votes. Checked against issue 9's goals on the
  numpy simulation of tests/unit/test_consensus.py (100 sources, honest error 5–10%, one vote from a
  90%-accurate model per glyph, 2,000 glyphs, seeds 1–3). The bare rule (every human 1) with 20% colluders who
  all give the same wrong class: 96.9–97.9% accuracy (issue 9 quotes 97.6%); with margin 1 it falls to about
  96%. With the reliability weights below, margin 2 gives 99.85–99.95% with 20% colluders and 100% with 20%
  random spammers, at 2.5–2.6 human votes per label without spam and 3.1–3.3 with 20% of either (goals: ≥ 99%,
  ≥ 99.5%, < 3 and < 4). Margin 1 with reliability drops to 99.7% with 30% colluders; margin 3 costs about one
  more vote per label.
- Ties are never accepted: the leader must strictly beat the runner-up, whatever the margin.
- A glyph that has absorbed `AMBIGUOUS_WEIGHT` (6 human votes' worth) without an acceptance is ambiguous:
  its voters keep disagreeing (the glyph is hard to read, or it is being fought over), so it is shown less. It
  can still be accepted later, by the same rule, if the votes that do come settle it.

Reliability (issue 9). Each source gets a one-coin Dawid–Skene accuracy `p`: the chance that its vote is the
true class. Online, `p` is the posterior mean of a Beta prior (mean `PRIOR_ACCURACY`, weight `PRIOR_STRENGTH`
pseudo-votes) updated with the source's agreements and disagreements with accepted labels. The vote weight is
the Bayes log-odds `log((K-1) p / (1-p))`, normalised so that a source at `FULL_WEIGHT_ACCURACY` (85%) weighs 1,
and clipped to [0, 1]. Honest humans (90–95%, and a new source at the 90% prior) sit at the full weight of 1, so
an occasional slip (one vote in four or fewer) does not cost them weight; measured on the simulation,
normalising at 90% instead added about 0.3 votes per label for no gain in accuracy. `K` is `EFFECTIVE_CLASSES`
= 2, not 47: with 47 classes and independent mistakes a 50%-accurate voter is still informative, because its
wrong answers scatter; but colluders put all their wrong answers on one class, which is the one-coin model's
worst case, so errors are priced as if they all fell on the same class. A source at 50% accuracy or below
then weighs nothing.

`dawid_skene` runs the full EM over a batch of (glyph, source, label) votes with the true 47-class one-coin
model, for offline re-estimation and for the simulation.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from drcaptcha.charset import NUM_CLASSES

ACCEPT_WEIGHT: Final = 2.5
MARGIN: Final = 2.0
MODEL_WEIGHT: Final = 0.5
AMBIGUOUS_WEIGHT: Final = 6.0
MODEL_SOURCE_PREFIX: Final = "model:"

PRIOR_ACCURACY: Final = 0.9
PRIOR_STRENGTH: Final = 10.0
FULL_WEIGHT_ACCURACY: Final = 0.85
# The EM sees each source's whole batch of votes at once, so its prior only has to keep sources with few votes
# sane; a light one lets it see colluders for what they are (on the simulation: 99.1–99.3% with strength 2,
# 97.7–98.6% with the online strength of 10, majority vote 93.1–94.6%).
EM_PRIOR_STRENGTH: Final = 2.0
EFFECTIVE_CLASSES: Final = 2

# Keeps log(p) finite in the EM when a source agrees or disagrees with every posterior.
_ACCURACY_FLOOR: Final = 1e-6


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class WeightedVote:
    """One vote as consensus sees it: a class (None when the answer names no class), its weight, its source."""

    label: int | None
    weight: float
    source: str


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    label: int | None
    leader_weight: float
    runner_up_weight: float
    total_weight: float


def is_model_source(source: str) -> bool:
    """A vote from an ensemble carries the source `model:<ensemble_id>`."""
    return source.startswith(MODEL_SOURCE_PREFIX)


def model_source(ensemble_id: str) -> str:
    return f"{MODEL_SOURCE_PREFIX}{ensemble_id}"


def source_accuracy(agreements: float, disagreements: float) -> float:
    """The posterior mean accuracy of a source under the Beta prior (one-coin model)."""
    alpha = PRIOR_ACCURACY * PRIOR_STRENGTH
    return (agreements + alpha) / (agreements + disagreements + PRIOR_STRENGTH)


def log_odds_weight(accuracy: float, classes: int = EFFECTIVE_CLASSES) -> float:
    """The unnormalised Bayes weight of a vote from a source of this accuracy."""
    accuracy = min(max(accuracy, _ACCURACY_FLOOR), 1 - _ACCURACY_FLOOR)
    return math.log((classes - 1) * accuracy / (1 - accuracy))


_FULL_WEIGHT: Final = log_odds_weight(FULL_WEIGHT_ACCURACY)


def reliability_weight(agreements: float, disagreements: float) -> float:
    """The weight, in [0, 1], of a human vote from a source with this record; a new source weighs 1."""
    weight = log_odds_weight(source_accuracy(agreements, disagreements)) / _FULL_WEIGHT
    return min(max(weight, 0.0), 1.0)


def vote_weight(source: str, agreements: float = 0.0, disagreements: float = 0.0, base: float = 1.0) -> float:
    """A model vote weighs MODEL_WEIGHT; a human vote `base` (1) times its source's reliability weight."""
    if is_model_source(source):
        return MODEL_WEIGHT
    return base * reliability_weight(agreements, disagreements)


def tally(votes: Iterable[WeightedVote]) -> dict[int, float]:
    """The summed weight per class; a vote that names no class adds to no class."""
    totals: dict[int, float] = {}
    for vote in votes:
        if vote.label is not None:
            totals[vote.label] = totals.get(vote.label, 0.0) + vote.weight
    return totals


def decide(tallies: Mapping[int, float], unreadable_weight: float = 0.0) -> Decision:
    """Apply the acceptance rule to a glyph's per-class weights (and the weight of votes naming no class)."""
    ranked = sorted(tallies.items(), key=lambda item: item[1], reverse=True)
    leader, leader_weight = ranked[0] if ranked else (None, 0.0)
    runner_up_weight = ranked[1][1] if len(ranked) > 1 else 0.0
    total = sum(tallies.values()) + unreadable_weight
    # A small tolerance, so that weights summed in floating point (0.5 + 1 + 1) still meet the exact thresholds.
    tolerance = 1e-9
    accepted = (
        leader is not None
        and leader_weight >= ACCEPT_WEIGHT - tolerance
        and leader_weight - runner_up_weight >= MARGIN - tolerance
        and leader_weight > runner_up_weight
    )
    if accepted:
        return Decision(Outcome.ACCEPTED, leader, leader_weight, runner_up_weight, total)
    outcome = Outcome.AMBIGUOUS if total >= AMBIGUOUS_WEIGHT - tolerance else Outcome.PENDING
    return Decision(outcome, None, leader_weight, runner_up_weight, total)


def decide_votes(votes: Sequence[WeightedVote]) -> Decision:
    """`decide` over a list of votes."""
    unreadable = sum(vote.weight for vote in votes if vote.label is None)
    return decide(tally(votes), unreadable)


def majority_vote(votes: Iterable[tuple[Hashable, Hashable, int]]) -> dict[Hashable, int]:
    """The plain baseline: each glyph gets its most voted class (ties to the smallest class index)."""
    counts: dict[Hashable, dict[int, int]] = {}
    for glyph, _source, label in votes:
        per_glyph = counts.setdefault(glyph, {})
        per_glyph[label] = per_glyph.get(label, 0) + 1
    return {glyph: min(per.items(), key=lambda item: (-item[1], item[0]))[0] for glyph, per in counts.items()}


def dawid_skene(
    votes: Iterable[tuple[Hashable, Hashable, int]],
    classes: int = NUM_CLASSES,
    iterations: int = 50,
    tolerance: float = 1e-6,
    prior_strength: float = EM_PRIOR_STRENGTH,
) -> tuple[dict[Hashable, int], dict[Hashable, float]]:
    """One-coin Dawid–Skene EM over (glyph, source, label) votes: each glyph's label and each source's accuracy.

    A source of accuracy p gives the true class with chance p and each other class with chance (1-p)/(K-1). The
    E step computes each glyph's posterior over classes; the M step re-estimates every accuracy (the posterior
    mean under a Beta prior of mean PRIOR_ACCURACY and `prior_strength` pseudo-votes) and the class prior. It
    starts from the vote shares of each glyph (soft majority vote).
    """
    vote_list = list(votes)
    if not vote_list:
        return {}, {}
    glyph_keys, glyph_index = _factorise([glyph for glyph, _, _ in vote_list])
    source_keys, source_index = _factorise([source for _, source, _ in vote_list])
    labels = np.fromiter((label for _, _, label in vote_list), dtype=np.int64, count=len(vote_list))
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"vote labels must lie in [0, {classes})")

    posterior = np.zeros((len(glyph_keys), classes))
    np.add.at(posterior, (glyph_index, labels), 1.0)
    posterior /= posterior.sum(axis=1, keepdims=True)
    accuracy = np.full(len(source_keys), PRIOR_ACCURACY)
    for _ in range(iterations):
        accuracy = _estimate_accuracy(posterior, glyph_index, source_index, labels, prior_strength)
        class_prior = (posterior.sum(axis=0) + 1.0) / (len(glyph_keys) + classes)
        updated = _posterior(accuracy, class_prior, glyph_index, source_index, labels, len(glyph_keys), classes)
        change = float(np.abs(updated - posterior).max())
        posterior = updated
        if change < tolerance:
            break
    accuracy = _estimate_accuracy(posterior, glyph_index, source_index, labels, prior_strength)
    best = posterior.argmax(axis=1)
    glyph_labels = {key: int(best[i]) for i, key in enumerate(glyph_keys)}
    source_accuracies = {key: float(accuracy[i]) for i, key in enumerate(source_keys)}
    return glyph_labels, source_accuracies


def _factorise(keys: Sequence[Hashable]) -> tuple[list[Hashable], npt.NDArray[np.int64]]:
    positions: dict[Hashable, int] = {}
    index = np.fromiter((positions.setdefault(key, len(positions)) for key in keys), dtype=np.int64, count=len(keys))
    return list(positions), index


def _estimate_accuracy(
    posterior: npt.NDArray[np.float64],
    glyph_index: npt.NDArray[np.int64],
    source_index: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    prior_strength: float,
) -> npt.NDArray[np.float64]:
    agreements = np.bincount(source_index, weights=posterior[glyph_index, labels])
    cast = np.bincount(source_index).astype(np.float64)
    alpha = PRIOR_ACCURACY * prior_strength
    accuracy: npt.NDArray[np.float64] = (agreements + alpha) / (cast + prior_strength)
    return np.clip(accuracy, _ACCURACY_FLOOR, 1 - _ACCURACY_FLOOR)


def _posterior(
    accuracy: npt.NDArray[np.float64],
    class_prior: npt.NDArray[np.float64],
    glyph_index: npt.NDArray[np.int64],
    source_index: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    glyphs: int,
    classes: int,
) -> npt.NDArray[np.float64]:
    p = accuracy[source_index]
    wrong = np.log((1 - p) / (classes - 1))
    log_posterior = np.tile(np.log(class_prior), (glyphs, 1))
    # Every vote adds log((1-p)/(K-1)) to all classes, and log p instead to the class it names.
    log_posterior += np.bincount(glyph_index, weights=wrong, minlength=glyphs)[:, None]
    np.add.at(log_posterior, (glyph_index, labels), np.log(p) - wrong)
    log_posterior -= log_posterior.max(axis=1, keepdims=True)
    posterior = np.exp(log_posterior)
    normalised: npt.NDArray[np.float64] = posterior / posterior.sum(axis=1, keepdims=True)
    return normalised
