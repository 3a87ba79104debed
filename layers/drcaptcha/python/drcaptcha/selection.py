"""Picking a challenge's glyphs: some with known labels, which score the answer, and some unlabelled, which
collect votes.

Everything here is read through warm caches, so that a warm process issues a challenge without touching S3:
- known glyphs come from a small pool of training shards, chosen at random once per warm process and again every
  `glyph_pool_refresh_seconds` (so a fleet of warm processes shows the whole training split over time);
- unlabelled glyphs come from the `by-state` index, least shown first, re-read every `unlabelled_cache_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from drcaptcha.config import get_settings
from drcaptcha.errors import DataError, NotImported
from drcaptcha.glyphs import GlyphRef, GlyphStore, ImportManifest
from drcaptcha.models.glyph import UNLABELLED, GlyphItem

GLYPHS_PER_CHALLENGE: Final = 6
MIN_KNOWN_GLYPHS: Final = 3
KNOWN_SPLIT: Final = "train"
POOL_SHARDS: Final = 4
UNLABELLED_CANDIDATES: Final = 50


@dataclass(frozen=True)
class PickedGlyph:
    ref: GlyphRef
    label: int | None
    """The known class index, or None for an unlabelled glyph."""

    @property
    def known(self) -> bool:
        return self.label is not None


_T = TypeVar("_T")


@dataclass
class _Cached(Generic[_T]):
    value: _T
    until: float


class GlyphSelector:
    def __init__(self, store: GlyphStore, rng: np.random.Generator, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._rng = rng
        self._clock = clock
        self._manifest: _Cached[ImportManifest] | None = None
        self._pool: _Cached[dict[int, NDArray[np.intp]]] | None = None
        self._unlabelled: _Cached[list[GlyphRef]] | None = None

    def pick(self, count: int = GLYPHS_PER_CHALLENGE, min_known: int = MIN_KNOWN_GLYPHS) -> list[PickedGlyph]:
        """`count` glyphs in random order: at least `min_known` known, the rest unlabelled while any are left."""
        candidates = self._unlabelled_candidates()
        unlabelled_count = min(count - min_known, len(candidates))
        chosen: NDArray[np.intp] = self._rng.choice(len(candidates), size=unlabelled_count, replace=False)
        picks = [PickedGlyph(candidates[int(index)], None) for index in chosen]
        picks += self._known(count - unlabelled_count)
        order = self._rng.permutation(len(picks))
        return [picks[int(index)] for index in order]

    def images(self, picks: list[PickedGlyph]) -> list[NDArray[np.uint8]]:
        return [self.store.image(pick.ref) for pick in picks]

    # --- known glyphs --------------------------------------------------------------------------------------
    def _known(self, count: int) -> list[PickedGlyph]:
        pool = self._known_pool()
        shards = list(pool)
        picked: dict[GlyphRef, PickedGlyph] = {}
        while len(picked) < count:
            shard = shards[int(self._rng.integers(len(shards)))]
            offsets = pool[shard]
            offset = int(offsets[int(self._rng.integers(len(offsets)))])
            ref = GlyphRef(KNOWN_SPLIT, shard, offset)
            picked[ref] = PickedGlyph(ref, self.store.label(ref))
        return list(picked.values())

    def _known_pool(self) -> dict[int, NDArray[np.intp]]:
        """A few training shards and, for each, the offsets whose label is known."""
        now = self._clock()
        manifest = self._current_manifest(now)
        if self._pool is not None and self._pool.until > now:
            return self._pool.value
        split = manifest.splits.get(KNOWN_SPLIT)
        if split is None or not split.shard_sizes:
            raise NotImported(f"the import has no {KNOWN_SPLIT} split")
        pool: dict[int, NDArray[np.intp]] = {}
        for shard in self._rng.permutation(len(split.shard_sizes)):
            known = np.flatnonzero(self.store.labels(KNOWN_SPLIT, int(shard)) >= 0)
            if len(known):
                pool[int(shard)] = known
            if len(pool) == POOL_SHARDS:
                break
        if sum(len(offsets) for offsets in pool.values()) < MIN_KNOWN_GLYPHS:
            raise DataError(f"fewer than {MIN_KNOWN_GLYPHS} training glyphs have a known label")
        self._pool = _Cached(pool, now + get_settings().glyph_pool_refresh_seconds)
        return pool

    def _current_manifest(self, now: float) -> ImportManifest:
        if self._manifest is None or self._manifest.until <= now:
            manifest = self.store.manifest()
            if self._manifest is not None and manifest.version != self._manifest.value.version:
                self._pool = None
            self._manifest = _Cached(manifest, now + get_settings().glyph_pool_refresh_seconds)
        return self._manifest.value

    # --- unlabelled glyphs ---------------------------------------------------------------------------------
    def _unlabelled_candidates(self) -> list[GlyphRef]:
        now = self._clock()
        if self._unlabelled is None or self._unlabelled.until <= now:
            refs: list[GlyphRef] = []
            items = GlyphItem.by_state.query(
                UNLABELLED, scan_index_forward=True, limit=UNLABELLED_CANDIDATES, page_size=UNLABELLED_CANDIDATES
            )
            for item in items:
                try:
                    refs.append(GlyphRef.parse(item.glyph_id))
                except DataError:
                    continue
            self._unlabelled = _Cached(refs, now + get_settings().unlabelled_cache_seconds)
        return self._unlabelled.value
