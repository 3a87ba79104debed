"""Benchmark: the crowd simulation against issue 9's goals, and the plots in docs/plots/.

    .venv/bin/python -m bench.bench_simulation [--challenges N] [--humans N] [--limit N] [--out FILE]

Each scenario runs in a fresh embedded stack (its own import of `--limit` EMNIST images, as many labels removed
as there are challenges), through the library functions the handlers call:
- `base`: humans and 10% bots, production rendering (warp on);
- `no-warp`, `no-hard-selection`: the same crowd with the warp, or the hard-glyph preference, switched off;
- `spam-10`, `spam-20`, `spam-30`: that share of the crowd blind spammers;
- `collude-20`: 20% informed colluders.
Bots and the humans' hard glyphs use the networks of `--network-dir` (fully trained ones, exported by
bench_ensemble), else the demo's quick cnn2 network (cached in .drcaptcha/cache after its first training).
Results: one JSON file, a summary table on stdout, and two plots: docs/plots/accuracy_by_votes.png and
docs/plots/pass_rates_by_spam.png. The scenarios go in bench/results/simulation.json (with those of `--plot-with`,
when a run is split over two invocations with `--only`), and from there (`python -m bench.report`) in
docs/BENCHMARKS.md, section "Crowd simulation".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bench_ensemble import TRAINED_EXPORT
from bench.results import Cell, Table, record, this_command
from drcaptcha_ops.demo import find_emnist
from drcaptcha_ops.simulation.run import SimulationConfig
from drcaptcha_ops.simulation.stack import StackPlan, best_network, fresh_stack, simulate

PLOTS = Path(__file__).resolve().parents[1] / "docs" / "plots"
TRAINED_VGG = TRAINED_EXPORT / "vgg"
SPAM_SHARES = (0.1, 0.2, 0.3)


def scenarios(humans: int, challenges: int) -> dict[str, SimulationConfig]:
    bots = max(1, humans // 9)
    runs = {
        "base": SimulationConfig(humans=humans, bots=bots, challenges=challenges, seed=1),
        "no-warp": SimulationConfig(humans=humans, bots=bots, challenges=challenges, seed=1, warp=False),
        "no-hard-selection": SimulationConfig(
            humans=humans, bots=bots, challenges=challenges, seed=1, hard_selection=False
        ),
    }
    for share in SPAM_SHARES:
        spammers = round(humans * share / (1 - share))
        runs[f"spam-{round(share * 100)}"] = SimulationConfig(
            humans=humans, spammers=spammers, challenges=challenges, seed=2
        )
    colluders = round(humans * 0.2 / 0.8)
    runs["collude-20"] = SimulationConfig(humans=humans, colluders=colluders, challenges=challenges, seed=3)
    return runs


def run_scenario(config: SimulationConfig, plan: StackPlan, network_dirs: Sequence[Path] = ()) -> dict[str, Any]:
    with fresh_stack(plan) as removed:
        network, name = best_network(lambda text: print(text, file=sys.stderr), network_dirs)
        return simulate(config, removed, network, name, progress=True).as_dict()


def plot(results: dict[str, dict[str, Any]], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for name in [name for name in ("base", "spam-20", "collude-20") if name in results]:
        rows = results[name]["accuracy_by_votes"]
        votes = [row["votes"] for row in rows]
        axes.plot(votes, [100 * row["majority"] for row in rows], "o--", label=f"{name}: majority vote")
        axes.plot(votes, [100 * row["dawid_skene"] for row in rows], "s-", label=f"{name}: Dawid-Skene")
    axes.axhline(99.5, color="grey", linewidth=0.8, linestyle=":")
    axes.set_xlabel("votes per glyph (the first k it received)")
    axes.set_ylabel("label accuracy against truth/ (%)")
    axes.set_title("Label accuracy against votes per glyph")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "accuracy_by_votes.png", dpi=110)
    plt.close(figure)

    runs = [(0.0, "base"), *((share, f"spam-{round(share * 100)}") for share in SPAM_SHARES)]
    shares, names = zip(*[(share, name) for share, name in runs if name in results], strict=True)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for kind in ("human", "spammer"):
        rates = [results[name]["pass_rates"][kind]["pass_rate"] for name in names]
        points = [(100 * s, 100 * r) for s, r in zip(shares, rates, strict=True) if r is not None]
        axes.plot(*zip(*points, strict=True), "o-", label=f"{kind}s pass")
    accuracy = [results[name]["label_accuracy"] for name in names]
    axes.plot([100 * s for s in shares], [100 * (a or 0) for a in accuracy], "s--", label="label accuracy (live rule)")
    axes.set_xlabel("blind spammers in the crowd (%)")
    axes.set_ylabel("%")
    axes.set_ylim(0, 101)
    axes.set_title("Pass rates and label accuracy against the spammer share")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "pass_rates_by_spam.png", dpi=110)
    plt.close(figure)


SUMMARY_COLUMNS = [
    "run",
    "humans pass",
    "spammers pass",
    "colluders pass",
    "bots pass",
    "accepted",
    "accuracy",
    "MV (all)",
    "DS (all)",
    "coverage",
    "votes/label",
    "late votes",
]


def summary_rows(results: dict[str, dict[str, Any]]) -> list[list[Cell]]:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.2f}%"

    rows: list[list[Cell]] = []
    for name, r in results.items():
        rates = {kind: r["pass_rates"][kind]["pass_rate"] for kind in r["pass_rates"]}
        votes_per_label = r["votes_per_label"]
        rows.append(
            [
                name,
                pct(rates["human"]),
                pct(rates["spammer"]),
                pct(rates["colluder"]),
                pct(rates["bot"]),
                r["labels_accepted"],
                pct(r["label_accuracy"]),
                pct(r["majority_accuracy"]),
                pct(r["dawid_skene_accuracy"]),
                pct(r["coverage"]),
                "n/a" if votes_per_label is None else f"{votes_per_label:.2f}",
                r["late_votes"],
            ]
        )
    return rows


def summary(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in summary_rows(results)]
    return "\n".join(lines)


SCORING_COLUMNS = ["run", "agents", "attempts", "scored glyph accuracy", "pass: all right", "pass: one wrong allowed"]


def scoring_rows(results: dict[str, dict[str, Any]]) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for name, result in results.items():
        for kind, figures in result["scoring_rules"]["kinds"].items():
            rows.append(
                [
                    name,
                    kind,
                    figures["attempts"],
                    f"{figures['scored_glyph_accuracy']:.2%}",
                    f"{figures['pass_rate_exact']:.2%}",
                    f"{figures['pass_rate_one_tolerated']:.2%}",
                ]
            )
    return rows


def projection_tables(results: dict[str, dict[str, Any]]) -> list[Table]:
    """For the base run: the pass rates other rules would give, projected from the per-glyph accuracies."""
    base = results.get("base")
    if base is None or not {"human", "bot"} <= set(base["scoring_rules"]["kinds"]):
        return []
    rows: list[list[Cell]] = [
        [row["scored"], row["tolerance"], f"{row['human']:.1%}", f"{row['bot']:.1%}"]
        for row in base["scoring_rules"]["projection"]
    ]
    return [
        Table(
            caption="base run, projected (binomial on the measured per-glyph accuracies): scored glyphs, wrong ones "
            "allowed, humans' and bots' pass rates; goals: humans ≥ 90%, bots ≤ 5%",
            columns=["scored glyphs", "wrong allowed", "humans pass", "bots pass"],
            rows=rows,
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--challenges", type=int, default=400)
    parser.add_argument("--humans", type=int, default=100)
    parser.add_argument("--limit", type=int, default=40_000)
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    parser.add_argument("--out", type=Path, default=Path("bench_simulation.json"))
    parser.add_argument("--plot-with", type=Path, help="a JSON file of earlier results to plot along")
    parser.add_argument(
        "--network-dir",
        type=Path,
        action="append",
        default=[],
        help="a fully trained network (bench_ensemble --export); repeat for an ensemble; default: the trained "
        "vgg if exported, else the demo's quick cnn2",
    )
    args = parser.parse_args()
    if not args.network_dir and (TRAINED_VGG / "item.json").is_file():
        args.network_dir = [TRAINED_VGG]
    emnist = find_emnist()
    if emnist is None:
        print("bench_simulation: no EMNIST folder found", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for name, config in scenarios(args.humans, args.challenges).items():
        if args.only and name not in args.only:
            continue
        print(f"--- {name}", file=sys.stderr, flush=True)
        plan = StackPlan(emnist=emnist, limit=args.limit, remove=args.challenges)
        results[name] = run_scenario(config, plan, args.network_dir)
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    measured = dict(results)
    if args.plot_with:
        # Scenarios measured by an earlier invocation (e.g. split over two runs), plotted together with these.
        results = {**json.loads(args.plot_with.read_text(encoding="utf-8")), **results}
    if "base" in results and len(results) > 1:
        plot(results, PLOTS)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"date: {time.strftime('%Y-%m-%d')}, total {time.perf_counter() - started:.0f} s")
    print(summary(results))
    record(
        "simulation",
        command=this_command("bench.bench_simulation", sys.argv[1:]),
        title="The crowd simulation against issue 9's goals",
        tables=[
            Table(
                caption=f"{args.challenges} challenges, {args.humans} humans, {args.limit:,} EMNIST images a scenario",
                columns=SUMMARY_COLUMNS,
                rows=summary_rows(results),
            ),
            Table(
                caption="scored glyphs: accuracy per glyph, and pass rates under the live rule and with one wrong "
                "scored glyph tolerated, judged on the same recorded attempts",
                columns=SCORING_COLUMNS,
                rows=scoring_rows(results),
            ),
            *projection_tables(results),
        ],
        notes=[
            f"{', '.join(sorted(set(results) - set(measured)))} measured by an earlier invocation with the same "
            f"options (another --only), read from {args.plot_with}; the others by this one"
        ]
        if set(results) - set(measured)
        else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
