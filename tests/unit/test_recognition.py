"""Recognition preprocessing on synthetic drawings: EMNIST form (crop, keep aspect, fit 24x24, centre the box)
whatever the canvas, and clear errors for what is not a small PNG data URL."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from drcaptcha.charset import class_of
from drcaptcha.errors import BadRequest, PayloadTooLarge
from drcaptcha.recognition import DATA_URL_PREFIX, MIN_PROBABILITY, decode_png, recognize, to_emnist, top_predictions
from tests.fixtures.glyph_data import read_emnist


def data_url(image: Image.Image, format_name: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=format_name)
    return DATA_URL_PREFIX + base64.b64encode(buffer.getvalue()).decode()


def canvas(width: int, height: int, box: tuple[int, int, int, int], ink: int = 0, paper: int = 255) -> Image.Image:
    """A grey canvas with one filled rectangle (left, top, right, bottom), as a drawing of a stroke."""
    pixels = np.full((height, width), paper, dtype=np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = ink
    return Image.fromarray(pixels).convert("RGB")


def ink_box(glyph: NDArray[np.uint8]) -> tuple[int, int]:
    rows = np.flatnonzero(glyph.max(axis=1) > 0)
    columns = np.flatnonzero(glyph.max(axis=0) > 0)
    return int(rows[-1] - rows[0] + 1), int(columns[-1] - columns[0] + 1)


def centre_of_mass(glyph: NDArray[np.uint8]) -> tuple[float, float]:
    weights = glyph.astype(np.float64)
    total = weights.sum()
    return (
        float((weights.sum(axis=1) * np.arange(28)).sum() / total),
        float((weights.sum(axis=0) * np.arange(28)).sum() / total),
    )


def test_a_thin_vertical_bar_in_a_corner_ends_up_24_high_thin_and_centred() -> None:
    # Given black ink on opaque white (the web canvas), a thin bar near the left edge of a big canvas
    drawing = canvas(800, 600, (40, 100, 60, 500))

    # When it is turned into EMNIST form
    glyph = to_emnist(decode_png(data_url(drawing)))

    # Then the ink is 255 on 0, 24 pixels high, about 1 wide (the 20:1 aspect kept), centred
    assert glyph.shape == (28, 28) and glyph.dtype == np.uint8
    assert glyph.max() == 255 and glyph[0, 0] == 0
    height, width = ink_box(glyph)
    assert height == 24
    assert width <= 2
    row, column = centre_of_mass(glyph)
    assert abs(row - 13.5) <= 0.5 and abs(column - 13.5) <= 0.5


def test_a_wide_rectangle_keeps_its_aspect_ratio() -> None:
    glyph = to_emnist(decode_png(data_url(canvas(300, 300, (50, 100, 250, 200)))))

    assert ink_box(glyph) == (12, 24)


def test_light_ink_on_dark_and_strokes_on_transparent_paper_give_the_same_glyph() -> None:
    # Given the same stroke drawn dark on light, light on dark, and opaque on a transparent background
    box = (100, 50, 160, 250)
    dark_on_light = canvas(300, 300, box)
    light_on_dark = canvas(300, 300, box, ink=255, paper=0)
    transparent = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    transparent.paste((20, 20, 200, 255), box)

    # When each is turned into EMNIST form
    glyphs = [to_emnist(decode_png(data_url(image))) for image in (dark_on_light, light_on_dark, transparent)]

    # Then all three are the same glyph, with ink where the stroke was
    assert np.array_equal(glyphs[0], glyphs[1])
    assert np.array_equal(glyphs[0], glyphs[2])
    assert glyphs[0].sum() > 0


def test_a_grey_paper_does_not_count_as_ink() -> None:
    glyph = to_emnist(decode_png(data_url(canvas(200, 200, (90, 40, 110, 160), ink=30, paper=200))))

    assert ink_box(glyph) == (24, 4)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("data:image/jpeg;base64,/9j/4AAQ", BadRequest, "PNG data URL"),
        ("not a data url", BadRequest, "PNG data URL"),
        (DATA_URL_PREFIX + "%%%not-base64%%%", BadRequest, "base64"),
        (DATA_URL_PREFIX + base64.b64encode(b"GIF89a" + b"\0" * 20).decode(), BadRequest, "not a PNG"),
        (DATA_URL_PREFIX + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"garbage" * 9).decode(), BadRequest, "readable"),
        (DATA_URL_PREFIX + "A" * (2 * 1024 * 1024), PayloadTooLarge, "KiB"),
    ],
)
def test_what_is_not_a_small_png_data_url_is_a_clear_error(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_png(text)


def test_a_png_larger_than_2000_pixels_a_side_is_refused_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge, match="2001x10"):
        decode_png(data_url(Image.new("L", (2001, 10), 255)))


def test_a_jpeg_behind_a_png_prefix_is_refused() -> None:
    with pytest.raises(BadRequest, match="not a PNG"):
        decode_png(data_url(canvas(50, 50, (10, 10, 20, 40)), "JPEG"))


def test_a_blank_drawing_is_a_clear_error() -> None:
    with pytest.raises(BadRequest, match="blank"):
        to_emnist(decode_png(data_url(canvas(100, 100, (0, 0, 0, 0)))))


def test_top_predictions_keep_at_most_three_above_one_tenth_best_first() -> None:
    probabilities = np.zeros(47, dtype=np.float32)
    probabilities[[10, 3, 40, 7]] = [0.5, 0.25, 0.15, 0.1]

    predictions = top_predictions(probabilities)

    assert [(p.label, p.probability) for p in predictions] == [("A", 0.5), ("3", 0.25), ("f", 0.15)]
    probabilities[:] = 1 / 47
    assert top_predictions(probabilities) == []


class ThinEnsemble:
    """Stands in for a weak LiteRT ensemble (recognize needs only `predict` and the manifest's id): it gives every
    drawing the same spread-out probabilities."""

    def __init__(self, probabilities: NDArray[np.float32]) -> None:
        self.probabilities = probabilities
        self.manifest = SimpleNamespace(ensemble_id="weak")
        self.seen: list[NDArray[np.uint8]] = []

    def predict(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        self.seen.append(images)
        return np.stack([self.probabilities] * len(images))


def test_an_ensemble_unsure_of_every_class_still_names_its_best_guess_beside_the_threshold() -> None:
    # Given an ensemble that gives L 0.08 and spreads the rest thinly: no class reaches p > 0.1
    probabilities = np.full(47, 0.92 / 46, dtype=np.float32)
    probabilities[class_of("L")] = 0.08
    ensemble: Any = ThinEnsemble(probabilities)

    # When a drawn L (two strokes) is recognised
    drawing = canvas(200, 200, (40, 20, 60, 180))
    drawing.paste((0, 0, 0), (40, 160, 160, 180))
    reply = recognize(data_url(drawing), ensemble)

    # Then no prediction passes the threshold, but the best guess is given with it, and the threshold is 0.1
    assert reply.predictions == []
    assert (reply.best.label, reply.best.probability) == ("L", 0.08)
    assert reply.threshold == MIN_PROBABILITY == 0.1
    assert reply.ensemble_id == "weak"
    assert ensemble.seen[0].shape == (1, 28, 28)


def test_a_sure_ensemble_lists_its_best_guess_first_among_the_predictions() -> None:
    probabilities = np.zeros(47, dtype=np.float32)
    probabilities[[class_of("L"), class_of("1")]] = [0.7, 0.3]
    ensemble: Any = ThinEnsemble(probabilities)

    reply = recognize(data_url(canvas(100, 100, (40, 10, 60, 90))), ensemble)

    assert [p.label for p in reply.predictions] == ["L", "1"]
    assert reply.best == reply.predictions[0]


def test_real_emnist_glyphs_drawn_large_come_back_close_to_their_original_form(emnist_dir: Path) -> None:
    # Given 100 real EMNIST glyphs, drawn 12 times larger as black ink on white (as the web canvas sends them)
    glyphs, _ = read_emnist(100, emnist_dir)

    # When each is turned back into EMNIST form
    returned = [to_emnist(decode_png(data_url(large_drawing(glyph)))) for glyph in glyphs]

    # Then each is close to its original, pixel for pixel (20x20 centred by mass would give about 0.6)
    correlations = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(glyphs, returned, strict=True)]
    assert float(np.mean(correlations)) >= 0.9


def large_drawing(glyph: NDArray[np.uint8], scale: int = 12) -> Image.Image:
    return Image.fromarray(255 - glyph).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR).convert("RGB")
