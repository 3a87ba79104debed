"""Profile: where one captcha render's time goes (cProfile), and a quick side-by-side with `captcha`.

    PYTHONPATH=... .venv/bin/python -m bench.profile_render [--calls N] [--cold N]

Six random 28x28 glyphs (the render's cost does not depend on their content), 50 warm-up renders, then N
renders under cProfile (tottime per function, the top 14). Then, in the same process, two rounds of median
thread CPU time: our render (300 calls) against `captcha.image.ImageCaptcha().generate("ABC123")` (100 calls),
and the render's parts (draw, PNG, nibble packing, zlib's Huffman pass). A quick look, not bench_render's
interleaved measurement: for recorded ratios use bench.bench_render.
`--cold N` first times the first call of each in N fresh processes (imports done, then our render, then
`captcha`'s image).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable

import numpy as np
from captcha.image import ImageCaptcha

from drcaptcha import render as r


def median_ms(call: Callable[[], object], count: int) -> float:
    times = []
    for _ in range(count):
        start = time.thread_time()
        call()
        times.append(time.thread_time() - start)
    return statistics.median(times) * 1e3


def first_call() -> None:
    """In a fresh process: thread CPU ms of the first render, then of captcha's first image (imports done)."""
    rng = np.random.default_rng()
    glyphs = (rng.random((6, 28, 28)) * 255).astype(np.uint8)
    theirs = ImageCaptcha()
    ours_ms = median_ms(lambda: r.render_captcha(glyphs, rng), 1)
    theirs_ms = median_ms(lambda: theirs.generate("ABC123"), 1)
    print(f"{ours_ms:.3f} {theirs_ms:.3f}")


def cold(processes: int) -> None:
    """The first call of each in `processes` fresh interpreters, one after the other."""
    ours, theirs = [], []
    for _ in range(processes):
        out = subprocess.run(
            [sys.executable, "-m", "bench.profile_render", "--first-call"], capture_output=True, text=True, check=True
        ).stdout.split()
        ours.append(float(out[0]))
        theirs.append(float(out[1]))
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"cold (first call, median of {processes} processes): ours {o:.3f} ms, captcha {t:.3f} ms, {t / o:.1f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="renders under cProfile (default 2000)")
    parser.add_argument("--cold", type=int, default=0, help="also time the first call in N fresh processes")
    parser.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_call:
        first_call()
        return
    if args.cold:
        cold(args.cold)
    rng = np.random.default_rng(1)
    glyphs = (rng.random((6, 28, 28)) * 255).astype(np.uint8)
    for _ in range(50):
        r.render_captcha(glyphs, rng)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.calls):
        r.render_captcha(glyphs, rng)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(14)

    theirs = ImageCaptcha()
    rows, _ = r._draw(glyphs, rng, r.DEFAULT_STYLE)
    packed = r._packed_nibbles(rows)

    def huffman() -> bytes:
        compressor = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_HUFFMAN_ONLY)
        return compressor.compress(packed.data) + compressor.flush()

    for _ in range(2):
        ours = median_ms(lambda: r.render_captcha(glyphs, rng), 300)
        other = median_ms(lambda: theirs.generate("ABC123"), 100)
        draw = median_ms(lambda: r._draw(glyphs, rng, r.DEFAULT_STYLE), 300)
        png = median_ms(lambda: r._png(rows, bits=4, compact=True), 300)
        pack = median_ms(lambda: r._packed_nibbles(rows), 300)
        huff = median_ms(huffman, 300)
        print(
            f"ours {ours:.3f} ms, captcha {other:.3f} ms, {other / ours:.1f}x | "
            f"draw {draw:.3f} png {png:.3f} (pack {pack:.3f}, huffman {huff:.3f})"
        )


if __name__ == "__main__":
    main()
