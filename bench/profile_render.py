"""Profile: where one captcha render's time goes (cProfile), and a quick side-by-side with `captcha`.

    PYTHONPATH=... .venv/bin/python -m bench.profile_render [--calls N]

Six random 28x28 glyphs (the render's cost does not depend on their content), 50 warm-up renders, then N
renders under cProfile (tottime per function, the top 14). Then, in the same process, two rounds of median
thread CPU time: our render (300 calls) against `captcha.image.ImageCaptcha().generate("ABC123")` (100 calls),
and the render's parts (draw, PNG, nibble packing, zlib's Huffman pass). A quick look, not bench_render's
interleaved measurement: for recorded ratios use bench.bench_render.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="renders under cProfile (default 2000)")
    args = parser.parse_args(argv)
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
