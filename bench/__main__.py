"""`make bench`: run every benchmark, each in its own process (each starts its own emulator), and report.

The figures and their commands are written up in docs/BENCHMARKS.md; this runner reproduces them on the
machine at hand. `python -m bench NAME ...` runs only the named ones.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = {
    "import": ["bench.bench_import"],
    "render": ["bench.bench_render"],
    "aws_calls": ["bench.bench_aws_calls"],
    "gateway": ["bench.bench_gateway"],
    "training": ["bench.bench_training"],
    "load": ["bench.bench_load"],
    "simulation": ["bench.bench_simulation"],
}


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"bench: unknown benchmark(s) {unknown}; known: {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or list(BENCHMARKS):
        started = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        status = subprocess.call([sys.executable, "-m", *BENCHMARKS[name]])
        print(f"=== {name}: exit {status}, {time.perf_counter() - started:.0f} s ===", flush=True)
        if status != 0:
            failed.append(name)
    if failed:
        print(f"bench: failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
