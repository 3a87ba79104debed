"""Benchmark: the full EMNIST import, remove-labels 5000 and stats, against an embedded moto server.

    .venv/bin/python -m bench.bench_import [PATH]     (default: ../shared/data/emnist)

It starts its own emulator, so it does not touch a running `drcaptcha emulator`. Results go in
bench/results/import.json, and from there (`python -m bench.report`) in docs/BENCHMARKS.md, section "EMNIST import".
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from bench.results import Table, record, this_command
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.importer import import_emnist, remove_labels, stats

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
REMOVED_LABELS = 5000


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    with running_emulator() as emulator:
        print(f"emulator at {emulator.endpoint}; {platform.machine()}, Python {platform.python_version()}")

        started = time.perf_counter()
        report = import_emnist(source, progress=False)
        import_seconds = time.perf_counter() - started

        started = time.perf_counter()
        again = import_emnist(source, progress=False)
        reimport_seconds = time.perf_counter() - started

        started = time.perf_counter()
        remove_labels(REMOVED_LABELS, progress=False)
        remove_seconds = time.perf_counter() - started

        started = time.perf_counter()
        counts = stats()
        stats_seconds = time.perf_counter() - started

    print(
        f"import-emnist {source}: {import_seconds:.1f} s ({report.manifest.source}, import {report.manifest.import_id})"
    )
    print(f"re-import (no-op: {again.already_imported}): {reimport_seconds:.1f} s")
    print(f"remove-labels {REMOVED_LABELS}: {remove_seconds:.1f} s")
    print(f"stats: {stats_seconds:.2f} s")
    print(json.dumps(counts))
    record(
        "import",
        command=this_command("bench.bench_import", argv),
        title="EMNIST import, remove-labels and stats against an embedded moto server",
        tables=[
            Table(
                caption=f"Wall time of each step ({report.manifest.source})",
                columns=["step", "seconds"],
                rows=[
                    ["import-emnist into a fresh emulator", import_seconds],
                    [f"import-emnist again (nothing to do: {again.already_imported})", reimport_seconds],
                    [f"remove-labels {REMOVED_LABELS}", remove_seconds],
                    ["stats", stats_seconds],
                ],
            ),
            Table(caption="stats after remove-labels", columns=list(counts), rows=[list(counts.values())]),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
