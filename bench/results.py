"""The figures of a benchmark run, written as JSON for `python -m bench.report` to turn into docs/BENCHMARKS.md.

Every benchmark calls `record` once, at the end of its run, with what it printed:

    from bench.results import Table, record, this_command

    record(
        "render",                                     # bench/results/render.json; the doc's <!-- bench:render -->
        command=this_command("bench.bench_render", argv),  # or a shell line: "KERAS_BACKEND=jax python3 ..."
        title="Captcha rendering against the captcha package",
        tables=[
            Table(
                caption="ms per image",
                columns=["renderer", "CPU p50 ms", "wall p50 ms"],
                rows=[["drcaptcha", 0.845, 1.2], ["captcha", 5.913, 13.8]],
            )
        ],
        notes=["speed-up 7.0x in median CPU time (goal 10x: not met)"],
    )

`record(name, *, command, title, tables, notes=None) -> Path` writes bench/results/<name>.json (or under
$BENCH_RESULTS_DIR, which tests and trial runs use to keep the committed files apart) with:
- `command`: the command line as one shell string (`this_command` rebuilds it from the module and its argv, so
  the figure can be reproduced), and `argv` when it was given as a list;
- `machine`: `describe_machine()`, the same description for every bench: architecture, CPU model, CPU count,
  memory, Python, and the load average when this module was imported (the process start) and at `record`;
- `date`: UTC, ISO 8601 to the second; `seconds`: the run's duration since this module was imported;
- `tables`: each a `Table` (caption, column names, rows of str / int / float / bool / None cells);
- `notes`: one line each (a verdict, the data used, a caveat).
The name is the benchmark's name in bench/__main__.py, so `python -m bench` can tell which files a run left stale.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS_DIR_ENV = "BENCH_RESULTS_DIR"

Cell = str | int | float | bool | None


class Table(TypedDict):
    caption: str
    columns: list[str]
    rows: list[list[Cell]]


def load_average() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


# Taken when a bench imports this module, i.e. when its process starts: the load the run began under.
_STARTED_AT = time.monotonic()
_LOAD_AT_START = load_average()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def describe_machine() -> dict[str, Any]:
    """The machine a run measured, the same way for every bench."""
    return {
        "arch": platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib(),
        "system": platform.system(),
        "python": platform.python_version(),
        "load_start": _LOAD_AT_START,
        "load_end": load_average(),
    }


def machine_summary(machine: dict[str, Any]) -> str:
    """One line: `x86_64 AMD EPYC, 2 CPUs, 23.5 GiB, Python 3.11.7, load average 2.3 → 4.1`."""
    parts = [f"{machine.get('arch', '?')} {machine.get('cpu', '')}".strip(), f"{machine.get('cpus', '?')} CPUs"]
    if machine.get("memory_gib"):
        parts.append(f"{machine['memory_gib']} GiB")
    parts.append(f"Python {machine.get('python', '?')}")
    start, end = machine.get("load_start"), machine.get("load_end")
    if start is not None and end is not None:
        parts.append(f"load average {start:.1f} → {end:.1f}")
    return ", ".join(parts)


def python_command() -> str:
    """This interpreter, relative to the repository when it is the project's venv (`.venv/bin/python`)."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(REPO_ROOT))
    except ValueError:
        return "python"


def this_command(module: str, argv: list[str] | None = None) -> list[str]:
    """The argv that reruns `python -m module` with these arguments (default: this process's own)."""
    return [python_command(), "-m", module, *(sys.argv[1:] if argv is None else argv)]


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_DIR_ENV) or RESULTS_DIR)


def record(
    name: str,
    *,
    command: list[str] | str,
    title: str,
    tables: list[Table],
    notes: list[str] | None = None,
) -> Path:
    """Write the run's figures to `<results dir>/<name>.json`; return the path."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"a results name is letters, digits, '-' and '_': {name!r}")
    for table in tables:
        width = len(table["columns"])
        if any(len(row) != width for row in table["rows"]):
            raise ValueError(f"{name}: every row of {table['caption']!r} needs {width} cells")
    result: dict[str, Any] = {
        "name": name,
        "title": title,
        "command": command if isinstance(command, str) else shlex.join(command),
        "argv": None if isinstance(command, str) else list(command),
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "seconds": round(time.monotonic() - _STARTED_AT, 1),
        "machine": describe_machine(),
        "tables": [dict(table) for table in tables],
        "notes": list(notes or []),
    }
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {path}", file=sys.stderr)
    return path
