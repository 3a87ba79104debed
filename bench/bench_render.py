"""Benchmark: rendering a 6-glyph captcha against the PyPI `captcha` package, in the same run.

    .venv/bin/python -m bench.bench_render [--images N] [--burst K[,K...]] [--emnist PATH]

Both renderers make one PNG per call: ours from six EMNIST glyphs (`drcaptcha.render.render_captcha`, 320x80,
grey), theirs from six characters (`captcha.image.ImageCaptcha().generate("ABC123")`, 160x60, RGB, its
default size).

How it measures, for a shared machine whose load changes from second to second:
- The renderers take turns in one loop, A, B, A, B, ..., K images a turn (a burst), so a busy neighbour slows
  both alike. With K = 1 each call starts with caches that the other renderer has just filled with its own
  code and data ("cold"); a larger K lets a renderer run warm after its first image.
- Every burst mode of `--burst` (default 1,10) is measured in the same run, for issue 9's "each side-by-side
  comparison is measured in one run": the modes are interleaved too. A round gives every mode the same number
  of images per renderer (the least common multiple of the bursts), one mode after the other, and the run is
  `--images` / that many rounds, so a change in the machine's load reaches every mode and renderer alike.
- Every image is timed twice: CPU time of this thread (`time.thread_time`, which leaves out the time the
  scheduler gave to other processes) and wall time (`time.perf_counter`). Medians are the headline: a few
  calls that a neighbour's burst or the garbage collector hit would move a mean a lot.
Results go in bench/results/render.json, and from there (`python -m bench.report`) in docs/BENCHMARKS.md,
section "Captcha rendering".
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from captcha.image import ImageCaptcha
from numpy.typing import NDArray

from bench.results import Table, record, this_command
from drcaptcha.render import render_captcha
from drcaptcha_ops.emnist import parse_idx_images
from drcaptcha_train.option_types import distinct_positive_ints

DEFAULT_EMNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
IMAGES_FILE = "emnist-bymerge-test-images-idx3-ubyte.gz"
TEXT = "ABC123"
WARM_UP = 20
GOAL_RATIO = 10.0


def six_glyphs(folder: Path) -> NDArray[np.uint8]:
    """Six real glyphs when the EMNIST files are there; six random scribbles otherwise (timing barely differs)."""
    path = folder / IMAGES_FILE
    if path.is_file():
        return parse_idx_images(path.read_bytes(), str(path))[:6]
    scribbles = np.random.default_rng(0).random((6, 28, 28)) > 0.8
    return (scribbles * 255).astype(np.uint8)


def time_calls(render: Callable[[], bytes], count: int, wall: list[float], cpu: list[float]) -> None:
    """Appends the wall-clock and thread CPU seconds of each of `count` calls."""
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.thread_time()
        render()
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)


def summary_ms(wall: list[float], cpu: list[float]) -> dict[str, float]:
    ordered = sorted(wall)
    return {
        "p50_ms": statistics.median(wall) * 1e3,
        "mean_ms": statistics.fmean(wall) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3,
        "cpu_p50_ms": statistics.median(cpu) * 1e3,
        "cpu_mean_ms": statistics.fmean(cpu) * 1e3,
    }


def mode_results(wall: dict[str, list[float]], cpu: dict[str, list[float]], sizes: dict[str, int]) -> dict[str, Any]:
    """One burst mode's figures: each renderer's summary, ours over theirs, and the verdict on the goal."""
    renderers = {name: {**summary_ms(wall[name], cpu[name]), "png_bytes": sizes[name]} for name in wall}
    ours, theirs = renderers.values()
    results: dict[str, Any] = {"renderers": renderers}
    for key in ("cpu_p50_ms", "p50_ms", "cpu_mean_ms", "mean_ms"):
        results[f"speedup_{key.removesuffix('_ms')}"] = theirs[key] / ours[key]
    results["goal_met"] = results["speedup_cpu_p50"] >= GOAL_RATIO
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images per renderer and burst mode (default 1000)")
    parser.add_argument(
        "--burst",
        type=distinct_positive_ints,
        default=[1, 10],
        help="images a renderer makes per turn; each mode of a comma-separated list is measured (default 1,10)",
    )
    parser.add_argument("--emnist", type=Path, default=DEFAULT_EMNIST, help="folder of the EMNIST gzip files")
    args = parser.parse_args(argv)
    bursts: list[int] = args.burst
    per_round = math.lcm(*bursts)
    if args.images < per_round:
        parser.error(f"--images must be at least {per_round} (the least common multiple of --burst)")

    glyphs = six_glyphs(args.emnist)
    rng = np.random.default_rng()
    generator = ImageCaptcha()
    renderers: dict[str, Callable[[], bytes]] = {
        "drcaptcha render_captcha (6 glyphs)": lambda: render_captcha(glyphs, rng),
        f'captcha ImageCaptcha.generate("{TEXT}")': lambda: generator.generate(TEXT).getvalue(),
    }
    sizes = {name: len(render()) for name, render in renderers.items()}
    for render in renderers.values():
        time_calls(render, WARM_UP, [], [])
    wall: dict[int, dict[str, list[float]]] = {burst: {name: [] for name in renderers} for burst in bursts}
    cpu: dict[int, dict[str, list[float]]] = {burst: {name: [] for name in renderers} for burst in bursts}
    load_before = os.getloadavg()[0]
    rounds = args.images // per_round
    for _ in range(rounds):
        for burst in bursts:
            for _ in range(per_round // burst):
                for name, render in renderers.items():
                    time_calls(render, burst, wall[burst][name], cpu[burst][name])
    load_after = os.getloadavg()[0]

    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average": (load_before, load_after),
        "images": rounds * per_round,
        "bursts": bursts,
        "modes": {burst: mode_results(wall[burst], cpu[burst], sizes) for burst in bursts},
    }

    modes = ", ".join(f"{burst} a turn" for burst in bursts)
    print(
        f"{results['images']} images per renderer and mode ({modes}), alternating, modes interleaved; "
        f"{results['machine']}; load average {load_before:.1f} -> {load_after:.1f}\n"
    )
    print("| burst | renderer | CPU p50 ms | CPU mean ms | wall p50 ms | wall mean ms | wall p99 ms | PNG bytes |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for burst, mode in results["modes"].items():
        for name, row in mode["renderers"].items():
            print(
                f"| {burst} | {name} | {row['cpu_p50_ms']:.3f} | {row['cpu_mean_ms']:.3f} | {row['p50_ms']:.3f} "
                f"| {row['mean_ms']:.3f} | {row['p99_ms']:.3f} | {row['png_bytes']} |"
            )
    print()
    for burst, mode in results["modes"].items():
        print(
            f"speed-up, {burst} a turn: {mode['speedup_cpu_p50']:.1f}x in median CPU time, "
            f"{mode['speedup_p50']:.1f}x in median wall time, {mode['speedup_cpu_mean']:.1f}x / "
            f"{mode['speedup_mean']:.1f}x on the means (goal {GOAL_RATIO:.0f}x in median CPU time: "
            f"{verdict(mode)})"
        )
    record_results(results, argv)
    return results


def verdict(mode: dict[str, Any]) -> str:
    return "met" if mode["goal_met"] else "not met"


def record_results(results: dict[str, Any], argv: list[str] | None) -> None:
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("numpy", "Pillow", "captcha"))
    bursts = ", ".join(str(burst) for burst in results["bursts"])
    record(
        "render",
        command=this_command("bench.bench_render", argv),
        title="Captcha rendering against the captcha package, every burst mode in one run",
        tables=[
            Table(
                caption=(
                    f"ms per image, {results['images']} images per renderer and burst mode ({bursts} a turn), "
                    "alternating, modes interleaved"
                ),
                columns=["burst", "renderer", "CPU p50", "CPU mean", "wall p50", "wall mean", "wall p99", "PNG bytes"],
                rows=[
                    [
                        burst,
                        name,
                        row["cpu_p50_ms"],
                        row["cpu_mean_ms"],
                        row["p50_ms"],
                        row["mean_ms"],
                        row["p99_ms"],
                        row["png_bytes"],
                    ]
                    for burst, mode in results["modes"].items()
                    for name, row in mode["renderers"].items()
                ],
            ),
            Table(
                caption="Speed-up of render_captcha over captcha, per burst mode",
                columns=["burst", "CPU p50", "wall p50", "CPU mean", "wall mean", f"goal {GOAL_RATIO:.0f}x (CPU p50)"],
                rows=[
                    [
                        burst,
                        f"{mode['speedup_cpu_p50']:.1f}x",
                        f"{mode['speedup_p50']:.1f}x",
                        f"{mode['speedup_cpu_mean']:.1f}x",
                        f"{mode['speedup_mean']:.1f}x",
                        verdict(mode),
                    ]
                    for burst, mode in results["modes"].items()
                ],
            ),
        ],
        notes=[versions],
    )


if __name__ == "__main__":
    main()
