"""The simulated bots: they get the PNG only, segment it into glyphs by its column ink profile, fit each to
EMNIST's 28x28 form (`recognition.to_emnist`, as the recognize API does) and classify them with the best
ensemble."""

from __future__ import annotations

import io
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from drcaptcha import charset
from drcaptcha.errors import BadRequest
from drcaptcha.recognition import to_emnist
from drcaptcha.selection import GLYPHS_PER_CHALLENGE

_BOT_INK_THRESHOLD: Final = 0.5
_MIN_SEGMENT_COLUMNS: Final = 3


def captcha_pixels(png: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)


def ink_mask(pixels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Where the glyphs' ink is: speckle and grain removed by a median filter, faint curves by a threshold."""
    smooth = ndimage.median_filter(pixels.astype(np.float32), size=3)
    paper, ink = float(np.percentile(smooth, 90)), float(np.percentile(smooth, 0.5))
    darkness = (paper - smooth) / max(paper - ink, 1.0)
    mask: NDArray[np.bool_] = darkness > _BOT_INK_THRESHOLD
    return mask


def column_segments(mask: NDArray[np.bool_], count: int = GLYPHS_PER_CHALLENGE) -> list[tuple[int, int]]:
    """`count` column ranges [start, stop) that hold one glyph each, from the column ink profile.

    Runs of inked columns are glyphs; too many runs are merged across their narrowest gaps, too few split at
    the faintest column of the widest run (two glyphs that touch).
    """
    profile = mask.sum(axis=0)
    inked = np.concatenate([[False], profile > 0, [False]])
    edges = np.flatnonzero(np.diff(inked.astype(np.int8)))
    runs = [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]
    runs = [run for run in runs if run[1] - run[0] >= _MIN_SEGMENT_COLUMNS] or runs
    while len(runs) > count:
        gaps = [runs[i + 1][0] - runs[i][1] for i in range(len(runs) - 1)]
        i = int(np.argmin(gaps))
        runs[i : i + 2] = [(runs[i][0], runs[i + 1][1])]
    while 0 < len(runs) < count:
        i = int(np.argmax([stop - start for start, stop in runs]))
        start, stop = runs[i]
        if stop - start < 2 * _MIN_SEGMENT_COLUMNS:
            break
        inner = profile[start + _MIN_SEGMENT_COLUMNS : stop - _MIN_SEGMENT_COLUMNS]
        cut = start + _MIN_SEGMENT_COLUMNS + int(np.argmin(inner))
        runs[i : i + 1] = [(start, cut), (cut, stop)]
    return runs


def segment_glyphs(pixels: NDArray[np.uint8], count: int = GLYPHS_PER_CHALLENGE) -> NDArray[np.uint8]:
    """The captcha cut into glyphs, each fitted to EMNIST's form (uint8 [n, 28, 28], ink 255 on 0)."""
    mask = ink_mask(pixels)
    glyphs = []
    for start, stop in column_segments(mask, count):
        rows = np.flatnonzero(mask[:, start:stop].any(axis=1))
        crop = np.where(mask[rows[0] : rows[-1] + 1, start:stop], 0, 255).astype(np.uint8)
        framed = np.pad(crop, 4, constant_values=255)
        try:
            glyphs.append(to_emnist(Image.fromarray(framed)))
        except BadRequest:
            glyphs.append(np.zeros((28, 28), np.uint8))
    return np.array(glyphs, dtype=np.uint8).reshape(-1, 28, 28)


class GlyphReader(Protocol):
    """What a bot reads glyphs with: the service's ensemble (a `LoadedEnsemble`), or a network of its own (a
    `LiteModel`: the transfer bot)."""

    def predict(self, images: NDArray[np.uint8]) -> NDArray[np.float32]: ...


def bot_answer(png: bytes, reader: GlyphReader) -> str:
    glyphs = segment_glyphs(captcha_pixels(png))
    if len(glyphs) == 0:
        return "?" * GLYPHS_PER_CHALLENGE
    labels = reader.predict(glyphs).argmax(axis=1)
    return "".join(charset.character_of(int(label)) for label in labels)
