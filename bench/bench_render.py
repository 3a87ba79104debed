"""Benchmark: a captcha's whole path (pick the glyphs, render, PNG) and the render alone, against the PyPI
`captcha` package, in the same run.

    .venv/bin/python -m bench.bench_render [--images N] [--burst K[,K...]] [--emnist PATH] [--limit N] [--unlabelled N]

Each path makes one PNG per call:
- the render alone: `drcaptcha.render.render_captcha` on six fixed EMNIST glyphs (320x80, grey);
- the whole path, as the captcha function does it in process: a warm `GlyphSelector` picks six glyphs (three
  unlabelled, three known) and `render_captcha` draws them. The selector reads an embedded emulator (moto) holding
  an EMNIST import (`--limit`) with `--unlabelled` labels removed, as `drcaptcha demo` leaves it, and refreshes
  its caches from it as a warm function does (the unlabelled candidates about every 80 challenges). It runs twice:
  without an active ensemble (uniform choice), and model-assisted, where a stand-in gives each glyph it is asked
  about pseudo-random class probabilities in place of LiteRT: a request's work is the same whatever the model
  says, but the refreshes leave out LiteRT's scoring (a few ms every ~80 challenges). The challenge's DynamoDB
  write and the data URL's base64 are left out. The pick's own share is timed inside each call;
- theirs: `captcha.image.ImageCaptcha().generate("ABC123")` (160x60, RGB, its default size).

Then the PNG encoders, for issue 17's "bytes on the wire": each image of a run of `--encodes` captchas (six
EMNIST glyphs each, glyphs differing from one captcha to the next) is encoded by every encoder in turn: the
hand-written one (4 or 8 bits, stored or deflated by ISA-L; at 4 bits also zlib's Huffman pass, as it was before
2026-12-06) and Pillow's at every compression level, at 8 bits (mode L) and at 4 bits (a 16-grey palette).
Each gets its median time (the time to build Pillow's image included) and its 95th-percentile size.

How it measures, for a shared machine whose load changes from second to second:
- The paths take turns in one loop, A, B, C, D, A, ..., K images a turn (a burst), so a busy neighbour slows
  all alike. With K = 1 each call starts with caches that the other paths have just filled with their own
  code and data ("cold"); a larger K lets a path run warm after its first image.
- Every burst mode of `--burst` (default 1,10) is measured in the same run, for issue 9's "each side-by-side
  comparison is measured in one run": the modes are interleaved too. A round gives every mode the same number
  of images per path (the least common multiple of the bursts), one mode after the other, and the run is
  `--images` / that many rounds, so a change in the machine's load reaches every mode and path alike.
- Every image is timed twice: CPU time of this thread (`time.thread_time`, which leaves out the time the
  scheduler gave to other processes, the emulator's threads included) and wall time (`time.perf_counter`).
  Medians are the headline: a few calls that a neighbour's burst or the garbage collector hit would move a mean
  a lot. The means include the selector's cache refreshes.
Results go in bench/results/render.json, and from there (`python -m bench.report`) in docs/BENCHMARKS.md,
section "Captcha rendering".
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import math
import os
import platform
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
from captcha.image import ImageCaptcha
from isal import isal_zlib
from numpy.typing import NDArray
from PIL import Image

from bench.results import Table, record, this_command
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.config import reset_settings
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.glyphs import GlyphStore
from drcaptcha.render import Deflate, RenderStyle, compose_captcha, encode_png, render_captcha
from drcaptcha.selection import EnsembleSource, GlyphSelector
from drcaptcha_ops.emnist import parse_idx_images
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_train.option_types import distinct_positive_ints

DEFAULT_EMNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
IMAGES_FILE = "emnist-bymerge-test-images-idx3-ubyte.gz"
TEXT = "ABC123"
WARM_UP = 20
GOAL_RATIO = 10.0
# As `drcaptcha demo` leaves the stack, on a subset of the import (the selector reads four shards at a time).
DEFAULT_LIMIT = 20_000
DEFAULT_UNLABELLED = 2_000
RENDER_ALONE = "drcaptcha render_captcha (6 glyphs)"
WHOLE_UNIFORM = "drcaptcha pick + render, no ensemble"
WHOLE_MODEL = "drcaptcha pick + render, model-assisted"
THEIRS = f'captcha ImageCaptcha.generate("{TEXT}")'
PICK_PART = "↳ of which the pick"


def six_glyphs(folder: Path) -> NDArray[np.uint8]:
    """Six real glyphs from the EMNIST files."""
    return emnist_glyphs(folder, 6)


def emnist_glyphs(folder: Path, count: int) -> NDArray[np.uint8]:
    path = folder / IMAGES_FILE
    return parse_idx_images(path.read_bytes(), str(path))[:count]


GREY_16 = [level * 17 for level in range(16) for _ in range(3)]
EIGHT_BITS = RenderStyle(png_bits=8)


def pillow_png(pixels: NDArray[np.uint8], level: int, bits: int) -> bytes:
    """Pillow's PNG of the pixels: mode L at 8 bits; at 4, a 16-grey palette image that Pillow packs 4 bits a pixel."""
    if bits == 8:
        image = Image.fromarray(pixels)
    else:
        image = Image.frombytes("P", (pixels.shape[1], pixels.shape[0]), (pixels >> 4).tobytes())
        image.putpalette(GREY_16)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=level, **({"bits": 4} if bits == 4 else {}))
    return out.getvalue()


def zlib_huffman(data: memoryview) -> bytes:
    """zlib's Huffman pass alone: the hand-written PNG's deflate before 2026-12-06."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_HUFFMAN_ONLY)
    return compressor.compress(data) + compressor.flush()


def isal_at(level: int) -> Deflate:
    """ISA-L's deflate at `level` (the default PNG uses level 1)."""
    return partial(isal_zlib.compress, level=level)


def encoders() -> dict[str, Callable[[NDArray[np.uint8]], bytes]]:
    """Every encoder the bench compares, by name: the hand-written one first (its default marked). The hand-written
    rows are deflated in turn by each deflate; Pillow's times include building its image."""
    table: dict[str, Callable[[NDArray[np.uint8]], bytes]] = {
        "hand-written, 4 bits, ISA-L level 1 (default)": lambda px: encode_png(px, bits=4, compact=True),
        "hand-written, 4 bits, stored": lambda px: encode_png(px, bits=4, compact=False),
        "hand-written, 4 bits, zlib Huffman only (before 2026-12-06)": partial(
            encode_png, bits=4, deflate=zlib_huffman
        ),
        "hand-written, 8 bits, ISA-L level 1": lambda px: encode_png(px, bits=8, compact=True),
        "hand-written, 8 bits, stored (before 2026-12-04)": lambda px: encode_png(px, bits=8, compact=False),
    }
    for level in (0, 2, 3):
        table[f"hand-written, 4 bits, ISA-L level {level}"] = partial(encode_png, bits=4, deflate=isal_at(level))
    for bits in (4, 8):
        for level in range(10):
            table[f"Pillow, {bits} bits, compress_level={level}"] = partial(pillow_png, level=level, bits=bits)
    return table


def measure_encoders(emnist: Path, count: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Each encoder's median ms and 95th-percentile bytes over `count` captchas, the encoders taking turns."""
    glyphs = emnist_glyphs(emnist, 6 * count)
    table = encoders()
    cpu: dict[str, list[float]] = {name: [] for name in table}
    sizes: dict[str, list[int]] = {name: [] for name in table}
    for start in range(0, 6 * count, 6):
        pixels = compose_captcha(glyphs[start : start + 6], rng, EIGHT_BITS).pixels
        for name, encode in table.items():
            started = time.thread_time()
            png = encode(pixels)
            cpu[name].append(time.thread_time() - started)
            sizes[name].append(len(png))
    return {
        name: {
            "cpu_p50_ms": statistics.median(cpu[name]) * 1e3,
            "p95_bytes": float(np.percentile(sizes[name], 95)),
            "p50_bytes": float(np.median(sizes[name])),
        }
        for name in table
    }


class StandInScores:
    """In place of a LiteRT ensemble for the model-assisted selector: pseudo-random class probabilities for each
    glyph it is asked about. A request's draw costs the same whatever the weights are."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def predict(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        scores = self._rng.random((len(images), NUM_CLASSES)).astype(np.float32) ** 4
        probabilities: NDArray[np.float32] = scores / scores.sum(axis=1, keepdims=True)
        return probabilities


class WholePath:
    """Pick six glyphs with a warm selector and render them: what the captcha function does for a challenge,
    less its DynamoDB write. The pick's share of each call is kept in `pick_wall` and `pick_cpu`."""

    def __init__(self, selector: GlyphSelector, rng: np.random.Generator) -> None:
        self.selector = selector
        self.rng = rng
        self.pick_wall: list[float] = []
        self.pick_cpu: list[float] = []

    def __call__(self) -> bytes:
        started, started_cpu = time.perf_counter(), time.thread_time()
        images = self.selector.images(self.selector.pick())
        self.pick_cpu.append(time.thread_time() - started_cpu)
        self.pick_wall.append(time.perf_counter() - started)
        return render_captcha(images, self.rng)


@contextmanager
def warm_stack(emnist: Path, limit: int, unlabelled: int) -> Iterator[None]:
    """An embedded emulator with the import and the removed labels, for the selectors to read."""
    with running_emulator():
        reset_settings()
        import_emnist(emnist, limit=limit, progress=False)
        remove_labels(unlabelled, progress=False)
        yield


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


def mode_results(
    wall: dict[str, list[float]],
    cpu: dict[str, list[float]],
    sizes: dict[str, int],
    picks: dict[str, tuple[list[float], list[float]]],
) -> dict[str, Any]:
    """One burst mode's figures: each path's summary (and its pick's), each of ours over theirs, the verdicts."""
    paths = {name: {**summary_ms(wall[name], cpu[name]), "png_bytes": sizes[name]} for name in wall}
    theirs = paths[THEIRS]
    speedups = {}
    for name, row in paths.items():
        if name == THEIRS:
            continue
        ratios = {f"speedup_{key.removesuffix('_ms')}": theirs[key] / row[key] for key in row if key.endswith("_ms")}
        speedups[name] = {**ratios, "goal_met": ratios["speedup_cpu_p50"] >= GOAL_RATIO}
    pick_parts = {name: summary_ms(pick_wall, pick_cpu) for name, (pick_wall, pick_cpu) in picks.items()}
    return {"paths": paths, "picks": pick_parts, "speedups": speedups}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images per path and burst mode (default 1000)")
    parser.add_argument(
        "--burst",
        type=distinct_positive_ints,
        default=[1, 10],
        help="images a path makes per turn; each mode of a comma-separated list is measured (default 1,10)",
    )
    parser.add_argument("--emnist", type=Path, default=DEFAULT_EMNIST, help="folder of the EMNIST gzip files")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="EMNIST images to import (default 20000)")
    parser.add_argument("--unlabelled", type=int, default=DEFAULT_UNLABELLED, help="labels to remove (default 2000)")
    parser.add_argument("--encodes", type=int, default=300, help="captchas each PNG encoder encodes (default 300)")
    args = parser.parse_args(argv)
    bursts: list[int] = args.burst
    per_round = math.lcm(*bursts)
    if args.images < per_round:
        parser.error(f"--images must be at least {per_round} (the least common multiple of --burst)")
    if not (args.emnist / IMAGES_FILE).is_file():
        parser.error(f"no EMNIST files in {args.emnist}: pass --emnist PATH")

    with warm_stack(args.emnist, args.limit, args.unlabelled):
        results = measure(args.emnist, bursts, args.images // per_round, per_round)
    results["encoders"] = measure_encoders(args.emnist, args.encodes, np.random.default_rng())
    results.update(limit=args.limit, unlabelled=args.unlabelled)
    report(results)
    record_results(results, argv)
    return results


def measure(emnist: Path, bursts: list[int], rounds: int, per_round: int) -> dict[str, Any]:
    glyphs = six_glyphs(emnist)
    rng = np.random.default_rng()
    generator = ImageCaptcha()
    stand_in = cast(LoadedEnsemble, StandInScores())
    selectors: dict[str, EnsembleSource] = {WHOLE_UNIFORM: lambda: None, WHOLE_MODEL: lambda: stand_in}
    whole = {name: WholePath(GlyphSelector(GlyphStore(), rng, ensemble=ens), rng) for name, ens in selectors.items()}
    paths: dict[str, Callable[[], bytes]] = {
        RENDER_ALONE: lambda: render_captcha(glyphs, rng),
        **whole,
        THEIRS: lambda: generator.generate(TEXT).getvalue(),
    }
    sizes = {name: len(render()) for name, render in paths.items()}
    for render in paths.values():
        time_calls(render, WARM_UP, [], [])
    wall: dict[int, dict[str, list[float]]] = {burst: {name: [] for name in paths} for burst in bursts}
    cpu: dict[int, dict[str, list[float]]] = {burst: {name: [] for name in paths} for burst in bursts}
    picks: dict[int, dict[str, tuple[list[float], list[float]]]] = {
        burst: {name: ([], []) for name in whole} for burst in bursts
    }
    load_before = os.getloadavg()[0]
    for _ in range(rounds):
        for burst in bursts:
            for _ in range(per_round // burst):
                for name, render in paths.items():
                    if name in whole:
                        whole[name].pick_wall, whole[name].pick_cpu = picks[burst][name]
                    time_calls(render, burst, wall[burst][name], cpu[burst][name])
    load_after = os.getloadavg()[0]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average": (load_before, load_after),
        "images": rounds * per_round,
        "bursts": bursts,
        "modes": {burst: mode_results(wall[burst], cpu[burst], sizes, picks[burst]) for burst in bursts},
    }


def table_rows(mode: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], int | None]]:
    """Each path's row, the pick's share right under the whole paths'."""
    for name, row in mode["paths"].items():
        yield name, row, row["png_bytes"]
        if name in mode["picks"]:
            yield PICK_PART, mode["picks"][name], None


def report(results: dict[str, Any]) -> None:
    load_before, load_after = results["load_average"]
    modes = ", ".join(f"{burst} a turn" for burst in results["bursts"])
    print(
        f"{results['images']} images per path and mode ({modes}), alternating, modes interleaved; "
        f"{results['machine']}; load average {load_before:.1f} -> {load_after:.1f}\n"
    )
    print("| burst | path | CPU p50 ms | CPU mean ms | wall p50 ms | wall mean ms | wall p99 ms | PNG bytes |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for burst, mode in results["modes"].items():
        for name, row, size in table_rows(mode):
            print(
                f"| {burst} | {name} | {row['cpu_p50_ms']:.3f} | {row['cpu_mean_ms']:.3f} | {row['p50_ms']:.3f} "
                f"| {row['mean_ms']:.3f} | {row['p99_ms']:.3f} | {size if size is not None else ''} |"
            )
    print()
    for burst, mode in results["modes"].items():
        for name, speedup in mode["speedups"].items():
            print(
                f"speed-up of {name} over captcha, {burst} a turn: {speedup['speedup_cpu_p50']:.1f}x in median CPU "
                f"time, {speedup['speedup_p50']:.1f}x in median wall time, {speedup['speedup_cpu_mean']:.1f}x / "
                f"{speedup['speedup_mean']:.1f}x on the means (goal {GOAL_RATIO:.0f}x in median CPU time: "
                f"{verdict(speedup)})"
            )
    print("\n| PNG encoder | CPU p50 ms | p50 bytes | p95 bytes |\n|---|---:|---:|---:|")
    for name, row in results["encoders"].items():
        print(f"| {name} | {row['cpu_p50_ms']:.3f} | {row['p50_bytes']:.0f} | {row['p95_bytes']:.0f} |")


def verdict(speedup: dict[str, Any]) -> str:
    return "met" if speedup["goal_met"] else "not met"


def record_results(results: dict[str, Any], argv: list[str] | None) -> None:
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("numpy", "Pillow", "captcha"))
    bursts = ", ".join(str(burst) for burst in results["bursts"])
    record(
        "render",
        command=this_command("bench.bench_render", argv),
        title="A captcha's whole path (pick + render + PNG) and the render alone, against the captcha package, "
        "every burst mode in one run",
        tables=[
            Table(
                caption=(
                    f"ms per image, {results['images']} images per path and burst mode ({bursts} a turn), "
                    "alternating, modes interleaved; the pick's share of each whole path under it"
                ),
                columns=["burst", "path", "CPU p50", "CPU mean", "wall p50", "wall mean", "wall p99", "PNG bytes"],
                rows=[
                    [
                        burst,
                        name,
                        row["cpu_p50_ms"],
                        row["cpu_mean_ms"],
                        row["p50_ms"],
                        row["mean_ms"],
                        row["p99_ms"],
                        size,
                    ]
                    for burst, mode in results["modes"].items()
                    for name, row, size in table_rows(mode)
                ],
            ),
            Table(
                caption="Speed-up over captcha, per burst mode and path",
                columns=[
                    "burst",
                    "path",
                    "CPU p50",
                    "wall p50",
                    "CPU mean",
                    "wall mean",
                    f"goal {GOAL_RATIO:.0f}x (CPU p50)",
                ],
                rows=[
                    [
                        burst,
                        name,
                        f"{speedup['speedup_cpu_p50']:.1f}x",
                        f"{speedup['speedup_p50']:.1f}x",
                        f"{speedup['speedup_cpu_mean']:.1f}x",
                        f"{speedup['speedup_mean']:.1f}x",
                        verdict(speedup),
                    ]
                    for burst, mode in results["modes"].items()
                    for name, speedup in mode["speedups"].items()
                ],
            ),
            Table(
                caption=(
                    "PNG encoders on the same rendered captchas (six EMNIST glyphs each, 320x80), taking turns: "
                    "median CPU ms per PNG and its bytes"
                ),
                columns=["encoder", "CPU p50 ms", "p50 bytes", "p95 bytes"],
                rows=[
                    [name, row["cpu_p50_ms"], round(row["p50_bytes"]), round(row["p95_bytes"])]
                    for name, row in results["encoders"].items()
                ],
            ),
        ],
        notes=[
            versions,
            "whole path: a warm GlyphSelector over an embedded emulator (moto) holding an EMNIST import of "
            f"{results['limit']:,} images with {results['unlabelled']:,} labels removed; model-assisted uses a "
            "stand-in for LiteRT (pseudo-random probabilities), so its refreshes leave out LiteRT's scoring",
        ],
    )


if __name__ == "__main__":
    main()
