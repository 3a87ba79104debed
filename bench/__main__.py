"""`make bench`: run every benchmark, each in its own process (each starts its own emulator), and report.

Each benchmark writes its figures, command, machine and date to bench/results/<name>.json (`bench.results`);
after the runs, `bench.report` regenerates the marked blocks of docs/BENCHMARKS.md from those files. A results
file older than this run (its benchmark failed, was skipped, or was not named) is listed as stale: its block
still shows the earlier run. `python -m bench NAME ...` runs only the named ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.results import results_dir

# The key is also the results file's name: bench/results/<key>.json.
BENCHMARKS = {
    "import": ["bench.bench_import"],
    "render": ["bench.bench_render"],
    "aws_calls": ["bench.bench_aws_calls"],
    "aws_clients": ["bench.bench_aws_clients"],
    "gateway": ["bench.bench_gateway"],
    "training": ["bench.bench_training"],
    # Needs the fully trained networks in .drcaptcha/trained (bench/bench_ensemble.py says how to train them).
    "ensemble": ["bench.bench_ensemble"],
    "recognize": ["bench.bench_recognize"],
    "consumer": ["bench.bench_consumer"],
    "load": ["bench.bench_load"],
    "simulation": ["bench.bench_simulation"],
    # Rewrites the lookalike table and the widget's hint from the committed confusion matrix and the readings.
    "lookalikes": ["bench.derive_lookalikes"],
    "readings": ["bench.bench_readings"],
    "people": ["bench.bench_people"],
    # Replays a careful reader's recorded readings (bench/data/careful-reader.json).
    "careful_reader": ["bench.bench_careful_reader"],
    "pool_size": ["bench.bench_pool_size"],
    "pow": ["bench.bench_pow"],
    "repeats": ["bench.bench_repeats"],
}


def stale_results(folder: Path, since: datetime) -> dict[str, str]:
    """Results files whose run is older than `since`: name -> the date they were measured (or why unreadable)."""
    stale = {}
    for path in sorted(folder.glob("*.json")):
        try:
            date = str(json.loads(path.read_text(encoding="utf-8"))["date"])
            if datetime.fromisoformat(date) < since:
                stale[path.stem] = date
        except (OSError, ValueError, KeyError, TypeError) as error:
            stale[path.stem] = f"unreadable ({error})"
    return stale


def run_benchmarks(names: list[str]) -> list[str]:
    """Run each benchmark in its own process; return the names of those that failed."""
    failed = []
    for name in names:
        started = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        status = subprocess.call([sys.executable, "-m", *BENCHMARKS[name]])
        print(f"=== {name}: exit {status}, {time.perf_counter() - started:.0f} s ===", flush=True)
        if status != 0:
            failed.append(name)
    return failed


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"bench: unknown benchmark(s) {unknown}; known: {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    # Results carry their date to the second: a run that starts within this second still counts as this run's.
    run_started = datetime.now(UTC).replace(microsecond=0)
    selected = names or list(BENCHMARKS)
    failed = run_benchmarks(selected)
    if failed:
        print(f"bench: failed: {failed}", file=sys.stderr)

    print("\n=== report ===", flush=True)
    report_status = report.main([])
    stale = stale_results(results_dir(), run_started)
    for name, date in stale.items():
        why = "failed" if name in failed else "not run" if name not in selected else "wrote no results"
        print(f"bench: stale: {results_dir() / name}.json is from {date} ({why} this time)", file=sys.stderr)
    missing = [name for name in selected if name not in failed and not (results_dir() / f"{name}.json").is_file()]
    if missing:
        print(f"bench: {missing} ran but wrote no results file", file=sys.stderr)
    return 1 if failed or report_status != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
