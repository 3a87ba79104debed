"""Composing one captcha image from glyphs: a fresh random warp, spacing, stroke and noise on every call.

Glyphs come in as EMNIST stores them upright: uint8 28x28, ink 255 on 0. Each is warped by a random affine map
plus a smooth random displacement field, thickened or thinned a little, and placed at a random gap and height
after its neighbour. The row gets dark ink on a light, tinted background with speckle and a couple of faint
curves, a grain is added, and it is enlarged `zoom` times (2x by default).

Why it is fast (about 0.8 ms to 0.95 ms of CPU for six glyphs, the 4-bit deflated PNG included, on the 2-core
development machine; against the `captcha` package see docs/BENCHMARKS.md):
at this size the cost is numpy's fixed cost per call, not the pixels, so every step is a few whole-array
operations, with no per-pixel Python and few per-glyph steps.
- The distortions run at the glyphs' own resolution, where there are four times fewer pixels.
- The whole warp of every glyph (affine map, sub-pixel placement and displacement field) is one pair of small
  matrix products that give each output pixel its source point; four gathers with one shared index then
  resample all glyphs at once, bilinearly.
- EMNIST strokes have soft, blurred edges, so moving the grey levels between which the warped glyph turns to
  ink thickens or thins its strokes (by up to about a glyph pixel): the same multiply that sharpens the edges
  does it, per glyph, instead of a dilation or erosion.
- Speckle and curves are scattered onto the few pixels they touch, not drawn as full layers; the per-call
  random numbers come from one draw.
- The 2x enlargement is bilinear in integer numpy arithmetic (Pillow's resize cost three times more), and the
  grain comes from the generator's raw bits.
- The PNG is written directly (its chunks, and zlib): the pixel rows are composed straight into the layout that
  PNG stores (a filter byte, then the row), packed to 16 grey levels, two pixels a byte, and deflated by ISA-L
  (see _PNG_BITS); bench/bench_render.py measures this encoder against Pillow's at every level in the same run.

Bytes on the wire: the grain is noise, and noise does not compress, so at 256 grey levels even Pillow's best
(level 9, adaptive filters) leaves about 17.5 kB for six glyphs. With 16 grey levels the same grain becomes a
dither between neighbouring levels: about 6.9 kB (95th percentile), and it reads the same by eye. Since
2026-12-06 the grain is drawn at the glyphs' resolution, before the 2x enlargement (`coarse_grain`): a quarter
of the random bytes, a smoother dither that deflates to about 5.7 kB (p95), and the same ink for the bots'
segmentation (docs/BENCHMARKS.md, "A coarser grain"). The warp, spacing, strokes, speckle, curves and grain are
still drawn afresh for every call.

The PNG holds pixels only (IHDR, PLTE, IDAT, IEND): no text chunk, no metadata, so the answer never leaks.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

import numpy as np
from isal import isal_zlib
from numpy.typing import NDArray
from PIL import Image

GLYPH_SIZE: Final = 28
_GLYPH_CENTRE: Final = (GLYPH_SIZE - 1) / 2
# Each glyph sits in its own block, inside a zero border, so that bilinear sampling outside a glyph reads
# blank paper and never a neighbour's ink.
_BLOCK: Final = GLYPH_SIZE + 2
# Source points are kept inside the block, so a pixel's right and lower neighbours are in it too.
_SOURCE_MAX: Final = np.float32(_BLOCK - 1 - 1e-3)
_INK_THRESHOLD: Final = 64
# Grey level (0..1) of a warped glyph at which ink starts and at which it is full, before stroke jitter: this
# stretch crisps the soft EMNIST edges after the enlargement.
_INK_LOW: Final = 0.115
_INK_HIGH: Final = 0.885
# How far a stroke jitter of 1 moves those levels: enough to thicken or thin a stroke by about a glyph pixel.
_STROKE_LEVEL_SHIFT: Final = 0.3
# The PNG's default depth: 4 bits, 16 grey levels (0, 17, ..., 255), two pixels a byte. On grain, fast deflate
# is nearly as small as deflate's best: for six glyphs about 6.8 kB against 12.9 kB stored (8 bits: 21.8 kB and
# 26.5 kB). RenderStyle.compact_png (the default) deflates with ISA-L's level 1 (the `isal` package), which
# gave zlib's Huffman-only size or smaller in a third of its time (83 us against 250 us): see BENCHMARKS.md.
_PNG_BITS: Final = 4
_COMPACT_LEVEL: Final = 1
_STORED: Final = 0
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_GREY_PALETTE: Final = bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))

FloatArray = NDArray[np.float32]
Glyphs = Sequence[NDArray[np.uint8]] | NDArray[np.uint8]


@dataclass(frozen=True)
class RenderStyle:
    """How each captcha is laid out and distorted. Lengths are in glyph pixels; the PNG is `zoom` times larger.

    `warp=False` keeps the glyphs unrotated, unsheared and undistorted (spacing, strokes and noise still vary).
    `stroke_jitter` is the range of each glyph's stroke change: positive thickens, negative thins, 1 is about a
    glyph pixel. `grain` is the spread of the fine noise in grey levels (rounded down to a power of two);
    `coarse_grain` draws it at the glyphs' resolution, before the enlargement (two PNG pixels a grain, smoothed),
    and False after it (one pixel a grain, as before 2026-12-06).
    `png_bits` is the PNG's grey depth: 4 (16 levels, the grain dithering between them) or 8 (256 levels).
    `compact_png=True` deflates the PNG's pixels (about half the bytes at 4 bits); False stores them.
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
    coarse_grain: bool = True
    speckle_density: float = 0.015
    curves: int = 2
    curve_alpha: tuple[float, float] = (0.3, 0.5)
    png_bits: int = _PNG_BITS
    compact_png: bool = True

    def __post_init__(self) -> None:
        if self.png_bits not in (4, 8):
            raise ValueError(f"png_bits must be 4 or 8, got {self.png_bits}")

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


class _Layout(NamedTuple):
    """Each glyph's centre (glyph pixels), scale, rotation (degrees) and shear: one value a glyph.

    Plain Python floats: for a handful of glyphs they are quicker to work out than numpy's small arrays.
    """

    x: list[float]
    y: list[float]
    scale: list[float]
    rotation: list[float]
    shear: list[float]


def render_captcha(glyphs: Glyphs, rng: np.random.Generator, style: RenderStyle = DEFAULT_STYLE) -> bytes:
    """A PNG of the glyphs, left to right, distorted afresh by `rng`."""
    rows, _ = _draw(glyphs, rng, style)
    return _png(rows, bits=style.png_bits, compact=style.compact_png)


def compose_captcha(glyphs: Glyphs, rng: np.random.Generator, style: RenderStyle = DEFAULT_STYLE) -> ComposedCaptcha:
    """The captcha's pixels (uint8, dark ink on light paper, full size) and where each glyph went.

    The same generator state gives the pixels that `render_captcha` would encode (at 4 bits, each rounded down
    to one of the 16 levels, as a decoder shows them).
    """
    rows, layout = _draw(glyphs, rng, style)
    pixels = rows[:, 1:]
    if style.png_bits == 4:
        pixels >>= 4
        pixels *= 17
    zoom = style.zoom
    placements = tuple(
        GlyphPlacement(x * zoom, y * zoom, s * zoom, r, h) for x, y, s, r, h in zip(*layout, strict=True)
    )
    return ComposedCaptcha(pixels, placements)


Deflate = Callable[[memoryview], bytes]


def encode_png(
    pixels: NDArray[np.uint8], *, bits: int = 8, compact: bool = False, deflate: Deflate | None = None
) -> bytes:
    """PNG bytes holding the grey pixels and nothing else: no text, time or other metadata chunk.

    At `bits=4` each pixel is rounded down to one of 16 grey levels. `deflate`, when given, compresses the
    pixel rows (zlib format) in place of the `compact` choice: bench/bench_render.py compares deflates with it.
    """
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), np.uint8)
    rows[:, 1:] = pixels
    return _png(rows, bits=bits, compact=compact, deflate=deflate)


def _png(rows: NDArray[np.uint8], *, bits: int, compact: bool, deflate: Deflate | None = None) -> bytes:
    """A grey PNG from 8-bit pixel rows that each start with their filter byte (0: none).

    8 bits: a palette PNG with a grey palette. 4 bits: a greyscale PNG, each pair of pixels packed in one byte.
    """
    height, width = rows.shape[0], rows.shape[1] - 1
    data = rows if bits == 8 else _packed_nibbles(rows)
    if deflate is not None:
        idat = deflate(data.data)
    else:
        idat = isal_zlib.compress(data.data, _COMPACT_LEVEL) if compact else zlib.compress(data.data, _STORED)
    return b"".join((_png_head(width, height, bits), *_chunk_parts(b"IDAT", idat), _IEND))


def _packed_nibbles(rows: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Rows of 8-bit pixels (after their filter byte) as 4-bit ones, two a byte, the left one high."""
    height, width = rows.shape[0], rows.shape[1] - 1
    if width % 2:
        rows = np.concatenate((rows, np.zeros((height, 1), np.uint8)), axis=1)
    packed = np.zeros((height, (width + 1) // 2 + 1), np.uint8)
    np.bitwise_and(rows[:, 1::2], np.uint8(0xF0), out=packed[:, 1:])
    packed[:, 1:] |= rows[:, 2::2] >> 4
    return packed


@lru_cache(maxsize=16)
def _png_head(width: int, height: int, bits: int) -> bytes:
    """Signature and header (no interlace): 8 bits, a palette and the grey palette; 4 bits, greyscale."""
    if bits == 4:
        return _PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 4, 0, 0, 0, 0))
    if bits != 8:
        raise ValueError(f"a PNG here has 4 or 8 bits a pixel, not {bits}")
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"PLTE", _GREY_PALETTE)


def _chunk_parts(kind: bytes, data: bytes) -> tuple[bytes, bytes, bytes]:
    """A chunk as (length and type, data, CRC): joined once with the rest of the file, not copied here."""
    return struct.pack(">I", len(data)) + kind, data, struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return b"".join(_chunk_parts(kind, data))


_IEND: Final = _chunk(b"IEND", b"")


def _validated_stack(glyphs: Glyphs) -> NDArray[np.uint8]:
    if len(glyphs) == 0:
        raise ValueError("a captcha needs at least one glyph")
    stack = np.asarray(glyphs)
    if stack.ndim != 3 or stack.shape[1:] != (GLYPH_SIZE, GLYPH_SIZE):
        raise ValueError(f"glyphs must be {GLYPH_SIZE}x{GLYPH_SIZE} images, got an array of shape {stack.shape}")
    return stack


class _Uniforms:
    """One call's uniform [0, 1) numbers, drawn from the generator at once and handed out in turn.

    One draw instead of one per step: each call into the generator has a fixed cost that would add up.
    """

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self._values = rng.random(count)
        self._used = 0

    def take(self, count: int) -> NDArray[np.float64]:
        start, self._used = self._used, self._used + count
        if self._used > len(self._values):
            raise AssertionError("drew more uniform numbers than were set aside")  # a bug in this module
        return self._values[start : self._used]

    def take_list(self, count: int) -> list[float]:
        values: list[float] = self.take(count).tolist()
        return values


def _speckle_dots(height: int, width: int, style: RenderStyle) -> int:
    return round(height * width * min(max(style.speckle_density, 0.0), 1.0))


def _draw(glyphs: Glyphs, rng: np.random.Generator, style: RenderStyle) -> tuple[NDArray[np.uint8], _Layout]:
    """The full-size pixel rows, each after a zero filter byte (PNG's layout), and where the glyphs went."""
    stack = _validated_stack(glyphs)
    count, side = len(stack), style.box_size
    height, width = style.canvas_shape(count)
    elastic = 2 * count * style.elastic_grid**2 if style.warp and style.elastic_px > 0 else 0
    draws = _Uniforms(rng, 6 * count + elastic + 6 * style.curves + 3 * _speckle_dots(height, width, style) + 3)
    layout = _random_layout(stack, width, draws, style)
    boxes = _warped_glyph_boxes(stack, layout, draws, style)
    # A border around the image takes the parts of boxes that stick out, and curves that stray (at least two
    # pixels, see _draw_curves); it is only as wide as this call's boxes need, since every pixel costs time.
    tops = [round(y) - side // 2 for y in layout.y]
    lefts = [round(x) - side // 2 for x in layout.x]
    border = max(2, -min(tops), -min(lefts), max(tops) + side - height, max(lefts) + side - width)
    darkness = np.zeros((height + 2 * border, width + 2 * border), np.float32)
    # Boxes are negative where they are blank (see _warped_glyph_boxes): the maximum with the paper's 0
    # clears that.
    for box, top, left in zip(boxes, tops, lefts, strict=True):
        region = darkness[top + border : top + border + side, left + border : left + border + side]
        np.maximum(region, box, out=region)
    _draw_curves(darkness, border, height, width, draws, style)
    _draw_speckle(darkness, border, height, width, draws, style)
    # The shading covers one extra pixel all round, which the enlargement reads as each edge's neighbour.
    grey = _shade(darkness[border - 1 : border + height + 1, border - 1 : border + width + 1], draws, style)
    if style.coarse_grain:
        _add_grain(grey, rng, style.grain)
    rows = np.zeros((height * style.zoom, width * style.zoom + 1), np.uint8)
    _enlarge_into(rows[:, 1:], grey, style.zoom)
    if not style.coarse_grain:
        _add_grain(rows[:, 1:], rng, style.grain)
    return rows, layout


def _ink_columns(stack: NDArray[np.uint8]) -> list[tuple[float, float]]:
    """Each glyph's inked width and the offset of the ink's middle from the square's centre, in columns."""
    columns = []
    # Each glyph's inked columns as 28 bytes of 0 or 1: bytes.find and rfind are quicker than lists here.
    inked = (stack.max(axis=1) >= _INK_THRESHOLD).tobytes()
    for start in range(0, len(inked), GLYPH_SIZE):
        glyph = inked[start : start + GLYPH_SIZE]
        first = glyph.find(1)
        if first < 0:
            columns.append((GLYPH_SIZE / 2, 0.0))
        else:
            last = glyph.rfind(1)
            columns.append((last - first + 1.0, (first + last) / 2 - _GLYPH_CENTRE))
    return columns


def _random_layout(stack: NDArray[np.uint8], width: int, draws: _Uniforms, style: RenderStyle) -> _Layout:
    count = len(stack)
    uniform = draws.take_list(5 * count)
    if style.warp:
        scales = [1 + (2 * u - 1) * style.scale_jitter for u in uniform[:count]]
        rotations = [(2 * u - 1) * style.max_rotation_deg for u in uniform[count : 2 * count]]
        shears = [(2 * u - 1) * style.max_shear for u in uniform[2 * count : 3 * count]]
    else:
        scales, rotations, shears = [1.0] * count, [0.0] * count, [0.0] * count
    # Space the glyphs by their ink, not their squares, so that a narrow "1" does not leave a hole.
    ink = [
        (ink_width * scale, middle * scale)
        for (ink_width, middle), scale in zip(_ink_columns(stack), scales, strict=True)
    ]
    low_gap, high_gap = style.gap_px
    ink_centres = [0.0]
    for (left_width, _), (right_width, _), u in zip(ink[:-1], ink[1:], uniform[3 * count : 4 * count - 1], strict=True):
        ink_centres.append(ink_centres[-1] + (left_width + right_width) / 2 + low_gap + (high_gap - low_gap) * u)
    left, right = -ink[0][0] / 2, ink_centres[-1] + ink[-1][0] / 2
    slack = max(0.0, width - 2 * style.margin - (right - left))
    shift = (width - (right + left)) / 2 + (2 * uniform[4 * count - 1] - 1) * slack / 4
    centres_x = [centre + shift - middle for centre, (_, middle) in zip(ink_centres, ink, strict=True)]
    centres_y = [style.height / 2 + (2 * u - 1) * style.max_vertical_offset_px for u in uniform[4 * count :]]
    return _Layout(centres_x, centres_y, scales, rotations, shears)


def _warped_glyph_boxes(stack: NDArray[np.uint8], layout: _Layout, draws: _Uniforms, style: RenderStyle) -> FloatArray:
    """Every glyph resampled into its own box_size square, centred on its (sub-pixel) place; darkness up to 1.

    Blank parts of a box are below 0 (the caller clips them): the grey-level stretch is applied to the sampled
    boxes in one whole-array step, which gives the same levels as stretching the glyphs before sampling.
    """
    count, side, knots = len(stack), style.box_size, style.elastic_grid
    # Per glyph: the inverse of the forward map scale * rotation @ horizontal shear (col += shear * row), in
    # (row, col), whose determinant is scale squared; and the source point of the box's centre.
    affine: list[float] = []
    # The field's knots are drawn from 0 to 2 * elastic_px, and every pixel's field is a weighted mean of
    # knots, so the source points are moved back by elastic_px here instead of shifting each knot.
    centre = _GLYPH_CENTRE + 1 - (style.elastic_px if style.warp else 0.0)
    for x, y, scale, rotation, shear in zip(*layout, strict=True):
        cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        row_row, row_col = cos / scale, -sin / scale
        col_row, col_col = (sin - cos * shear) / scale, (cos + sin * shear) / scale
        down, across = y - round(y), x - round(x)
        affine += (0.0, row_row, row_col, centre - row_row * down - row_col * across)
        affine += (0.0, col_row, col_col, centre - col_row * down - col_col * across)
    # Each source coordinate is basis @ mix @ basis.T: the basis holds the displacement field's interpolation
    # weights, each pixel's offset from the box centre, and 1. So mix's corner block is the field's random
    # knots, and its last row and column carry the affine map and the source point of the centre.
    size = knots + 2
    mix = np.zeros((count * 2, size, size), np.float32)
    if style.warp and style.elastic_px > 0:
        knot_shifts = draws.take(count * 2 * knots * knots).reshape(count * 2, knots, knots)
        np.multiply(knot_shifts, 2 * style.elastic_px, out=mix[:, :knots, :knots], casting="same_kind")
    mix[:, knots:, knots:] = np.array(affine, np.float32).reshape(count * 2, 2, 2)
    basis, basis_t = _warp_basis(side, knots)
    source = (basis @ mix @ basis_t).reshape(count, 2, side, side)
    np.clip(source, 0, _SOURCE_MAX, out=source)

    # Bilinear sampling by four gathers from one flat array of all the glyph blocks: the right, lower and
    # lower-right neighbours of a pixel are the same array read from one, one row and one row and one
    # further on, so the four gathers share one index.
    blocks = np.zeros((count, _BLOCK, _BLOCK), np.float32)
    blocks[:, 1:-1, 1:-1] = stack
    flat = blocks.reshape(-1)
    # The source points are not negative (clipped above), so the floor is the truncation. Float32 holds these
    # small whole numbers exactly; working in it and casting the index once is cheaper than an integer detour.
    whole = np.floor(source)
    fraction = np.subtract(source, whole, out=source)
    index_f = whole[:, 0] * np.float32(_BLOCK)
    index_f += whole[:, 1]
    index_f += _block_starts(count)
    index = index_f.astype(np.intp)
    # The indices are in range by construction; mode="clip" skips numpy's slower checking path.
    top = flat.take(index, mode="clip")
    top_right = flat[1:].take(index, mode="clip")
    bottom = flat[_BLOCK:].take(index, mode="clip")
    boxes = flat[_BLOCK + 1 :].take(index, mode="clip")
    along_cols, along_rows = fraction[:, 1], fraction[:, 0]
    top_right -= top
    top_right *= along_cols
    top += top_right
    boxes -= bottom
    boxes *= along_cols
    boxes += bottom
    boxes -= top
    boxes *= along_rows
    boxes += top
    # Stretch the grey levels between an ink-start and an ink-full level; lowering both thickens the strokes.
    # The stretch is linear, so applying it after the (linear) sampling gives the same levels on the glyph;
    # the blank border becomes -offset instead of 0, which is blank either way.
    gains, offsets = _stroke_stretch(draws.take_list(count), style.stroke_jitter)
    boxes *= gains
    boxes -= offsets
    return boxes


def _stroke_stretch(draws: list[float], stroke_jitter: tuple[float, float]) -> tuple[FloatArray, FloatArray]:
    """Per glyph [count, 1, 1]: the gain and offset that take raw 0..255 levels to darkness, ink from 1 up.

    Plain Python floats, then one array: for a handful of glyphs that is quicker than numpy's small arrays.
    """
    thinnest, thickest = stroke_jitter
    stretch = []
    for u in draws:
        shift = (thinnest + (thickest - thinnest) * u) * _STROKE_LEVEL_SHIFT
        low, high = max(_INK_LOW - shift, 0.0), min(_INK_HIGH - shift, 1.0)
        stretch.append((1 / (255 * (high - low)), low / (high - low)))
    gains, offsets = np.array(stretch, np.float32).T.reshape(2, -1, 1, 1)
    return gains, offsets


@lru_cache(maxsize=16)
def _block_starts(count: int) -> FloatArray:
    starts = (np.arange(count, dtype=np.float32) * np.float32(_BLOCK * _BLOCK))[:, None, None]
    starts.setflags(write=False)
    return starts


@lru_cache(maxsize=16)
def _warp_basis(side: int, knots: int) -> tuple[FloatArray, FloatArray]:
    """[side, knots + 2]: smoothstep weights between neighbouring knots, the offset from the centre, and 1.

    Also its transpose, laid out for the second matrix product.
    """
    position = np.linspace(0, knots - 1, side)
    lower = np.minimum(np.floor(position).astype(np.int64), knots - 2)
    fraction = position - lower
    smooth = fraction * fraction * (3 - 2 * fraction)
    basis = np.zeros((side, knots + 2), np.float32)
    basis[np.arange(side), lower] = 1 - smooth
    basis[np.arange(side), lower + 1] = smooth
    basis[:, knots] = np.arange(side) - (side - 1) / 2
    basis[:, knots + 1] = 1
    transposed = np.ascontiguousarray(basis.T)
    basis.setflags(write=False)
    transposed.setflags(write=False)
    return basis, transposed


@lru_cache(maxsize=16)
def _columns(width: int) -> tuple[FloatArray, FloatArray]:
    """Column numbers, and their offsets from the middle column."""
    columns = np.arange(width, dtype=np.float32)
    from_middle = columns - width / 2
    columns.setflags(write=False)
    from_middle.setflags(write=False)
    return columns, from_middle


def _draw_curves(
    darkness: FloatArray, border: int, height: int, width: int, draws: _Uniforms, style: RenderStyle
) -> None:
    """A few faint sine curves across the image, each shared between the two rows nearest to it."""
    n = style.curves
    if n == 0:
        return
    scale, offset = _curve_ranges(height, width, border, style.curve_alpha)
    # Per curve: amplitude, angular frequency, phase, height of its middle, slope, alpha.
    parameters = draws.take(6 * n).astype(np.float32).reshape(6, n, 1)
    parameters *= scale
    parameters += offset
    amplitude, frequency, phase, middle_y, slope, alpha = parameters
    columns, from_middle = _columns(width)
    # In float32, in place: numpy's float64 sine costs three times as much here, and rows need no more.
    y = columns * frequency
    y += phase
    np.sin(y, out=y)
    y *= amplitude
    y += from_middle * slope
    y += middle_y
    # Rows that stray past the border are pinned to its outer edge, which is never shown.
    np.maximum(y, np.float32(0), out=y)
    np.minimum(y, np.float32(height + 2 * border - 2), out=y)
    upper = y.astype(np.intp)  # y >= 0, so this is the row above the curve (or on it)
    below = np.subtract(y, upper, out=y, casting="same_kind")
    below *= alpha
    above = alpha - below
    # Flat indices into the layer (_draw's own contiguous array, so reshape is a view): one-dimensional
    # gathers and scatters cost a little less than (row, col) ones (50 us against 53 us, 2026-12-05).
    flat = darkness.reshape(-1)
    index = upper * darkness.shape[1]
    index += _curve_columns(n, width, border)
    # Where two curves cross, one of them wins the pixel: invisible at this faintness.
    flat[index] = np.maximum(flat.take(index), above)
    index += darkness.shape[1]
    flat[index] = np.maximum(flat.take(index), below)


@lru_cache(maxsize=16)
def _curve_ranges(height: int, width: int, border: int, alpha: tuple[float, float]) -> tuple[FloatArray, FloatArray]:
    """Scale and offset that turn uniform numbers into the curves' parameters (see _draw_curves)."""
    # Amplitude 1.5 to height/5; period 0.6 to 1.6 widths (drawn as its frequency); any phase; the curve's
    # middle at a quarter to three quarters of the height (plus the border); slope -0.1 to 0.1.
    low = [1.5, 2 * math.pi / (1.6 * width), 0.0, 0.25 * height + border, -0.1, alpha[0]]
    high = [height / 5, 2 * math.pi / (0.6 * width), 2 * math.pi, 0.75 * height + border, 0.1, alpha[1]]
    scale = (np.array(high, np.float32) - np.array(low, np.float32))[:, None, None]
    offset = np.array(low, np.float32)[:, None, None]
    scale.setflags(write=False)
    offset.setflags(write=False)
    return scale, offset


@lru_cache(maxsize=16)
def _curve_columns(curves: int, width: int, border: int) -> NDArray[np.intp]:
    """[curves, width]: each curve's column indices in the bordered layer."""
    columns = np.repeat(np.arange(border, border + width, dtype=np.intp)[None, :], curves, axis=0)
    columns.setflags(write=False)
    return columns


def _draw_speckle(
    darkness: FloatArray, border: int, height: int, width: int, draws: _Uniforms, style: RenderStyle
) -> None:
    """Dots of darkness 0.2 to 0.5 on about `speckle_density` of the pixels."""
    dots = _speckle_dots(height, width, style)
    where = draws.take(3 * dots).reshape(3, dots)
    places = (where[:2] * _speckle_scale(height, width) + border).astype(np.int64)
    rows, cols = places[0], places[1]
    darkness[rows, cols] = np.maximum(darkness[rows, cols], where[2] * 0.3 + 0.2)


@lru_cache(maxsize=16)
def _speckle_scale(height: int, width: int) -> NDArray[np.float64]:
    scale = np.array([[height], [width]], np.float64)
    scale.setflags(write=False)
    return scale


def _grain_bits(grain: int) -> int:
    """Bits of grain a pixel: the largest power of two not above `grain` is its spread."""
    return min(grain.bit_length() - 1, 8) if grain > 0 else 0


@lru_cache(maxsize=16)
def _unit_ramp(width: int) -> FloatArray:
    ramp = np.linspace(-1, 1, width, dtype=np.float32)
    ramp.setflags(write=False)
    return ramp


def _shade(darkness: FloatArray, draws: _Uniforms, style: RenderStyle) -> NDArray[np.uint16]:
    """Darkness (0 paper .. 1 ink) to grey levels: a random paper tone with a ramp, a random ink tone.

    The levels are lowered by half the grain's spread, which is added later and must not wrap around.
    """
    paper_u, ink_u, ramp_u = draws.take_list(3)
    paper = style.background_level[0] + (style.background_level[1] - style.background_level[0]) * paper_u
    ink = style.ink_level[0] + (style.ink_level[1] - style.ink_level[0]) * ink_u
    spread = (1 << _grain_bits(style.grain)) - 1
    grey = darkness * np.float32(ink - paper)
    grey += _unit_ramp(darkness.shape[1]) * np.float32((2 * ramp_u - 1) * style.background_ramp) + np.float32(
        paper - spread / 2
    )
    # Darkness beyond 1 (the stretched glyph cores) stays at the ink's tone.
    np.clip(grey, max(0.0, ink - style.background_ramp - spread / 2), 255 - spread, out=grey)
    return grey.astype(np.uint16)


def _enlarge_into(out: NDArray[np.uint8], grey: NDArray[np.uint16], zoom: int) -> None:
    """`grey` without its one-pixel ring, enlarged `zoom` times (bilinearly) into `out`."""
    if zoom == 1:
        out[...] = grey[1:-1, 1:-1]
        return
    if zoom != 2:
        inner = Image.fromarray(grey[1:-1, 1:-1].astype(np.uint8))
        out[...] = np.asarray(inner.resize((out.shape[1], out.shape[0]), Image.Resampling.BILINEAR))
        return
    # Bilinear 2x, as Pillow samples it: each new pixel is 3/4 its own old pixel and 1/4 its nearer neighbour,
    # along each axis; in integers, scaled by 4 per axis.
    rows, cols = grey.shape
    triple = grey[:, 1:-1] * np.uint16(3)
    across = np.empty((rows, 2 * (cols - 2)), np.uint16)
    np.add(triple, grey[:, :-2], out=across[:, 0::2])
    np.add(triple, grey[:, 2:], out=across[:, 1::2])
    triple = across[1:-1] * np.uint16(3)
    triple += np.uint16(8)  # rounds the division by 16 below
    down = np.add(triple, across[:-2])
    np.right_shift(down, 4, out=out[0::2], casting="unsafe")
    np.add(triple, across[2:], out=down)
    np.right_shift(down, 4, out=out[1::2], casting="unsafe")


def _add_grain(pixels: NDArray[np.uint8] | NDArray[np.uint16], rng: np.random.Generator, grain: int) -> None:
    """Noise on every pixel, up to `grain` grey levels (the shading left room for it), from raw bits."""
    bits = _grain_bits(grain)
    if bits == 0:
        return
    height, width = pixels.shape
    # The generator's raw 64-bit words, read as bytes, are uniform bytes; their low bits are uniform too.
    noise = rng.bit_generator.random_raw((height * width + 7) // 8).view(np.uint8)[: height * width]
    noise &= np.uint8((1 << bits) - 1)
    pixels += noise.reshape(height, width)
