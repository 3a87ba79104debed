"""Benchmark: what a careful reader reads of the glyphs selection scores, and what that makes of the pass rule.

    .venv/bin/python -m bench.bench_careful_reader

The issue that asked "people pass, bots fail" began with a careful reader on the running demo. This replays the
same check from its recorded readings (bench/data/careful-reader.json, its "reader" and "sampling" say who read
what, and how the glyphs were drawn):
1. **Glyphs by how the ensemble reads them.** Known glyphs of classes in no lookalike group, in four categories of
   the active ensemble's reading (a confident misreading, a close one, an unsure right reading, a sure one),
   rendered as live captchas and read blind. For each: how often the reader was right (with a 95% Wilson
   interval), how many of the misreadings were the ensemble's own reading, and how often the bots read glyphs of
   that category right: the ensemble bot through the render where measured (below; else by definition, every
   misreading wrong and every right reading right), and the transfer bot from bench/data/glyph-readings.npz
   (every glyph of the category in its sample, read unrendered, so without the warp's cost).
2. **The pass rule from those rates.** Each rule's pass rate for the reader and both bots, treating glyphs as
   independent: an estimate, not a replay; and the trade-off curve over every make-up of 3 or 4 scored glyphs.
3. **Live challenges.** The demo's challenges before and after the selection change, replayed under the service's
   own answer rule (`lookalikes.accepts`, `SCORED_WRONG_ALLOWED`).
Results: bench/results/careful_reader.json.

The bots' rates through the render (the warp, then the stack simulation's segmentation) are measured once, on a
running stack, and kept in the data file beside the readings:

    .venv/bin/drcaptcha demo &                 # or any stack with an import and an active ensemble
    .venv/bin/python -m bench.bench_careful_reader --measure-bots [--transfer .drcaptcha/transfer/transfer.tflite]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bench.glyph_readings import READINGS_FILE, accepted_mask
from bench.results import Cell, Table, record, this_command
from drcaptcha import charset, lookalikes
from drcaptcha.selection import (
    SCORED_WHEN_PRIVATE,
    SCORED_WHEN_PUBLIC,
    SCORED_WRONG_ALLOWED,
    UNMEASURED_MISREAD_FLOOR,
    UNMEASURED_MISREADS_SCORED,
)

DATA: Final = Path(__file__).resolve().parent / "data" / "careful-reader.json"
CATEGORIES: Final = ("confident misreading", "close misreading", "unsure right reading", "sure right reading")
MISREADINGS: Final = CATEGORIES[:2]
SURE: Final = CATEGORIES[3]
# Known glyphs of a split the ensemble reads to find each category's glyphs for the bots (--measure-bots).
SAMPLE: Final = 30_000
# Rules as (name, split whose rates apply, scored glyphs by category): what a challenge's scored glyphs are drawn
# from; a private import's glyphs are played by the test split's, which no network trained on.
RULES: Final = (
    ("before: every scored glyph a misreading (3, public)", "train", {"misreading": SCORED_WHEN_PUBLIC}),
    ("2026-12-06: 2 close misreadings (p ≥ 0.15) and 1 sure (3, public)", "train", {"close misreading": 2, SURE: 1}),
    ("before: every scored glyph a misreading (4, private)", "test", {"misreading": SCORED_WHEN_PRIVATE}),
    ("2026-12-06: 2 close misreadings (p ≥ 0.15) and 2 sure (4, private)", "test", {"close misreading": 2, SURE: 2}),
)


def wilson(right: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson interval of a rate."""
    if total == 0:
        return 0.0, 1.0
    rate = right / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    spread = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def accepted(label: str, typed: str) -> bool:
    """Whether `typed` is a right reading of a glyph whose class is the character `label`."""
    known = charset.class_of(label)
    if known is None:
        raise ValueError(f"not a class: {label!r}")
    return lookalikes.accepts(known, typed)


def reader_rates(glyphs: Sequence[dict[str, Any]], split: str) -> dict[str, tuple[int, int, int]]:
    """category -> (read right, readings, misreadings that were the ensemble's reading)."""
    rates = {}
    for category in CATEGORIES:
        rows = [g for g in glyphs if g["split"] == split and g["category"] == category]
        right = sum(accepted(g["label"], g["typed"]) for g in rows)
        as_ensemble = sum(
            not accepted(g["label"], g["typed"]) and accepted(g["ensemble_reads"], g["typed"]) for g in rows
        )
        rates[category] = (right, len(rows), as_ensemble)
    return rates


def transfer_rates(bounds: dict[str, list[Any]], split: str, readings: Path = READINGS_FILE) -> dict[str, float]:
    """category -> how often the transfer bot reads the category's glyphs (of ungrouped classes) right."""
    with np.load(readings) as data:
        labels = data[f"{split}_labels"].astype(np.int64)
        p_right = data[f"{split}_ensemble_right"].astype(np.float64)
        ensemble_top = data[f"{split}_ensemble_top"].astype(np.int64)
        transfer_top = data[f"{split}_transfer_top"].astype(np.int64)
    mask = accepted_mask()
    ensemble_right, transfer_right = mask[labels, ensemble_top], mask[labels, transfer_top]
    ungrouped = lookalikes.ungrouped(labels)
    rates = {}
    for category, (reads_right, low, high) in bounds.items():
        chosen = ungrouped & (ensemble_right == reads_right) & (p_right >= low) & (p_right < high)
        rates[category] = float(transfer_right[chosen].mean()) if chosen.any() else float("nan")
    return rates


def pass_rate(rates: Sequence[float], wrong_allowed: int = SCORED_WRONG_ALLOWED) -> float:
    """The chance that at most `wrong_allowed` of glyphs read right at these rates are wrong (independent)."""
    total = 0.0
    for wrong in range(wrong_allowed + 1):
        for misread in combinations(range(len(rates)), wrong):
            chance = 1.0
            for index, rate in enumerate(rates):
                chance *= 1 - rate if index in misread else rate
            total += chance
    return total


def rule_rates(rule: dict[str, int], rates: dict[str, float], misread_mix: float) -> list[float]:
    """Per scored glyph, the rate it is read right; "misreading" is the two misreading categories, mixed as drawn."""
    mixed = misread_mix * rates["confident misreading"] + (1 - misread_mix) * rates["close misreading"]
    return [mixed if category == "misreading" else rates[category] for category, n in rule.items() for _ in range(n)]


def live_rows(session: dict[str, Any]) -> tuple[int, int, int, int]:
    """(challenges passed, challenges, scored glyphs read right, scored glyphs) under the service's rule."""
    passed = right_total = scored_total = 0
    for captcha in session["captchas"]:
        scored = [(g, typed) for g, typed in zip(captcha["glyphs"], captcha["typed"], strict=True) if g["scored"]]
        right = sum(accepted(g["label"], typed) for g, typed in scored)
        passed += len(scored) - right <= SCORED_WRONG_ALLOWED
        right_total, scored_total = right_total + right, scored_total + len(scored)
    return passed, len(session["captchas"]), right_total, scored_total


def measure_bots(data_file: Path, transfer: Path | None, per_category: int = 600, section: str | None = None) -> None:
    """Read glyphs of each category rendered six a captcha, as the stack simulation's bots do (`bot_answer`), with
    the active ensemble and, if given, the transfer bot's network; store the counts in the data file. With a
    `section` (the floor study's "floor"), its bands instead, on the training split, with each band's share of the
    close misreadings as selection draws them (their count, weighted as `_score_known` weighs them)."""
    from drcaptcha.ensembles import LiteModel
    from drcaptcha.glyphs import GlyphStore
    from drcaptcha.render import render_captcha
    from drcaptcha.selection import SCORE_FLOOR, active_ensemble_for_selection
    from drcaptcha_ops.simulation.bots import GlyphReader, bot_answer

    data = json.loads(data_file.read_text(encoding="utf-8"))
    target = data if section is None else data[section]
    store, rng = GlyphStore(), np.random.default_rng(3)
    ensemble = active_ensemble_for_selection()
    if ensemble is None:
        raise SystemExit("no active ensemble: run `drcaptcha demo` (or activate one) first")
    readers: dict[str, GlyphReader] = {"ensemble bot": ensemble}
    if transfer is not None:
        readers["transfer bot"] = LiteModel(transfer.read_bytes())
    measured: dict[str, dict[str, dict[str, list[int]]]] = {name: {} for name in readers}
    drawn: dict[str, float] = {}
    for split in ("train", "test") if section is None else ("train",):
        images, labels = store.load_split(split)
        # A sample of the training split (the ensemble reads about 400 glyphs a second here), all of the test split.
        known = rng.permutation(np.flatnonzero(labels >= 0))[: SAMPLE if section is None else len(labels)]
        images, labels = images[known], labels[known].astype(np.int64)
        probabilities = ensemble.predict(images)
        mask = accepted_mask()
        p_right = (probabilities * mask[labels]).sum(axis=1)
        reads_right = mask[labels, probabilities.argmax(axis=1)]
        ungrouped = lookalikes.ungrouped(labels)
        for category, (right_reading, low, high) in target["bounds"].items():
            chosen = np.flatnonzero(ungrouped & (reads_right == right_reading) & (p_right >= low) & (p_right < high))
            drawn[category] = float((SCORE_FLOOR + 1.0 - p_right[chosen]).sum())
            chosen = rng.permutation(chosen)[:per_category]
            chosen = chosen[: len(chosen) - len(chosen) % 6]  # whole captchas of six
            for name, reader in readers.items():
                right = 0
                for start in range(0, len(chosen), 6):
                    rows = chosen[start : start + 6]
                    typed = bot_answer(render_captcha(images[rows], rng), reader)
                    right += sum(lookalikes.accepts(int(labels[row]), ch) for row, ch in zip(rows, typed, strict=False))
                measured[name].setdefault(split, {})[category] = [right, len(chosen)]
                print(f"{name}, {split}, {category}: {right}/{len(chosen)}")
    target["bots_rendered"] = {
        "how": "glyphs of each category (all known glyphs of the split, the same bounds), rendered six a captcha by "
        "the service's render and read by the stack simulation's bot (segmentation, then the network)",
        "command": "python -m bench.bench_careful_reader --measure-bots"
        + ("" if section is None else " --floor")
        + ("" if transfer is None else " --transfer " + str(transfer)),
        **measured,
    }
    if section is not None:
        total = sum(drawn.values())
        target["drawn"] = {category: round(weight / total, 4) for category, weight in drawn.items()}
    data_file.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def share(right: int, total: int) -> str:
    return f"{100 * right / total:.1f}% ({right}/{total})" if total else "–"


Rates = dict[str, float]


def reader_shares(data: dict[str, Any], split: str) -> Rates:
    """category -> how often the reader read its glyphs of the split right."""
    counts = reader_rates(data["glyphs"], split)
    return {category: right / total for category, (right, total, _) in counts.items() if total}


def bot_rates(data: dict[str, Any], split: str) -> tuple[Rates, Rates, tuple[str, str]]:
    """The ensemble bot's and the transfer bot's rates per category: through the render where measured (the data
    file's `bots_rendered`), else the ensemble by definition and the transfer bot unrendered; and which."""
    rendered = data.get("bots_rendered", {})
    by_definition = {category: 0.0 if category in MISREADINGS else 1.0 for category in CATEGORIES}
    ensemble = {c: r / n for c, (r, n) in rendered.get("ensemble bot", {}).get(split, {}).items() if n}
    transfer = {c: r / n for c, (r, n) in rendered.get("transfer bot", {}).get(split, {}).items() if n}
    unrendered = transfer_rates(data["bounds"], split)
    how = ("rendered" if ensemble else "by definition", "rendered" if transfer else "unrendered")
    return ensemble or by_definition, transfer or unrendered, how


def category_table(data: dict[str, Any], split: str, meaning: str) -> Table:
    counts = reader_rates(data["glyphs"], split)
    ensemble, transfer, (ensemble_how, transfer_how) = bot_rates(data, split)
    rows: list[list[Cell]] = []
    for category, (right, total, as_ensemble) in counts.items():
        low, high = wilson(right, total)
        rows.append(
            [
                category,
                share(right, total),
                f"{100 * low:.0f}–{100 * high:.0f}%",
                f"{as_ensemble} of {total - right}",
                f"{100 * ensemble[category]:.0f}%",
                f"{100 * transfer[category]:.0f}%",
            ]
        )
    columns = ["the ensemble's reading", "reader right", "95% interval", "misreadings = ensemble's"]
    columns += [f"ensemble bot ({ensemble_how})", f"transfer bot ({transfer_how})"]
    return Table(caption=f"{split} glyphs ({meaning}), read right", columns=columns, rows=rows)


def rule_table(data: dict[str, Any], mix: float) -> Table:
    rows: list[list[Cell]] = []
    for name, split, rule in RULES:
        reader = reader_shares(data, split)
        ensemble, transfer, _ = bot_rates(data, split)
        first = pass_rate(rule_rates(rule, reader, mix))
        rows.append(
            [
                name,
                f"{100 * first:.0f}%",
                f"{100 * (1 - (1 - first) ** 2):.0f}%",
                f"{100 * pass_rate(rule_rates(rule, ensemble, mix)):.0f}%",
                f"{100 * pass_rate(rule_rates(rule, transfer, mix)):.0f}%",
            ]
        )
    return Table(
        caption=f"pass rates from those per-glyph rates ({SCORED_WRONG_ALLOWED} wrong allowed; independent glyphs)",
        columns=["scored glyphs", "reader, first try", "reader, within two", "ensemble bot", "transfer bot"],
        rows=rows,
    )


@dataclass(frozen=True)
class RulePoint:
    """A rule on public glyphs: its scored glyphs' make-up (category -> count), its tolerance, its pass rates."""

    make_up: dict[str, int]
    wrong: int
    people: float
    ensemble_bot: float
    transfer_bot: float

    def beaten_by(self, other: RulePoint) -> bool:
        better_people, fewer_bots = other.people >= self.people, other.ensemble_bot <= self.ensemble_bot
        return better_people and fewer_bots and (other.people, other.ensemble_bot) != (self.people, self.ensemble_bot)


def rule_points(reader: Rates, ensemble: Rates, transfer: Rates, scored: int) -> list[RulePoint]:
    """Every make-up of `scored` glyphs of the kinds selection can draw, with 0 to 2 wrong allowed."""
    kinds = ("confident misreading", "close misreading", "sure right reading")
    points = []
    for confident in range(scored + 1):
        for close in range(scored - confident + 1):
            make_up = dict(zip(kinds, (confident, close, scored - confident - close), strict=True))
            glyphs = [kind for kind, n in make_up.items() for _ in range(n)]
            for wrong in range(3):
                people, bot, transfer_bot = (
                    pass_rate([rates[kind] for kind in glyphs], wrong) for rates in (reader, ensemble, transfer)
                )
                points.append(RulePoint(make_up, wrong, people, bot, transfer_bot))
    return points


def frontier_table(data: dict[str, Any]) -> Table:
    """For 3 scored glyphs (two unlabelled positions left) and 4 (one): the rules no other beats on both the
    reader's and the ensemble bot's pass rates on public glyphs (the trade-off curve), down to a reader's 50%."""
    reader = reader_shares(data, "train")
    ensemble, transfer, _ = bot_rates(data, "train")
    default = {"confident misreading": 0, "close misreading": UNMEASURED_MISREADS_SCORED, "sure right reading": 1}
    rows: list[list[Cell]] = []
    for scored in (SCORED_WHEN_PUBLIC, SCORED_WHEN_PRIVATE):
        points = rule_points(reader, ensemble, transfer, scored)
        frontier: dict[tuple[float, float], RulePoint] = {}
        for point in points:  # of equal points, the first made
            if not any(point.beaten_by(other) for other in points):
                frontier.setdefault((point.people, point.ensemble_bot), point)
        for point in sorted(frontier.values(), key=lambda point: -point.people):
            if point.people < 0.5:
                break
            rows.append(
                [
                    scored,
                    ", ".join(f"{n} {kind}" for kind, n in point.make_up.items() if n),
                    point.wrong,
                    f"{100 * point.people:.0f}%",
                    f"{100 * (1 - (1 - point.people) ** 2):.0f}%",
                    f"{100 * point.ensemble_bot:.1f}%",
                    f"{100 * point.transfer_bot:.0f}%",
                    "the default's make-up" if point.make_up == default and point.wrong == SCORED_WRONG_ALLOWED else "",
                ]
            )
    columns = ["scored", "made of", "wrong allowed", "reader, first try", "reader, within two", "ensemble bot"]
    columns += ["transfer bot", ""]
    return Table(
        caption="the trade-off on public glyphs: the rules no other with as many scored glyphs beats for both "
        "(the study's categories: a close misreading is p ≥ 0.15; the floor tables below choose the floor)",
        columns=columns,
        rows=rows,
    )


# The floors compared for the close misreadings scored before gold readings measure them.
FLOORS: Final = (0.10, 0.15, 0.25, 0.35)


def band_readings(data: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The floor study's band -> (read right, readings): its own glyphs, and the main study's training misreadings
    whose p falls in the band (the same reader, blind, on the same import's glyphs); and the sure right readings."""
    floor = data["floor"]
    counts: dict[str, list[int]] = {band: [0, 0] for band in (*floor["bounds"], "sure right reading")}
    for glyph in floor["glyphs"]:
        counts[glyph["band"]][0] += accepted(glyph["label"], glyph["typed"])
        counts[glyph["band"]][1] += 1
    for glyph in data["glyphs"]:
        if glyph["split"] != "train":
            continue
        if glyph["category"] == "sure right reading":
            band: str | None = "sure right reading"
        elif glyph["category"] in MISREADINGS:
            band = next((b for b, (_, low, high) in floor["bounds"].items() if low <= glyph["p_right"] < high), None)
        else:
            band = None
        if band is not None:
            counts[band][0] += accepted(glyph["label"], glyph["typed"])
            counts[band][1] += 1
    return {band: (right, total) for band, (right, total) in counts.items()}


def floor_rates(data: dict[str, Any], floor: float) -> tuple[float, float, float]:
    """Per close misreading scored at this floor: how often the reader, the ensemble bot (rendered) and the
    transfer bot (unrendered) read it right, the bands mixed as selection draws them."""
    study = data["floor"]
    readings = band_readings(data)
    ensemble = study["bots_rendered"]["ensemble bot"]["train"]
    transfer = transfer_rates(study["bounds"], "train")
    bands = [band for band, (_, low, _) in study["bounds"].items() if low >= floor - 1e-9]
    shares = np.array([study["drawn"][band] for band in bands])
    shares = shares / shares.sum()

    def mixed(rates: Sequence[float]) -> float:
        return float(np.dot(shares, rates))

    return (
        mixed([readings[band][0] / readings[band][1] for band in bands]),
        mixed([ensemble[band][0] / ensemble[band][1] for band in bands]),
        mixed([transfer[band] for band in bands]),
    )


def band_table(data: dict[str, Any]) -> Table:
    study = data["floor"]
    readings = band_readings(data)
    ensemble = study["bots_rendered"]["ensemble bot"]["train"]
    transfer = transfer_rates(study["bounds"], "train")
    rows: list[list[Cell]] = []
    for band in study["bounds"]:
        right, total = readings[band]
        low, high = wilson(right, total)
        rows.append(
            [
                band,
                f"{100 * study['drawn'][band]:.0f}%",
                share(right, total),
                f"{100 * low:.0f}–{100 * high:.0f}%",
                share(*ensemble[band]),
                f"{100 * transfer[band]:.0f}%",
            ]
        )
    return Table(
        caption="close misreadings of public glyphs by the ensemble's probability of a right reading (p), read right",
        columns=["band", "share of the draw", "reader", "95% interval", "ensemble bot (rendered)", "transfer bot"],
        rows=rows,
    )


def floor_table(data: dict[str, Any]) -> Table:
    """The cold-start rule (UNMEASURED_MISREADS_SCORED close misreadings and sure fillers, SCORED_WRONG_ALLOWED
    wrong) at each floor: the trade-off the floor moves along."""
    readings = band_readings(data)
    sure_reader = readings["sure right reading"][0] / readings["sure right reading"][1]
    ensemble_sure, transfer_sure = (rates["sure right reading"] for rates in bot_rates(data, "train")[:2])
    fillers = SCORED_WHEN_PUBLIC - UNMEASURED_MISREADS_SCORED
    rows: list[list[Cell]] = []
    for floor in FLOORS:
        reader, ensemble, transfer = floor_rates(data, floor)
        people = pass_rate([reader] * UNMEASURED_MISREADS_SCORED + [sure_reader] * fillers)
        rows.append(
            [
                f"p ≥ {floor:.2f}",
                f"{100 * reader:.0f}%",
                f"{100 * people:.0f}%",
                f"{100 * (1 - (1 - people) ** 2):.0f}%",
                f"{100 * pass_rate([ensemble] * UNMEASURED_MISREADS_SCORED + [ensemble_sure] * fillers):.0f}%",
                f"{100 * pass_rate([transfer] * UNMEASURED_MISREADS_SCORED + [transfer_sure] * fillers):.0f}%",
                "default" if abs(floor - UNMEASURED_MISREAD_FLOOR) < 1e-9 else "",
            ]
        )
    return Table(
        caption=f"the floor: {UNMEASURED_MISREADS_SCORED} close misreadings at or above it and {fillers} sure glyph "
        f"scored, {SCORED_WRONG_ALLOWED} wrong allowed (public glyphs; independent glyphs)",
        columns=[
            "close misreadings scored",
            "reader per glyph",
            "reader, first try",
            "reader, within two",
            "ensemble bot",
            "transfer bot",
            "",
        ],
        rows=rows,
    )


def live_table(data: dict[str, Any]) -> Table:
    """Each recorded session of live challenges, and the sessions at each floor of the cold-start rule together."""
    rows: list[list[Cell]] = []
    by_floor: dict[float, NDArray[np.int64]] = {}
    for session in data["live"].values():
        counts = live_rows(session)
        if "floor" in session:
            by_floor[session["floor"]] = by_floor.get(session["floor"], np.zeros(4, dtype=np.int64)) + counts
        passed, challenges, right, scored = counts
        rows.append([session["selection"], share(passed, challenges), share(right, scored), session["command"]])
    for floor, totals in by_floor.items():
        passed, challenges, right, scored = (int(count) for count in totals)
        rows.append(
            [
                f"the cold-start rule at p ≥ {floor:.2f}, every sample",
                share(passed, challenges),
                share(right, scored),
                "",
            ]
        )
    return Table(
        caption="live challenges of `make demo` (the committed ensemble active), read blind",
        columns=["selection", "challenges passed", "scored glyphs read right", "captchas"],
        rows=rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--measure-bots", action="store_true", help="measure the bots on a running stack first")
    parser.add_argument("--floor", action="store_true", help="with --measure-bots: the floor study's bands")
    parser.add_argument("--transfer", type=Path, default=None, help="the transfer bot's .tflite (with --measure-bots)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.measure_bots:
        if args.floor:
            measure_bots(args.data, args.transfer, per_category=1200, section="floor")
        else:
            measure_bots(args.data, args.transfer)
    data = json.loads(args.data.read_text(encoding="utf-8"))

    # The old draw took both misreading categories, weighted by how unsure the ensemble was: the 'before' rules
    # mix them as the scored glyphs of the reader's live challenges before the change held them.
    before = [g for c in data["live"]["before"]["captchas"] for g in c["glyphs"] if g["scored"]]
    mix = sum(g["p_right"] < data["bounds"]["confident misreading"][2] for g in before) / len(before)
    tables = [
        category_table(data, "train", "public: the glyphs the service scores"),
        category_table(data, "test", "never trained on: a private split's stand-in"),
        rule_table(data, mix),
        frontier_table(data),
        band_table(data),
        floor_table(data),
        live_table(data),
    ]
    rendered = data.get("bots_rendered")
    notes = [
        f"reader: {data['reader']}",
        f"glyphs: {data['sampling']}",
        "bots: " + (f"{rendered['how']} ({rendered['command']})" if rendered else "not measured through the render"),
        "transfer bot, unrendered: bench/glyph_readings.py's readings (bench/train_transfer.py --split) of every "
        "glyph of the category in its sample",
        f"the old draw's misreadings were {100 * mix:.0f}% confident ones in the live challenges before the change "
        "(the mix used for the 'before' rules)",
    ]
    record(
        "careful_reader",
        command=this_command("bench.bench_careful_reader", argv),
        title="A careful reader on the glyphs selection scores",
        tables=tables,
        notes=notes,
    )
    for table in tables:
        print(table["caption"])
        for row in table["rows"]:
            print("  " + " | ".join(str(cell) for cell in row))
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
