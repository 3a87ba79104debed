"""Derive the lookalike groups (classes people cannot tell apart in handwriting) from data, and write the table.

    .venv/bin/python -m bench.derive_lookalikes [--network .drcaptcha/trained/vgg.keras --data SPLIT.npz]
        [--confusion bench/data/network-confusion.json] [--readings ../shared/data/readings/readings.csv]

Two sources, each a table of counts: how many glyphs of class a were read as class b.
- The network: its confusion matrix on the balanced-equivalent test split (400 glyphs a class). `--network`
  computes it from a saved Keras model and writes it to `--confusion` (committed, so that the derivation reruns
  without the network); without `--network` the committed file is read.
- People's readings of real captchas (`readings.csv`, see its README): the glyph's class against the class the
  typed character names under the EMNIST merge rule (typing "o" for an O glyph is no misreading).

The rule, for every pair of classes {a, b} and each source:
- k = glyphs of a read as b + glyphs of b read as a; n = glyphs of a + glyphs of b; the **two-way confusion
  rate** is k / n (on the balanced test split, the mean of the two one-way rates).
  Why two-way: if a share s of the glyphs of a and b are drawn alike, a reader who cannot separate them reads
  those glyphs as one class or the other. However the reader leans (always "1", or half and half), the two-way
  rate comes out near s / 2, so it measures the shapes, not the reader's habit. A pair that nobody can tell
  apart at all (s = 1, a coin toss) has a two-way rate of 0.5.
- Its 95% lower confidence bound (Wilson) guards against small counts: 1 of 2 readings is no evidence.
- a and b are **lookalikes** when that lower bound reaches THRESHOLD = 0.10 in either source, and groups are
  the lookalike pairs merged transitively (connected components).
- Why 0.10: it is twice the top of the 5-10% slip that issue 15 contrasts with a coin toss, so no slip rate
  explains it; it means that at least a fifth of the two classes' glyphs are drawn alike (s >= 0.2); and a
  glyph of such a class, scored, fails at least one reader in ten by itself, three times the whole per-glyph
  error budget of the goal (>= 90% of people pass three scored glyphs: 0.9 ** (1/3) = 96.5% a glyph). A lower
  threshold would let the network's own weakness (one at 85-90% errs on 10-15% of glyphs) make groups, and
  chains of pairs merge them into large ones. The threshold was fixed before the figures were computed.

It writes the table (`layers/drcaptcha/python/drcaptcha/lookalikes.json`: the groups, the rule, each group's
figures), the widget's hint line (web/widget.js), and bench/results/lookalikes.json: every candidate pair's
figures for docs/BENCHMARKS.md (`python -m bench.report`).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bench.results import REPO_ROOT, Cell, Table, record, this_command
from drcaptcha import charset, lookalikes

THRESHOLD: Final = 0.10
Z_95: Final = 1.959964
DEFAULT_CONFUSION: Final = REPO_ROOT / "bench" / "data" / "network-confusion.json"
DEFAULT_READINGS: Final = REPO_ROOT.parent / "shared" / "data" / "readings" / "readings.csv"
WIDGET: Final = REPO_ROOT / "web" / "widget.js"
HINT_LINE: Final = re.compile(r'^(\s*var EQUIVALENCE_HINT = )".*";$', re.MULTILINE)
# The pairs issue 15 names, and the lookalikes the crowd simulation assumes: always listed, grouped or not.
CANDIDATES: Final = ("2Z", "5S", "9g", "9q", "gq", "O0", "OQ", "OD", "0D", "1I", "1L", "IL", "17", "8B", "83", "6b")
CANDIDATES_MORE: Final = ("4A", "UV", "CG", "nh", "rt", "ae", "MN", "EF", "Ff", "1t", "4t", "2d", "a9", "PD")
LISTED_RATE: Final = 0.02


@dataclass(frozen=True)
class Source:
    """One source of readings: counts[a, b] = glyphs of class a read as class b (a row's sum: glyphs of a)."""

    name: str
    counts: NDArray[np.int64]
    totals: NDArray[np.int64]

    @classmethod
    def of(cls, name: str, counts: NDArray[np.int64], totals: NDArray[np.int64] | None = None) -> Source:
        counts = np.asarray(counts, dtype=np.int64)
        return cls(name, counts, counts.sum(axis=1) if totals is None else np.asarray(totals, dtype=np.int64))


@dataclass(frozen=True)
class PairFigures:
    a: int
    b: int
    source: str
    a_as_b: int
    b_as_a: int
    glyphs_a: int
    glyphs_b: int

    @property
    def confused(self) -> int:
        return self.a_as_b + self.b_as_a

    @property
    def glyphs(self) -> int:
        return self.glyphs_a + self.glyphs_b

    @property
    def rate(self) -> float:
        return self.confused / self.glyphs if self.glyphs else 0.0

    @property
    def lower(self) -> float:
        return wilson_lower(self.confused, self.glyphs)


def wilson_lower(k: int, n: int, z: float = Z_95) -> float:
    """The Wilson score interval's lower end for k successes in n trials (0 for no trials)."""
    if n <= 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


def pair_figures(source: Source, a: int, b: int) -> PairFigures:
    return PairFigures(
        a,
        b,
        source.name,
        int(source.counts[a, b]),
        int(source.counts[b, a]),
        int(source.totals[a]),
        int(source.totals[b]),
    )


def lookalike_pairs(sources: Sequence[Source], threshold: float = THRESHOLD) -> list[tuple[int, int]]:
    """The pairs whose two-way confusion rate's lower bound reaches `threshold` in at least one source."""
    size = sources[0].counts.shape[0]
    return [
        (a, b)
        for a, b in itertools.combinations(range(size), 2)
        if any(pair_figures(source, a, b).lower >= threshold for source in sources)
    ]


def merge(pairs: Iterable[tuple[int, int]]) -> list[frozenset[int]]:
    """The connected components of the pairs (transitive merging), each sorted by its smallest class."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in pairs:
        parent[root(a)] = root(b)
    components: dict[int, set[int]] = {}
    for node in list(parent):
        components.setdefault(root(node), set()).add(node)
    return sorted((frozenset(group) for group in components.values()), key=min)


def derive(sources: Sequence[Source], threshold: float = THRESHOLD) -> list[frozenset[int]]:
    return merge(lookalike_pairs(sources, threshold))


# --- the sources ------------------------------------------------------------------------------------------------
def readings_source(path: Path) -> Source:
    """People's readings: each glyph's class against the class its typed character names (merge rule)."""
    counts = np.zeros((charset.NUM_CLASSES, charset.NUM_CLASSES), dtype=np.int64)
    totals = np.zeros(charset.NUM_CLASSES, dtype=np.int64)
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            label = int(row["label"])
            totals[label] += 1
            typed = charset.class_of(row["typed"])
            if typed is not None:
                counts[label, typed] += 1
    return Source.of("readings", counts, totals)


def network_confusion(model_path: Path, split_path: Path) -> tuple[NDArray[np.int64], float]:
    """The confusion counts (true class x predicted class) of a saved Keras model on the test split."""
    import keras

    from drcaptcha_train.train import predict

    with np.load(split_path) as stored:
        images, labels = stored["x_test"], stored["y_test"].astype(np.int64)
    predicted = predict(keras.saving.load_model(model_path), images).argmax(axis=1)
    counts = np.zeros((charset.NUM_CLASSES, charset.NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts, float((predicted == labels).mean())


def read_confusion(path: Path) -> tuple[Source, dict[str, Any]]:
    stored = json.loads(path.read_text(encoding="utf-8"))
    if stored["classes"] != charset.CLASSES:
        raise ValueError(f"{path}: the confusion matrix is not over the 47 classes in charset order")
    return Source.of("network", np.array(stored["counts"], dtype=np.int64)), stored


# --- the outputs ------------------------------------------------------------------------------------------------
def characters(group: Iterable[int]) -> list[str]:
    return [charset.character_of(label) for label in sorted(group)]


def pair_name(a: int, b: int) -> str:
    return f"{charset.character_of(a)}/{charset.character_of(b)}"


def listed_pairs(sources: Sequence[Source]) -> list[tuple[int, int]]:
    """The named candidates, and every pair whose two-way rate reaches LISTED_RATE in a source."""
    named = {
        (min(a, b), max(a, b))
        for a, b in (
            (charset.CLASSES.index(pair[0]), charset.CLASSES.index(pair[1])) for pair in CANDIDATES + CANDIDATES_MORE
        )
    }
    seen = {
        (a, b)
        for a, b in itertools.combinations(range(charset.NUM_CLASSES), 2)
        if any(pair_figures(source, a, b).rate >= LISTED_RATE for source in sources)
    }
    return sorted(named | seen, key=lambda pair: -max(pair_figures(source, *pair).lower for source in sources))


def one_way(figures: PairFigures) -> str:
    return f"{figures.a_as_b}/{figures.glyphs_a} · {figures.b_as_a}/{figures.glyphs_b}"


def pair_row(sources: Sequence[Source], a: int, b: int, threshold: float) -> list[Cell]:
    row: list[Cell] = [pair_name(a, b)]
    for source in sources:
        figures = pair_figures(source, a, b)
        row += [one_way(figures), round(100 * figures.rate, 2), round(100 * figures.lower, 2)]
    grouped = any(pair_figures(source, a, b).lower >= threshold for source in sources)
    row.append("lookalikes" if grouped else "no")
    return row


def write_table(path: Path, groups: list[frozenset[int]], sources: Sequence[Source], meta: dict[str, Any]) -> None:
    joined = lookalike_pairs(sources, meta["threshold"])
    table = {
        "groups": [characters(group) for group in groups],
        "hint": lookalikes.equivalence_hint(tuple(groups)),
        **meta,
        "figures": {
            "".join(characters(group)): [
                {
                    "pair": pair_name(a, b),
                    **{
                        source.name: {
                            "a_as_b": (f := pair_figures(source, a, b)).a_as_b,
                            "b_as_a": f.b_as_a,
                            "glyphs": f.glyphs,
                            "rate": round(f.rate, 4),
                            "lower": round(f.lower, 4),
                        }
                        for source in sources
                    },
                }
                for a, b in joined
                if a in group
            ]
            for group in groups
        },
    }
    path.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_hint(widget: Path, hint: str) -> None:
    text = widget.read_text(encoding="utf-8")
    updated, replaced = HINT_LINE.subn(lambda match: f"{match.group(1)}{json.dumps(hint)};", text)
    if replaced != 1:
        raise ValueError(f'{widget}: expected one `var EQUIVALENCE_HINT = "...";` line, found {replaced}')
    widget.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--network", type=Path, help="a saved Keras model: recompute the confusion matrix")
    parser.add_argument("--data", type=Path, help="the split as an .npz (bench.bench_training --write-npz)")
    parser.add_argument("--network-name", default="vgg", help="what to call the network in the table")
    parser.add_argument("--epochs", type=int, help="how long the network was trained, for the table")
    parser.add_argument("--confusion", type=Path, default=DEFAULT_CONFUSION)
    parser.add_argument("--readings", type=Path, default=DEFAULT_READINGS)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--table", type=Path, default=lookalikes.TABLE_FILE)
    parser.add_argument("--widget", type=Path, default=WIDGET)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    if args.network:
        if not args.data:
            parser.error("--network needs --data, the split it is scored on")
        counts, accuracy = network_confusion(args.network, args.data)
        args.confusion.parent.mkdir(parents=True, exist_ok=True)
        stored = {
            "network": args.network_name,
            "epochs": args.epochs,
            "accuracy": round(accuracy, 5),
            "test_glyphs": int(counts.sum()),
            "classes": charset.CLASSES,
            "counts": counts.tolist(),
        }
        args.confusion.write_text(json.dumps(stored, separators=(",", ":")) + "\n", encoding="utf-8")
    people = readings_source(args.readings)
    described = {"readings": f"{int(people.totals.sum())} glyph readings of 48 live captchas (readings.csv)"}
    sources = [people]
    if args.confusion.exists():
        network, stored = read_confusion(args.confusion)
        sources.insert(0, network)
        how_long = f"{stored['epochs']} epochs, " if stored.get("epochs") else ""
        described["network"] = (
            f"{stored['network']} ({how_long}{100 * stored['accuracy']:.2f}%) on the balanced-equivalent test "
            f"split, {stored['test_glyphs']:,} glyphs"
        )
    else:
        print(f"no confusion matrix at {args.confusion}: deriving from the readings alone", file=sys.stderr)
    groups = derive(sources, args.threshold)
    rule = (
        f"a pair is grouped when the 95% lower bound (Wilson) of its two-way confusion rate reaches "
        f"{args.threshold:.2f} in either source; groups merge pairs transitively"
    )
    meta = {
        "rule": rule,
        "threshold": args.threshold,
        "sources": described,
        "command": "python -m bench.derive_lookalikes",
    }
    write_table(args.table, groups, sources, meta)
    hint = lookalikes.equivalence_hint(tuple(groups))
    write_hint(args.widget, hint)
    rows = [pair_row(sources, a, b, args.threshold) for a, b in listed_pairs(sources)]
    columns = ["pair a/b"]
    for source in sources:
        columns += [f"{source.name}: a as b · b as a", f"{source.name} two-way %", f"{source.name} lower bound %"]
    columns.append("verdict")
    groups_text = "; ".join("{" + ", ".join(characters(group)) + "}" for group in groups) or "none"
    notes = [
        f"groups: {groups_text}; widget hint: {hint!r}",
        f"rule: {rule}",
        "; ".join(f"{name}: {text}" for name, text in described.items()),
        "a/b counts: glyphs of a read as b out of glyphs of a, then the reverse; the readings count a typed "
        "character by the class it names under the EMNIST merge rule",
        "listed: the candidates issue 15 names and the crowd simulation assumes, and every pair at a two-way "
        f"rate of {100 * LISTED_RATE:.0f}% or more in either source; t/+ cannot be a group: + is not an EMNIST class",
    ]
    record(
        "lookalikes",
        command=this_command("bench.derive_lookalikes", argv),
        title="Lookalike groups: the classes people cannot tell apart",
        tables=[Table(caption="candidate pairs, most confused first", columns=columns, rows=rows)],
        notes=notes,
    )
    print(f"groups: {groups_text}")
    print(f"hint: {hint}")


if __name__ == "__main__":
    main()
