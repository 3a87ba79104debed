"""Composing one captcha image from glyphs: a fresh random warp, spacing, stroke and noise on every call.

Glyphs come in as EMNIST stores them upright: uint8 28x28, ink 255 on 0. Each is thickened or thinned a
little, warped by a random affine map plus a smooth random displacement field, and placed at a random gap
and height after its neighbour. The row gets dark ink on a light, tinted background with speckle and a couple
of faint curves, and is enlarged `zoom` times (2x by default) before a fine grain is added.

Why it is fast (well under a millisecond for six glyphs): the distortions run at the glyphs' own resolution,
where there are four times fewer pixels, and all glyphs are resampled together by four numpy gathers; the
enlargement is one Pillow resize. The PNG is written as a palette image with a grey palette: Pillow filters
every row of an "L" image five ways before compressing it, and writes palette images unfiltered, which is
several times quicker for an image that is mostly noise anyway.

The PNG holds pixels only (IHDR, PLTE, IDAT, IEND): no text chunk, no metadata, so the answer never leaks.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

GLYPH_SIZE: Final = 28
_GLYPH_CENTRE: Final = (GLYPH_SIZE - 1) / 2
# Each glyph sits in its own block of one tall source image, inside a zero border, so that bilinear sampling
# outside a glyph reads blank paper and never a neighbour's ink.
_BLOCK: Final = GLYPH_SIZE + 2
_INK_THRESHOLD: Final = 0.25
_INK_GAIN: Final = 1.3
_GREY_PALETTE: Final = bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))

FloatArray = NDArray[np.float32]
Glyphs = Sequence[NDArray[np.uint8]] | NDArray[np.uint8]


@dataclass(frozen=True)
class RenderStyle:
    """How each captcha is laid out and distorted. Lengths are in glyph pixels; the PNG is `zoom` times larger.

    `warp=False` keeps the glyphs unrotated, unsheared and undistorted (spacing, strokes and noise still vary).
    """

    zoom: int = 2
    height: int = 40
    slot_width: int = 25
    margin: int = 5
    warp: bool = True
    scale_jitter: float = 0.08
    max_rotation_deg: float = 14.0
    max_shear: float = 0.22
    elastic_px: float = 1.0
    elastic_grid: int = 4
    gap_px: tuple[float, float] = (1.0, 5.0)
    max_vertical_offset_px: float = 3.0
    stroke_jitter: tuple[float, float] = (-0.35, 0.8)
    ink_level: tuple[int, int] = (15, 70)
    background_level: tuple[int, int] = (200, 235)
    background_ramp: float = 10.0
    grain: int = 16
    speckle_density: float = 0.015
    curves: int = 2
    curve_alpha: tuple[float, float] = (0.3, 0.5)

    @property
    def box_size(self) -> int:
        """The side of the square each warped glyph is drawn into (even, to centre it cleanly)."""
        side = math.ceil(GLYPH_SIZE * (1 + self.scale_jitter) + 2 * self.elastic_px)
        return side + side % 2

    def canvas_shape(self, count: int) -> tuple[int, int]:
        """(height, width) of the row in glyph pixels, before the zoom."""
        return self.height, 2 * self.margin + count * self.slot_width

    def image_size(self, count: int) -> tuple[int, int]:
        """(width, height) of the PNG, as Pillow reports it."""
        height, width = self.canvas_shape(count)
        return width * self.zoom, height * self.zoom


DEFAULT_STYLE: Final = RenderStyle()


@dataclass(frozen=True)
class GlyphPlacement:
    """Where one glyph's 28x28 square landed, for debugging and tests: its centre in PNG pixels, its warp."""

    x: float
    y: float
    scale: float
    rotation_deg: float
    shear: float


@dataclass(frozen=True)
class ComposedCaptcha:
    pixels: NDArray[np.uint8]
    placements: tuple[GlyphPlacement, ...]


def render_captcha(glyphs: Glyphs, rng: np.random.Generator, style: RenderStyle = DEFAULT_STYLE) -> bytes:
    """A PNG of the glyphs, left to right, distorted afresh by `rng`."""
    return encode_png(compose_captcha(glyphs, rng, style).pixels)


def compose_captcha(glyphs: Glyphs, rng: np.random.Generator, style: RenderStyle = DEFAULT_STYLE) -> ComposedCaptcha:
    """The captcha's pixels (uint8, dark ink on light paper, full size) and where each glyph went."""
    stack = _validated_stack(glyphs)
    height, width = style.canvas_shape(len(stack))
    placements = _random_placements(stack, width, rng, style)
    boxes = _warped_glyph_boxes(_jittered_strokes(stack, rng, style), placements, rng, style)
    darkness = _paste(boxes, placements, height, width, style.box_size)
    np.maximum(darkness, _curves(height, width, rng, style), out=darkness)
    np.maximum(darkness, _speckle(height, width, rng, style), out=darkness)
    pixels = _add_grain(_enlarge(_shade(darkness, rng, style), style.zoom), rng, style.grain)
    zoomed = tuple(
        GlyphPlacement(p.x * style.zoom, p.y * style.zoom, p.scale * style.zoom, p.rotation_deg, p.shear)
        for p in placements
    )
    return ComposedCaptcha(pixels, zoomed)


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """PNG bytes holding the grey pixels and nothing else: no text, time or other metadata chunk."""
    image = Image.fromarray(pixels)
    image.putpalette(_GREY_PALETTE)
    buffer = io.BytesIO()
    # Huffman-only deflate: the grain defeats string matching anyway, and it is the quickest strategy.
    image.save(buffer, format="PNG", compress_level=1, compress_type=zlib.Z_HUFFMAN_ONLY)
    return buffer.getvalue()


def _validated_stack(glyphs: Glyphs) -> FloatArray:
    if len(glyphs) == 0:
        raise ValueError("a captcha needs at least one glyph")
    stack = np.asarray(glyphs)
    if stack.ndim != 3 or stack.shape[1:] != (GLYPH_SIZE, GLYPH_SIZE):
        raise ValueError(f"glyphs must be {GLYPH_SIZE}x{GLYPH_SIZE} images, got an array of shape {stack.shape}")
    return stack.astype(np.float32) / 255.0


def _ink_columns(stack: FloatArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each glyph's inked width and the offset of the ink's middle from the square's centre, in columns."""
    inked = stack.max(axis=1) > _INK_THRESHOLD
    first = inked.argmax(axis=1)
    last = GLYPH_SIZE - 1 - inked[:, ::-1].argmax(axis=1)
    blank = ~inked.any(axis=1)
    width = np.where(blank, GLYPH_SIZE / 2, last - first + 1).astype(np.float64)
    middle = np.where(blank, 0.0, (first + last) / 2 - _GLYPH_CENTRE).astype(np.float64)
    return width, middle


def _random_placements(
    stack: FloatArray, width: int, rng: np.random.Generator, style: RenderStyle
) -> tuple[GlyphPlacement, ...]:
    count = len(stack)
    if style.warp:
        jitter = rng.uniform(-1, 1, size=(3, count))
        scales = 1 + jitter[0] * style.scale_jitter
        rotations = jitter[1] * style.max_rotation_deg
        shears = jitter[2] * style.max_shear
    else:
        scales, rotations, shears = np.ones(count), np.zeros(count), np.zeros(count)
    # Space the glyphs by their ink, not their squares, so that a narrow "1" does not leave a hole.
    ink_width, ink_middle = _ink_columns(stack)
    ink_width, ink_middle = ink_width * scales, ink_middle * scales
    gaps = rng.uniform(*style.gap_px, size=count - 1)
    ink_centres = np.concatenate([[0.0], np.cumsum((ink_width[:-1] + ink_width[1:]) / 2 + gaps)])
    left, right = ink_centres[0] - ink_width[0] / 2, ink_centres[-1] + ink_width[-1] / 2
    slack = max(0.0, width - 2 * style.margin - (right - left))
    ink_centres += (width - (right + left)) / 2 + rng.uniform(-slack / 4, slack / 4)
    centres_x = ink_centres - ink_middle
    centres_y = style.height / 2 + rng.uniform(-1, 1, count) * style.max_vertical_offset_px
    return tuple(
        GlyphPlacement(float(x), float(y), float(s), float(r), float(h))
        for x, y, s, r, h in zip(centres_x, centres_y, scales, rotations, shears, strict=True)
    )


def _jittered_strokes(stack: FloatArray, rng: np.random.Generator, style: RenderStyle) -> FloatArray:
    """Each glyph blended towards its dilation (thicker) or erosion (thinner) by a random amount.

    Returns the glyphs inside a one-pixel zero border ([count, 30, 30]), the layout `_warped_glyph_boxes` samples.
    """
    blocks = np.zeros((len(stack), _BLOCK, _BLOCK), np.float32)
    blocks[:, 1:-1, 1:-1] = stack
    # A plus-shaped neighbourhood thickens or thins a stroke evenly in every direction.
    up, down, left, right = blocks[:, :-2, 1:-1], blocks[:, 2:, 1:-1], blocks[:, 1:-1, :-2], blocks[:, 1:-1, 2:]
    thicker = np.maximum(np.maximum(np.maximum(up, down), np.maximum(left, right)), stack)
    thinner = np.minimum(np.minimum(np.minimum(up, down), np.minimum(left, right)), stack)
    amount = rng.uniform(*style.stroke_jitter, size=(len(stack), 1, 1)).astype(np.float32)
    target = np.where(amount > 0, thicker, thinner)
    blocks[:, 1:-1, 1:-1] += np.abs(amount) * (target - stack)
    return blocks


def _warped_glyph_boxes(
    blocks: FloatArray, placements: tuple[GlyphPlacement, ...], rng: np.random.Generator, style: RenderStyle
) -> FloatArray:
    """Every glyph resampled into its own box_size square, centred on its (sub-pixel) placement."""
    count, side = len(blocks), style.box_size
    scale = np.array([p.scale for p in placements], np.float32)
    angle = np.radians(np.array([p.rotation_deg for p in placements], np.float32))
    shear = np.array([p.shear for p in placements], np.float32)
    cos, sin = np.cos(angle), np.sin(angle)
    # Forward map in (row, col): scale * rotation @ horizontal shear (col += shear * row).
    forward = np.empty((count, 2, 2), np.float32)
    forward[:, 0, 0] = cos + sin * shear
    forward[:, 0, 1] = sin
    forward[:, 1, 0] = cos * shear - sin
    forward[:, 1, 1] = cos
    inverse = np.linalg.inv(forward * scale[:, None, None])[:, :, :, None, None]

    # Each output pixel's offset from its glyph's centre, then (optionally) displaced, then mapped back.
    offsets = np.arange(side, dtype=np.float32) - (side - 1) / 2
    sub_pixel = np.array([[p.y - round(p.y), p.x - round(p.x)] for p in placements], np.float32)
    along_rows = np.broadcast_to((offsets[None, :] - sub_pixel[:, :1])[:, :, None], (count, side, side))
    along_cols = np.broadcast_to((offsets[None, :] - sub_pixel[:, 1:])[:, None, :], (count, side, side))
    if style.warp and style.elastic_px > 0:
        displacement = _displacement_fields(count, side, rng, style)
        along_rows, along_cols = along_rows + displacement[:, 0], along_cols + displacement[:, 1]
    source = np.empty((2, count, side, side), np.float32)
    np.add(inverse[:, 0, 0] * along_rows, inverse[:, 0, 1] * along_cols, out=source[0])
    np.add(inverse[:, 1, 0] * along_rows, inverse[:, 1, 1] * along_cols, out=source[1])
    source += _GLYPH_CENTRE + 1
    np.clip(source, 0.0, GLYPH_SIZE + 1, out=source)

    boxes = _bilinear(blocks, source)
    # A little extra contrast crisps the soft EMNIST edges after the enlargement.
    boxes *= _INK_GAIN
    boxes -= (_INK_GAIN - 1) / 2
    np.clip(boxes, 0.0, 1.0, out=boxes)
    return boxes


def _bilinear(blocks: FloatArray, source: FloatArray) -> FloatArray:
    """Bilinear samples of each glyph's block at (row, col) = source[:, k]; coordinates lie in [0, _BLOCK - 1].

    Four numpy gathers: several times quicker than `scipy.ndimage.map_coordinates` at this size.
    """
    count = len(blocks)
    # One spare row after the last block, so the lower and right neighbours of its edge are in bounds.
    flat = np.concatenate([blocks.ravel(), np.zeros(_BLOCK + 1, np.float32)])
    rows, cols = source[0], source[1]
    top_row, left_col = np.floor(rows), np.floor(cols)
    down, across = rows - top_row, cols - left_col
    block_start = (np.arange(count, dtype=np.int32) * _BLOCK)[:, None, None]
    index = (top_row.astype(np.int32) + block_start) * _BLOCK + left_col.astype(np.int32)
    top_left, top_right = flat[index], flat[index + 1]
    bottom_left, bottom_right = flat[index + _BLOCK], flat[index + _BLOCK + 1]
    top = top_left + (top_right - top_left) * across
    bottom = bottom_left + (bottom_right - bottom_left) * across
    sampled: FloatArray = top + (bottom - top) * down
    return sampled


def _displacement_fields(count: int, side: int, rng: np.random.Generator, style: RenderStyle) -> FloatArray:
    """Smooth random displacements: a coarse random grid, interpolated over the box without creases."""
    knots = style.elastic_grid
    coarse = rng.uniform(-1, 1, size=(count, 2, knots, knots)).astype(np.float32) * style.elastic_px
    weights = _smoothstep_weights(side, knots)
    fields: FloatArray = weights @ coarse @ weights.T
    return fields


@lru_cache(maxsize=16)
def _smoothstep_weights(side: int, knots: int) -> FloatArray:
    """A [side, knots] matrix that interpolates between neighbouring knots with a smoothstep."""
    position = np.linspace(0, knots - 1, side)
    lower = np.minimum(np.floor(position).astype(np.int64), knots - 2)
    fraction = position - lower
    smooth = fraction * fraction * (3 - 2 * fraction)
    weights = np.zeros((side, knots), np.float32)
    weights[np.arange(side), lower] = 1 - smooth
    weights[np.arange(side), lower + 1] = smooth
    weights.setflags(write=False)
    return weights


def _paste(boxes: FloatArray, placements: tuple[GlyphPlacement, ...], height: int, width: int, side: int) -> FloatArray:
    """The boxes laid onto one ink layer; a border of one box on every side absorbs glyphs near the edge."""
    layer = np.zeros((height + 2 * side, width + 2 * side), np.float32)
    for box, placement in zip(boxes, placements, strict=True):
        top = round(placement.y) - side // 2 + side
        left = round(placement.x) - side // 2 + side
        region = layer[top : top + side, left : left + side]
        np.maximum(region, box, out=region)
    inner: FloatArray = layer[side : side + height, side : side + width]
    return inner


def _curves(height: int, width: int, rng: np.random.Generator, style: RenderStyle) -> FloatArray:
    """A few faint, anti-aliased sine curves across the image, all drawn by one scatter."""
    layer = np.zeros((height, width), np.float32)
    if style.curves == 0:
        return layer
    n = style.curves
    columns = np.arange(width)

    def draw(low: float, high: float) -> NDArray[np.float64]:
        return rng.uniform(low, high, size=(n, 1))

    amplitude, period = draw(1.5, height / 5), draw(0.6, 1.6) * width
    centre_y, slope = draw(0.25, 0.75) * height, draw(-0.1, 0.1)
    thickness, alpha, phase = draw(0.5, 0.8), rng.uniform(*style.curve_alpha, size=(n, 1)), draw(0, 2 * math.pi)
    y = centre_y + amplitude * np.sin(2 * math.pi * columns / period + phase) + slope * (columns - width / 2)
    rows = np.floor(y)[:, None, :].astype(np.int64) + np.arange(-1, 3)[None, :, None]  # [n, 4, width]
    weight = alpha[:, :, None] * np.clip(1 - np.abs(rows + 0.5 - y[:, None, :]) / thickness[:, :, None], 0, 1)
    visible = (rows >= 0) & (rows < height) & (weight > 0)
    cols = np.broadcast_to(columns, rows.shape)
    # Where two curves cross, one of them wins the pixel: invisible at this faintness.
    layer[rows[visible], cols[visible]] = weight[visible]
    return layer


def _speckle(height: int, width: int, rng: np.random.Generator, style: RenderStyle) -> FloatArray:
    dots = rng.random((height, width), dtype=np.float32)
    scale = 0.3 / max(style.speckle_density, 1e-9)
    speckle: FloatArray = np.where(dots < style.speckle_density, 0.2 + scale * dots, 0.0).astype(np.float32)
    return speckle


def _shade(darkness: FloatArray, rng: np.random.Generator, style: RenderStyle) -> NDArray[np.uint8]:
    """Darkness (0 paper .. 1 ink) to grey levels: a random paper tone with a ramp, a random ink tone."""
    width = darkness.shape[1]
    paper = rng.uniform(*style.background_level)
    ink = rng.uniform(*style.ink_level)
    ramp = np.linspace(-1, 1, width, dtype=np.float32) * rng.uniform(-1, 1) * style.background_ramp
    grey = (paper + ramp) - (paper - ink) * darkness
    # Leave room for the grain, which is added in uint8 and must not wrap around.
    return np.clip(grey, style.grain, 255 - style.grain).astype(np.uint8)


def _enlarge(pixels: NDArray[np.uint8], zoom: int) -> NDArray[np.uint8]:
    if zoom == 1:
        return pixels
    height, width = pixels.shape
    resized = Image.fromarray(pixels).resize((width * zoom, height * zoom), Image.Resampling.BILINEAR)
    return np.array(resized)


def _add_grain(pixels: NDArray[np.uint8], rng: np.random.Generator, grain: int) -> NDArray[np.uint8]:
    """Fine noise at full size, from -grain/2 to +grain/2 grey levels."""
    if grain == 0:
        return pixels
    pixels += rng.integers(0, grain + 1, size=pixels.shape, dtype=np.uint8)
    pixels -= np.uint8(grain // 2)
    return pixels
