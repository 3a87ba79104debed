"""The report: what the stack recorded (every vote, every acceptance) judged against truth/, what other scoring
rules would have done, and the report as a table for the terminal."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from drcaptcha import charset, consensus
from drcaptcha.models.tables.glyphs import MISREAD, READ_RIGHT
from drcaptcha.models.tables.votes import AcceptanceItem, VoteItem
from drcaptcha.store.glyphs import GlyphVoteStore
from drcaptcha_ops.simulation.oracle import Oracle
from drcaptcha_ops.simulation.run import RunLog, SimulationConfig


# --- what other scoring rules would do ----------------------------------------------------------------------------
def tolerated_pass_rate(mistakes: Counter[int], tolerance: int) -> float | None:
    """The share of the recorded attempts that a rule allowing `tolerance` wrong scored glyphs would pass."""
    attempts = sum(mistakes.values())
    if not attempts:
        return None
    return sum(count for wrong, count in mistakes.items() if wrong <= tolerance) / attempts


def glyph_accuracy(mistakes: Counter[int], scored_glyphs: int) -> float | None:
    """Per scored glyph: the share typed right, over all the recorded attempts."""
    if scored_glyphs <= 0:
        return None
    wrong = sum(wrong * count for wrong, count in mistakes.items())
    return 1.0 - wrong / scored_glyphs


def projected_pass_rate(accuracy: float, scored: int, tolerance: int) -> float:
    """P(at most `tolerance` of `scored` glyphs wrong) when each is right with `accuracy`, independently.

    A projection, not a measurement: it treats every scored glyph alike, which a crowd of people with their own
    error rates, and hard and easy glyphs, is not."""
    return sum(
        math.comb(scored, wrong) * (1 - accuracy) ** wrong * accuracy ** (scored - wrong)
        for wrong in range(min(tolerance, scored) + 1)
    )


def scoring_rules(log: RunLog) -> dict[str, Any]:
    """For humans and bots: the measured pass rate under the live rule and with one wrong glyph tolerated, the
    per-glyph accuracy on scored glyphs, and the projected pass rates for more scored glyphs and tolerances."""
    rules: dict[str, Any] = {"kinds": {}, "projection": []}
    accuracies: dict[str, float] = {}
    for kind, mistakes in log.scored_wrong.items():
        accuracy = glyph_accuracy(mistakes, log.scored_glyphs[kind])
        if accuracy is None:
            continue
        accuracies[kind] = accuracy
        rules["kinds"][kind] = {
            "attempts": sum(mistakes.values()),
            "scored_per_attempt": log.scored_glyphs[kind] / sum(mistakes.values()),
            "scored_glyph_accuracy": accuracy,
            "mistakes_histogram": {str(wrong): count for wrong, count in sorted(mistakes.items())},
            "pass_rate_exact": tolerated_pass_rate(mistakes, 0),
            "pass_rate_one_tolerated": tolerated_pass_rate(mistakes, 1),
        }
    for scored in range(3, 9):
        for tolerance in range(3):
            if tolerance < scored:
                row: dict[str, Any] = {"scored": scored, "tolerance": tolerance}
                row.update({kind: projected_pass_rate(value, scored, tolerance) for kind, value in accuracies.items()})
                rules["projection"].append(row)
    return rules


# --- the report --------------------------------------------------------------------------------------------------
@dataclass
class SimulationReport:
    config: dict[str, Any]
    hard_selection: str
    network: str | None
    pass_rates: dict[str, dict[str, Any]]
    # kind -> pass rate in each quarter of the run's attempts (None where the kind made none)
    pass_rates_by_quarter: dict[str, list[float | None]]
    # Known glyphs in each gold state at the end: what gold readings measured
    gold_states: dict[str, int]
    bot_glyph_accuracy: float | None
    votes_sent: int
    votes_recorded: int
    votes_counted: int
    late_votes: int
    model_votes: int
    removed_labels: int
    labels_accepted: int
    label_accuracy: float | None
    coverage: float | None
    votes_per_label: float | None
    mistakes: list[dict[str, Any]]
    glyphs_voted: int
    majority_accuracy: float | None
    dawid_skene_accuracy: float | None
    majority_accuracy_on_accepted: float | None
    dawid_skene_accuracy_on_accepted: float | None
    accuracy_by_votes: list[dict[str, Any]]
    scoring_rules: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _accuracy(labels: dict[Hashable, int], truth: Callable[[str], int], glyphs: Sequence[str]) -> float | None:
    if not glyphs:
        return None
    return sum(labels[g] == truth(g) for g in glyphs) / len(glyphs)


def build_report(
    config: SimulationConfig,
    log: RunLog,
    oracle: Oracle,
    removed_labels: int,
    network: str | None,
    hard_selection: str,
    seconds: float,
) -> SimulationReport:
    """Read back what the stack recorded (every vote, every acceptance) and judge it against truth/."""
    every_vote = list(VoteItem.scan(consistent_read=True))
    # The active ensemble's own votes (labelling.py) are counted apart: the crowd's figures are about people.
    votes = [vote for vote in every_vote if not consensus.is_model_source(vote.source)]
    acceptances = list(AcceptanceItem.scan(consistent_read=True))
    pairs: Counter[tuple[str, str]] = Counter()
    right = 0
    for acceptance in acceptances:
        truth = oracle.truth(acceptance.glyph_id)
        if int(acceptance.label) == truth:
            right += 1
        else:
            pairs[(charset.character_of(truth), charset.character_of(int(acceptance.label)))] += 1
    human_votes_counted = sum(
        1 for acceptance in acceptances for vote in acceptance.votes if not consensus.is_model_source(str(vote.source))
    )
    recorded = [(vote.glyph_id, vote.source, int(vote.label)) for vote in votes if vote.label is not None]
    majority = consensus.majority_vote(recorded)
    modelled, _ = consensus.dawid_skene(recorded)
    voted = sorted(str(glyph) for glyph in majority)
    accepted = sorted({acceptance.glyph_id for acceptance in acceptances} & set(voted))
    bot_accuracy = _share(log.bot_glyphs_right, log.bot_glyphs)
    return SimulationReport(
        config=asdict(config),
        hard_selection=hard_selection,
        network=network,
        pass_rates={kind: {**asdict(tally), "pass_rate": tally.pass_rate} for kind, tally in log.tallies.items()},
        pass_rates_by_quarter=pass_rates_by_quarter(log),
        gold_states={state: GlyphVoteStore().count_in_state(state) for state in (READ_RIGHT, MISREAD)},
        bot_glyph_accuracy=bot_accuracy,
        votes_sent=log.votes_sent,
        votes_recorded=len(votes),
        votes_counted=sum(1 for vote in votes if vote.counted),
        late_votes=sum(1 for vote in votes if not vote.counted),
        model_votes=len(every_vote) - len(votes),
        removed_labels=removed_labels,
        labels_accepted=len(acceptances),
        label_accuracy=_share(right, len(acceptances)),
        coverage=_share(len(acceptances), removed_labels),
        votes_per_label=_share(human_votes_counted, len(acceptances)),
        mistakes=[{"truth": truth, "label": label, "count": count} for (truth, label), count in pairs.most_common()],
        glyphs_voted=len(voted),
        majority_accuracy=_accuracy(majority, oracle.truth, voted),
        dawid_skene_accuracy=_accuracy(modelled, oracle.truth, voted),
        majority_accuracy_on_accepted=_accuracy(majority, oracle.truth, accepted),
        dawid_skene_accuracy_on_accepted=_accuracy(modelled, oracle.truth, accepted),
        accuracy_by_votes=accuracy_by_votes(votes, oracle.truth),
        scoring_rules=scoring_rules(log),
        seconds=seconds,
    )


def pass_rates_by_quarter(log: RunLog) -> dict[str, list[float | None]]:
    """Each kind's pass rate in each quarter of the run's attempts (in order)."""
    quarters: dict[str, list[float | None]] = {}
    size = max(1, -(-len(log.outcomes) // 4))
    for kind in log.tallies:
        rates: list[float | None] = []
        for start in range(0, size * 4, size):
            passes = [passed for who, passed in log.outcomes[start : start + size] if who == kind]
            rates.append(_share(sum(passes), len(passes)))
        quarters[kind] = rates
    return quarters


def accuracy_by_votes(votes: Sequence[VoteItem], truth: Callable[[str], int], most: int = 8) -> list[dict[str, Any]]:
    """Majority vote and Dawid–Skene on each glyph's first k votes (in arrival order), for k = 1..most, over the
    glyphs that got at least k: how label accuracy grows with votes per glyph."""
    ordered = sorted(
        (vote for vote in votes if vote.label is not None and not consensus.is_model_source(vote.source)),
        key=lambda vote: (vote.ts, vote.vote_id),
    )
    rows = []
    for k in range(1, most + 1):
        seen: Counter[str] = Counter()
        first: list[tuple[Hashable, Hashable, int]] = []
        for vote in ordered:
            if seen[vote.glyph_id] < k:
                seen[vote.glyph_id] += 1
                first.append((vote.glyph_id, vote.source, int(vote.label)))
        glyphs = sorted(glyph for glyph, count in seen.items() if count == k)
        if not glyphs:
            break
        kept = [vote for vote in first if seen[str(vote[0])] == k]
        modelled, _ = consensus.dawid_skene(kept)
        rows.append(
            {
                "votes": k,
                "glyphs": len(glyphs),
                "majority": _accuracy(consensus.majority_vote(kept), truth, glyphs),
                "dawid_skene": _accuracy(modelled, truth, glyphs),
            }
        )
    return rows


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def report_table(report: SimulationReport) -> str:
    """The report as a plain-text table for the terminal."""
    config = report.config
    lines = [
        f"crowd: {config['humans']} humans, {config['spammers']} spammers, {config['colluders']} colluders, "
        f"{config['bots']} bots; {config['challenges']} challenges, seed {config['seed']}; "
        f"warp {'on' if config['warp'] else 'off'}, hard-glyph selection: {report.hard_selection}; "
        f"{'through the gateway' if config['through_gateway'] else 'library calls'}; {report.seconds:.0f} s",
        f"network: {report.network or 'none'}",
        "",
        f"{'agents':<10} {'attempts':>9} {'passed':>8} {'refused':>8} {'pass rate':>10}",
    ]
    for kind, tally in report.pass_rates.items():
        lines.append(
            f"{kind:<10} {tally['attempts']:>9} {tally['passed']:>8} {tally['refused']:>8} "
            f"{_percent(tally['pass_rate']):>10}"
        )
    for kind, rates in report.pass_rates_by_quarter.items():
        if report.pass_rates[kind]["attempts"]:
            lines.append(f"{kind:<10} by quarter of the run: " + " / ".join(_percent(rate) for rate in rates))
    rows = [
        ("bot glyph accuracy (after segmentation)", _percent(report.bot_glyph_accuracy)),
        ("known glyphs measured read-right / misread", " / ".join(str(n) for n in report.gold_states.values())),
        (
            "human votes sent / recorded / counted / late",
            f"{report.votes_sent} / {report.votes_recorded} / {report.votes_counted} / {report.late_votes}",
        ),
        ("model votes (the active ensemble's)", str(report.model_votes)),
        ("labels accepted", f"{report.labels_accepted} of {report.removed_labels} removed"),
        ("label accuracy (live rule)", _percent(report.label_accuracy)),
        ("coverage", _percent(report.coverage)),
        (
            "human votes per accepted label",
            "n/a" if report.votes_per_label is None else f"{report.votes_per_label:.2f}",
        ),
        ("glyphs with votes", str(report.glyphs_voted)),
        ("majority vote, all voted glyphs", _percent(report.majority_accuracy)),
        ("Dawid-Skene, all voted glyphs", _percent(report.dawid_skene_accuracy)),
        ("majority vote, accepted glyphs", _percent(report.majority_accuracy_on_accepted)),
        ("Dawid-Skene, accepted glyphs", _percent(report.dawid_skene_accuracy_on_accepted)),
    ]
    lines += ["", *(f"{name:<46} {value}" for name, value in rows)]
    if report.mistakes:
        shown = ", ".join(f"{m['truth']}->{m['label']} x{m['count']}" for m in report.mistakes[:12])
        lines.append(f"{'mistakes (truth->label)':<46} {shown}")
    kinds = report.scoring_rules["kinds"]
    if kinds:
        lines += ["", "scored glyphs: accuracy, and the pass rate exact / with one wrong glyph tolerated"]
        for kind, figures in kinds.items():
            lines.append(
                f"  {kind:<10} {_percent(figures['scored_glyph_accuracy']):>8}   "
                f"{_percent(figures['pass_rate_exact'])} / {_percent(figures['pass_rate_one_tolerated'])}"
            )
    return "\n".join(lines)
