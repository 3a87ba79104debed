"""Benchmark: how small a private split may be (issue 15): a bot that remembers what a solving farm read.

    .venv/bin/python -m bench.bench_pool_size [--challenges N] [--seed N] [--match-glyphs N]

A private split's labels are not public, so a bot cannot train on them. It can still learn them: pay a solving
farm (people) to answer K challenges, keep each shown glyph with what the farm typed for it, and answer a glyph it
has seen before from that memory. This bench asks how many farmed challenges that takes, by the split's size.

The model, on bench_people's measured world with the private pool (glyphs that neither network trained on, with
both networks' real readings, people simulated at rho 0.5), fixed before any result was looked at:
- **The split**: N glyphs drawn at random from that pool. Gold readings decide which may be scored
  (bench_people.scorable), and selection draws the 4 scored glyphs of a challenge by its weights, as the service
  does (SCORE_MISREAD_ONLY: only the glyphs the ensemble misreads while there are enough of them; "weighted",
  the setting off: every scorable glyph). The gold position shows one glyph of the split, uniformly.
- **The farm** answers K challenges. Each reader reads each shown glyph (scored and gold) right with the
  glyph's simulated people's rate. The bot keeps, per glyph, the count of right and wrong readings and answers
  the majority (a tie: a coin toss).
- **The bot** then answers fresh challenges: a scored glyph that it has seen and recognises is answered from
  memory; any other is read by the transfer bot (a network trained on all public EMNIST images: its real
  readings). Segmenting the warped image costs it bench_people.WARP_BOT_ERROR of its glyphs either way. It passes
  with at most `selection.SCORED_WRONG_ALLOWED` of the 4 scored glyphs wrong.
- **Recognising a glyph again** under a fresh warp, placement and noise: two rows. "Perfect" assumes that every
  seen glyph is recognised: the attacker's best case, and the one to size a split by. "Measured" uses the rate
  of a simple matcher measured here on real renders: the bots' own segmentation (simulation/bots.py), then the
  nearest stored crop by the correlation of 14x14 averages, accepted above the threshold that lets 5% of unseen
  glyphs match something. A learned embedding would do better, so this row is an attacker's floor, not a bound.
- Left out: the per-window cap (it limits how often a glyph is shown, not what a farm learns over time), and
  the rotation of pool windows across warm processes (over days every scorable glyph is shown).

Results: bench/results/pool_size.json, and docs/BENCHMARKS.md, "How small a private split may be", through
`python -m bench.report`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from bench.bench_people import (
    DEFAULT_RHO,
    GLYPH_READINGS_FILE,
    MISREAD_ONLY,
    PRIVATE_POOL,
    WARP_BOT_ERROR,
    WEIGHTED,
    Parts,
    Pool,
    World,
    exact_error,
    human_error_rate,
    measured_world,
    pct,
    scorable,
    selection_weights,
)
from bench.bench_readings import read_readings
from bench.bench_render import DEFAULT_EMNIST, emnist_glyphs
from bench.derive_lookalikes import DEFAULT_READINGS
from bench.results import Cell, Table, record, this_command
from drcaptcha.render import render_captcha
from drcaptcha.selection import GLYPHS_PER_CHALLENGE, GOLD_GLYPHS, SCORED_WHEN_PRIVATE, SCORED_WRONG_ALLOWED
from drcaptcha_ops.simulation.bots import captcha_pixels, segment_glyphs

SCORED: Final = SCORED_WHEN_PRIVATE
SPLIT_SIZES: Final = (250, 1_000, 4_000, 18_800)
FARMED: Final = (0, 25, 100, 400, 1_600, 6_400)
UNSEEN_MATCH_SHARE: Final = 0.05
POOLED: Final = 2  # the matcher compares 14x14 averages of the bots' 28x28 crops


@dataclass(frozen=True)
class Matcher:
    """How often a seen glyph is recognised under a fresh render, and how often an unseen one matches."""

    recognised: float
    false_match: float
    identified: float = 1.0  # the nearest stored crop is the right glyph, whatever the threshold


PERFECT: Final = Matcher(1.0, 0.0)


def descriptors(crops: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Each crop as 14x14 averages, centred and scaled to unit length (correlation by a dot product)."""
    count = len(crops)
    pooled = crops.astype(np.float64).reshape(count, 28 // POOLED, POOLED, 28 // POOLED, POOLED).mean(axis=(2, 4))
    flat: NDArray[np.float64] = pooled.reshape(count, -1)
    flat -= flat.mean(axis=1, keepdims=True)
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-9)
    return flat


def rendered_crops(glyphs: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """The glyphs rendered six a captcha, as the service renders them, and cut out again as the bots cut them."""
    crops = [
        segment_glyphs(captcha_pixels(render_captcha(glyphs[start : start + GLYPHS_PER_CHALLENGE], rng)))
        for start in range(0, len(glyphs), GLYPHS_PER_CHALLENGE)
    ]
    return np.concatenate(crops)


def measure_matcher(emnist: Path, count: int, rng: np.random.Generator) -> Matcher:
    """Remember `count` real glyphs from one render; then, in fresh renders, find them again among as many unseen."""
    count -= count % GLYPHS_PER_CHALLENGE
    glyphs = emnist_glyphs(emnist, 2 * count)
    seen, unseen = glyphs[:count], glyphs[count:]
    memory = descriptors(rendered_crops(seen, rng))
    again = descriptors(rendered_crops(seen, rng)) @ memory.T
    others = descriptors(rendered_crops(unseen, rng)) @ memory.T
    threshold = float(np.quantile(others.max(axis=1), 1 - UNSEEN_MATCH_SHARE))
    nearest_right = again.argmax(axis=1) == np.arange(count)
    right = nearest_right & (again.max(axis=1) > threshold)
    return Matcher(float(right.mean()), float((others.max(axis=1) > threshold).mean()), float(nearest_right.mean()))


def split_of(world: World, size: int, rng: np.random.Generator) -> World:
    """A private split of `size` glyphs of the world, drawn at random."""
    chosen = np.sort(rng.choice(len(world.pool.labels), size=min(size, len(world.pool.labels)), replace=False))
    pool = world.pool
    return World(
        Pool(pool.labels[chosen], pool.network_rank[chosen], pool.transfer_rank[chosen], pool.human_error[chosen]),
        world.ensemble_wrong[chosen],
        world.ensemble_right[chosen],
        world.transfer_wrong[chosen],
    )


@dataclass(frozen=True)
class SplitDraws:
    """What selection does with one split: its scorable candidates and their draw weights."""

    candidates: NDArray[np.int64]
    inverse_weights: NDArray[np.float64]
    errors: NDArray[np.float64]  # people's error on each glyph under the groups

    @property
    def scored_pool(self) -> int:
        """How many glyphs can be scored at all (a weight above 0)."""
        return int(np.isfinite(self.inverse_weights).sum())

    def scored(self, challenges: int, rng: np.random.Generator) -> NDArray[np.int64]:
        """[challenges, SCORED] glyphs, a weighted draw without replacement per challenge (as bench_people)."""
        keys = np.log(1.0 - rng.random((challenges, len(self.candidates)))) * self.inverse_weights
        return self.candidates[np.argpartition(keys, -SCORED, axis=1)[:, -SCORED:]]


def split_draws(world: World, selection: str, rng: np.random.Generator) -> SplitDraws:
    parts = Parts()
    errors = exact_error(world.pool, parts.groups)
    candidates = np.flatnonzero(scorable(world.pool, parts, errors, rng))
    weights = selection_weights(world, candidates, parts, selection)
    with np.errstate(divide="ignore"):
        inverse = np.where(weights > 0, 1.0 / np.maximum(weights, 1e-12), np.inf)
    return SplitDraws(candidates, inverse, errors)


def farm_memory(
    world: World, draws: SplitDraws, farmed: int, rng: np.random.Generator
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """After `farmed` challenges answered by people: which glyphs the bot has seen, and which it remembers right."""
    size = len(world.pool.labels)
    right_counts = np.zeros(size)
    seen_counts = np.zeros(size)
    if farmed:
        shown = np.concatenate(
            [draws.scored(farmed, rng), rng.integers(0, size, (farmed, GOLD_GLYPHS))], axis=1
        ).reshape(-1)
        read_right = rng.random(len(shown)) >= draws.errors[shown]
        np.add.at(seen_counts, shown, 1.0)
        np.add.at(right_counts, shown, read_right.astype(np.float64))
    wrong_counts = seen_counts - right_counts
    remembered_right = (right_counts > wrong_counts) | ((right_counts == wrong_counts) & (rng.random(size) < 0.5))
    return seen_counts > 0, remembered_right & (seen_counts > 0)


def memorising_bot(
    world: World, draws: SplitDraws, farmed: int, matcher: Matcher, challenges: int, rng: np.random.Generator
) -> float:
    """The share of fresh challenges the bot passes after the farm answered `farmed`."""
    seen, remembered_right = farm_memory(world, draws, farmed, rng)
    scored = draws.scored(challenges, rng)
    recognised = seen[scored] & (rng.random(scored.shape) < matcher.recognised)
    # An unseen (or unrecognised) glyph that matches a stored one is answered with that one's label: wrong.
    # With nothing stored, nothing matches.
    false_match = ~recognised & (rng.random(scored.shape) < (matcher.false_match if seen.any() else 0.0))
    wrong = np.where(recognised, ~remembered_right[scored], world.transfer_wrong[scored] | false_match)
    wrong |= rng.random(scored.shape) < WARP_BOT_ERROR
    return float(np.mean(wrong.sum(axis=1) <= SCORED_WRONG_ALLOWED))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--challenges", type=int, default=4_000, help="fresh challenges the bot answers per cell")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--match-glyphs", type=int, default=600, help="glyphs the matcher remembers and seeks")
    parser.add_argument("--emnist", type=Path, default=DEFAULT_EMNIST)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    human_rate = human_error_rate(read_readings(DEFAULT_READINGS))
    measured = measure_matcher(args.emnist, args.match_glyphs, rng)
    world = measured_world(GLYPH_READINGS_FILE, DEFAULT_RHO, human_rate, True, rng, PRIVATE_POOL)
    rows: list[list[Cell]] = []
    for selection in (MISREAD_ONLY, WEIGHTED):
        for size in SPLIT_SIZES:
            split = split_of(world, size, rng)
            draws = split_draws(split, selection, rng)
            for name, matcher in (("perfect", PERFECT), ("measured", measured)):
                passes = [memorising_bot(split, draws, k, matcher, args.challenges, rng) for k in FARMED]
                rows.append(
                    [selection, len(split.pool.labels), draws.scored_pool, name, *(pct(rate) for rate in passes)]
                )
                print(" | ".join(str(cell) for cell in rows[-1]))
    notes = [
        f"rule: {SCORED} scored glyphs, {SCORED_WRONG_ALLOWED} wrong allowed (a private split's); {GOLD_GLYPHS} gold "
        f"glyph a challenge from the split, uniformly; people at rho {DEFAULT_RHO}; {args.challenges} fresh challenges "
        "a cell",
        f"matcher measured on {args.match_glyphs - args.match_glyphs % GLYPHS_PER_CHALLENGE} real EMNIST glyphs "
        f"rendered twice (the service's render, the bots' segmentation, 14x14 correlation): "
        f"{pct(measured.recognised)} of seen glyphs recognised, {pct(measured.false_match)} of unseen ones matched; "
        f"the nearest stored crop was the right glyph for {pct(measured.identified)}, but the bot cannot tell those "
        "from the unseen ones without the threshold",
        "scorable: glyphs selection may score (gold state READ_RIGHT; with misread only, those the ensemble "
        "misreads, while there are enough)",
        "0 farmed: the transfer bot alone; the goal for any bot is at most 10% (issue 15)",
    ]
    record(
        "pool_size",
        command=this_command("bench.bench_pool_size", argv),
        title="How small a private split may be: a bot that remembers a solving farm's readings (issue 15)",
        tables=[
            Table(
                caption="The bot's pass rate after the farm answered K challenges, by split size and selection",
                columns=["selection", "split", "scorable", "matcher", *(f"{k} farmed" for k in FARMED)],
                rows=rows,
            )
        ],
        notes=notes,
    )
    print("\n".join(notes))


if __name__ == "__main__":
    main()
