"""Recognising one drawn character: a PNG data URL of any size becomes an EMNIST-style 28x28 glyph, which the
active ensemble classifies (LiteRT). The answer is the top 3 classes with p > 0.1, as the original canvas had it,
and beside them the best guess whatever its probability, and the threshold, so that a page can always show a guess
and mark it unsure (a weak ensemble can leave every class below 0.1).

EMNIST form, as the dataset was made (Cohen et al. 2017, and as the glyph store holds it, upright): ink 255 on 0,
the character cropped to its ink, scaled with its aspect ratio kept to fit 24x24 (a 2-pixel margin), and pasted
into 28x28 centred by its bounding box. This is not MNIST's 20x20 centred by mass: measured on 300 real EMNIST
glyphs drawn large on a white canvas and brought back, 24x24 centred by box reproduces the original with a pixel
correlation of 0.95, 20x20 by mass with 0.59 (24x24 by mass 0.73), and the networks were trained on the former.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from drcaptcha import charset
from drcaptcha.config import get_settings
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import BadRequest, PayloadTooLarge
from drcaptcha.models.api.recognize import Prediction, RecognizeResponse
from drcaptcha.ratelimit import client_identity, client_windows
from drcaptcha.store.rate_limits import RateLimitStore
from drcaptcha.tokens import client_key

DATA_URL_PREFIX: Final = "data:image/png;base64,"
MAX_PNG_BYTES: Final = 1024 * 1024
MAX_SIDE: Final = 2000
GLYPH_SIDE: Final = 28
FIT_SIDE: Final = 24
TOP: Final = 3
MIN_PROBABILITY: Final = 0.1
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
# Pixels fainter than this share of the strongest ink are anti-aliasing or paper noise, not the character.
_INK_THRESHOLD: Final = 0.1
_BLANK: Final = 12  # the strongest ink, out of 255, below which a drawing counts as empty
_OPAQUE: Final = 250
# 4/3 of the base64 length, plus slack for the prefix: longer strings are refused before decoding.
_MAX_DATA_URL_CHARS: Final = len(DATA_URL_PREFIX) + (MAX_PNG_BYTES * 4) // 3 + 4


def decode_png(data_url: str) -> Image.Image:
    """The PNG inside a data URL, size-checked before its pixels are decoded; clear 4xx errors otherwise."""
    if len(data_url) > _MAX_DATA_URL_CHARS:
        raise PayloadTooLarge(f"the image is larger than {MAX_PNG_BYTES // 1024} KiB")
    if not data_url.startswith(DATA_URL_PREFIX):
        raise BadRequest(f"image must be a PNG data URL starting with {DATA_URL_PREFIX!r}")
    try:
        data = base64.b64decode(data_url[len(DATA_URL_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest("image is not valid base64") from error
    if len(data) > MAX_PNG_BYTES:
        raise PayloadTooLarge(f"the image is larger than {MAX_PNG_BYTES // 1024} KiB")
    if not data.startswith(PNG_MAGIC):
        raise BadRequest("image is not a PNG")
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        width, height = image.size
        if width > MAX_SIDE or height > MAX_SIDE:
            raise PayloadTooLarge(f"the image is {width}x{height}; at most {MAX_SIDE}x{MAX_SIDE} is accepted")
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise BadRequest(f"image is not a readable PNG: {error}") from error
    return image


def ink_of(image: Image.Image) -> NDArray[np.uint8]:
    """Ink as 0..255 on 0, whatever the input: dark ink on light paper (the web canvas sends black on opaque
    white), light ink on dark, or strokes on a transparent background. Kept in uint8 and PIL's C conversions:
    this runs on the full-size drawing, and is most of recognize's time."""
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha: NDArray[np.uint8] = np.asarray(rgba.getchannel("A"))
        if int(alpha.min()) < _OPAQUE:
            return alpha  # transparent paper: the ink is where the alpha is
        grey = np.asarray(rgba.convert("L"), dtype=np.int16)
    else:
        grey = np.asarray(image.convert("L"), dtype=np.int16)
    border = np.concatenate([grey[0, :], grey[-1, :], grey[:, 0], grey[:, -1]])
    paper = int(np.median(border))
    ink = paper - grey if paper >= 128 else grey - paper
    clipped: NDArray[np.uint8] = np.clip(ink, 0, 255).astype(np.uint8)
    return clipped


def to_emnist(image: Image.Image) -> NDArray[np.uint8]:
    """The drawing as one EMNIST glyph: uint8 [28, 28], ink 255 on 0, fitted to 24x24 and centred by its box."""
    ink = ink_of(image)
    strongest = int(ink.max())
    if strongest <= _BLANK:
        raise BadRequest("the drawing is blank: no ink was found")
    marked = ink >= strongest * _INK_THRESHOLD
    rows = np.flatnonzero(marked.any(axis=1))
    columns = np.flatnonzero(marked.any(axis=0))
    cropped = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    height, width = cropped.shape
    scale = FIT_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(cropped).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    fitted = np.asarray(resized, dtype=np.float32)
    # Downscaling a thin stroke from a large canvas leaves it faint; EMNIST strokes reach full ink.
    fitted = np.clip(fitted * (255.0 / max(float(fitted.max()), 1.0)), 0, 255)
    glyph = np.zeros((GLYPH_SIDE, GLYPH_SIDE), dtype=np.float32)
    fitted_height, fitted_width = fitted.shape
    top = (GLYPH_SIDE - fitted_height) // 2
    left = (GLYPH_SIDE - fitted_width) // 2
    glyph[top : top + fitted_height, left : left + fitted_width] = fitted
    return glyph.round().astype(np.uint8)


def ranked(probabilities: NDArray[np.float32], count: int = TOP) -> list[Prediction]:
    """The `count` most likely classes, most likely first, whatever their probabilities."""
    order = np.argsort(probabilities)[::-1][:count]
    return [
        Prediction(label=charset.character_of(int(index)), probability=round(float(probabilities[index]), 4))
        for index in order
    ]


def top_predictions(probabilities: NDArray[np.float32]) -> list[Prediction]:
    """The original canvas's rule: the top 3 with p > 0.1 (as rounded in the reply, so a client sees the same)."""
    return [prediction for prediction in ranked(probabilities) if prediction.probability > MIN_PROBABILITY]


def recognize(data_url: str, ensemble: LoadedEnsemble) -> RecognizeResponse:
    glyph = to_emnist(decode_png(data_url))
    probabilities = ensemble.predict(glyph[np.newaxis])[0]
    return RecognizeResponse(
        predictions=top_predictions(probabilities),
        best=ranked(probabilities, 1)[0],
        threshold=MIN_PROBABILITY,
        ensemble_id=ensemble.manifest.ensemble_id,
    )


def count_drawing(source_ip: str, now: float | None = None, store: RateLimitStore | None = None) -> None:
    """Count one drawing against its client's RATE_LIMIT_RECOGNITIONS a window (two staggered windows, across
    every site); RateLimited (429) past it, before any image is decoded or model run.

    /v1/recognize takes no site key: the draw page that calls it is ours, and site keys are public anyway, so a key
    would stop nobody. What bounds it as a free oracle of the ensemble that picks the hard glyphs, and as a LiteRT
    cost sink, is this per-client limit (issue 19, item 4), with the API-wide throttle above it.
    """
    now = time.time() if now is None else now
    client = client_identity(source_ip, client_key())
    windows = client_windows(client, now, kind="recognize", limit=get_settings().rate_limit_recognitions)
    (store or RateLimitStore()).spend(windows, 1, now, refuse_when_full=True, what="drawings")
