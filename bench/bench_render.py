"""Benchmark: rendering a 6-glyph captcha against the PyPI `captcha` package, in the same run.

    .venv/bin/python -m bench.bench_render [--images N] [--emnist PATH]

Both renderers make one PNG per call: ours from six EMNIST glyphs (`drcaptcha.render.render_captcha`, 320x80,
grey), theirs from six characters (`captcha.image.ImageCaptcha().generate("ABC123")`, 160x60, RGB, its
default size). They run in alternating rounds, so a busy neighbour on a shared machine slows both alike.
Results go in docs/BENCHMARKS.md, section "Captcha rendering".
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from captcha.image import ImageCaptcha
from numpy.typing import NDArray

from drcaptcha.render import render_captcha
from drcaptcha_ops.emnist import parse_idx_images

DEFAULT_EMNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
IMAGES_FILE = "emnist-bymerge-test-images-idx3-ubyte.gz"
TEXT = "ABC123"
ROUNDS = 10
WARM_UP = 20
GOAL_RATIO = 10.0


def six_glyphs(folder: Path) -> NDArray[np.uint8]:
    """Six real glyphs when the EMNIST files are there; six random scribbles otherwise (timing barely differs)."""
    path = folder / IMAGES_FILE
    if path.is_file():
        return parse_idx_images(path.read_bytes(), str(path))[:6]
    scribbles = np.random.default_rng(0).random((6, 28, 28)) > 0.8
    return (scribbles * 255).astype(np.uint8)


def time_calls(render: Callable[[], bytes], count: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds per call. CPU time does not count the time the scheduler gave to others."""
    wall, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        render()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return wall, cpu


def summary_ms(wall: list[float], cpu: list[float]) -> dict[str, float]:
    ordered = sorted(wall)
    return {
        "mean_ms": statistics.fmean(ordered) * 1e3,
        "p50_ms": ordered[len(ordered) // 2] * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3,
        "cpu_mean_ms": statistics.fmean(cpu) * 1e3,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images per renderer (default 2000)")
    parser.add_argument("--emnist", type=Path, default=DEFAULT_EMNIST, help="folder of the EMNIST gzip files")
    args = parser.parse_args(argv)

    glyphs = six_glyphs(args.emnist)
    rng = np.random.default_rng()
    generator = ImageCaptcha()
    renderers: dict[str, Callable[[], bytes]] = {
        "drcaptcha render_captcha (6 glyphs)": lambda: render_captcha(glyphs, rng),
        f'captcha ImageCaptcha.generate("{TEXT}")': lambda: generator.generate(TEXT).getvalue(),
    }
    sizes = {name: len(render()) for name, render in renderers.items()}
    for render in renderers.values():
        time_calls(render, WARM_UP)
    wall: dict[str, list[float]] = {name: [] for name in renderers}
    cpu: dict[str, list[float]] = {name: [] for name in renderers}
    per_round = max(1, args.images // ROUNDS)
    for _ in range(ROUNDS):
        for name, render in renderers.items():
            round_wall, round_cpu = time_calls(render, per_round)
            wall[name] += round_wall
            cpu[name] += round_cpu

    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "images": per_round * ROUNDS,
        "renderers": {name: {**summary_ms(wall[name], cpu[name]), "png_bytes": sizes[name]} for name in renderers},
    }
    ours, theirs = (results["renderers"][name] for name in renderers)
    results["speedup_mean"] = theirs["mean_ms"] / ours["mean_ms"]
    results["speedup_p50"] = theirs["p50_ms"] / ours["p50_ms"]
    results["speedup_cpu"] = theirs["cpu_mean_ms"] / ours["cpu_mean_ms"]
    results["goal_met"] = results["speedup_mean"] >= GOAL_RATIO

    print(f"{results['images']} images each, {results['machine']}\n")
    print("| renderer | mean ms | p50 ms | p99 ms | CPU mean ms | PNG bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in results["renderers"].items():
        print(
            f"| {name} | {row['mean_ms']:.3f} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} "
            f"| {row['cpu_mean_ms']:.3f} | {row['png_bytes']} |"
        )
    verdict = "met" if results["goal_met"] else "not met"
    print(
        f"\nspeed-up: {results['speedup_mean']:.1f}x on the mean, {results['speedup_p50']:.1f}x on the median, "
        f"{results['speedup_cpu']:.1f}x in CPU time (goal {GOAL_RATIO:.0f}x on the mean: {verdict})"
    )
    return results


if __name__ == "__main__":
    main()
