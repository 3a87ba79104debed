"""Picking a challenge's glyphs: some with known labels, which score the answer, and some unlabelled, which
collect votes.

Everything here is read through warm caches, so that a warm process issues a challenge without touching S3:
- known glyphs come from a small pool of training shards, chosen at random once per warm process and again every
  `glyph_pool_refresh_seconds` (so a fleet of warm processes shows the whole training split over time);
- unlabelled glyphs come from the `by-state` index, least shown first, re-read every `unlabelled_cache_seconds`;
  ambiguous glyphs (their voters keep disagreeing) come along, `AMBIGUOUS_SHARE` as likely to be shown.
- With nothing left to label (right after an import, or once the crowd has labelled every glyph it was given), a
  challenge is made of known glyphs only. The empty candidate list is kept for one cache window like any other,
  so glyphs made unlabelled meanwhile (`drcaptcha remove-labels`) are shown from the next refresh on.
- Everything a draw needs is prepared when a cache is refreshed (the candidates' picks and the inverses of their
  weights), so that a request draws with a few numpy calls (docs/BENCHMARKS.md, "Captcha rendering").

Model-assisted (with an active ensemble; without one, the choice is uniform as before):
- unlabelled glyphs that the ensemble is unsure of (low top-1 probability) are preferred: their labels teach the
  next networks the most (active learning);
- known glyphs that the ensemble gets wrong or is unsure of (low probability of the true class) are preferred
  among a scored sample of the pool: easy for people, hard for bots.
- Only glyphs that people read right are scored. Until gold readings measure that glyph by glyph (issue 15), it
  means a known glyph whose class is in no lookalike group (lookalikes.py): a handwritten 0 or O, for example,
  is never scored, whatever the ensemble thinks of it. Unlabelled glyphs of those classes are still shown, and
  their votes keep the exact class.
- The cap: a known glyph is shown at most `MAX_SHOWS_PER_WINDOW` times per warm process and pool window, an
  unlabelled one `UNLABELLED_SHOWS_PER_WINDOW` times per unlabelled cache window, after which it weighs nothing
  until every candidate is capped. Unlabelled candidates are re-read as soon as too few are under the cap for a
  challenge, which leaves out the glyphs labelled meanwhile, so few votes arrive after their glyph's label.
  Counting in the process, not in the Glyphs table's `shown`, keeps issuing at one write: a fleet of N warm
  processes allows N times the cap, which still spreads a hard glyph over many captchas rather than letting a
  bot see the same one over and over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from drcaptcha import lookalikes, warm
from drcaptcha.config import get_settings
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import DataError, NotImported
from drcaptcha.glyphs import GlyphRef, GlyphStore, ImportManifest
from drcaptcha.models.tables.glyphs import AMBIGUOUS, UNLABELLED
from drcaptcha.serving import serving_cache
from drcaptcha.store.glyphs import GlyphVoteStore

GLYPHS_PER_CHALLENGE: Final = 6
MIN_KNOWN_GLYPHS: Final = 3
KNOWN_SPLIT: Final = "train"
POOL_SHARDS: Final = 4
UNLABELLED_CANDIDATES: Final = 50
AMBIGUOUS_CANDIDATES: Final = 10
AMBIGUOUS_SHARE: Final = 0.25
MAX_SHOWS_PER_WINDOW: Final = 20
# An unlabelled glyph needs about three agreeing people (consensus accepts at 2.5 with a margin of 2), a few more
# when they disagree; beyond that, its votes arrive after it is labelled and count nowhere. So an unlabelled
# candidate is shown at most this often per cache window, and the window ends early once every candidate is
# used up: the refresh leaves out what has been labelled since.
UNLABELLED_SHOWS_PER_WINDOW: Final = 5
# Known glyphs scored per pool refresh (one LiteRT batch), and the weight every glyph keeps whatever its score,
# so that easy glyphs still appear and a weak ensemble does not narrow the choice to a few.
KNOWN_SCORED: Final = 256
SCORE_FLOOR: Final = 0.1
SCORING_BATCH: Final = 64
SELECTION: Final = "selection"
# The one key of each single-entry warm cache below.
_CURRENT: Final = "current"

EnsembleSource = Callable[[], LoadedEnsemble | None]


def active_ensemble_for_selection() -> LoadedEnsemble | None:
    """The process's active ensemble, with interpreters sized for scoring glyphs in batches."""
    return serving_cache(SELECTION, SCORING_BATCH).current()


def _pool_lifetime() -> float:
    return get_settings().glyph_pool_refresh_seconds


def _unlabelled_lifetime() -> float:
    return get_settings().unlabelled_cache_seconds


@dataclass(frozen=True)
class PickedGlyph:
    ref: GlyphRef
    label: int | None
    """The known class index, or None for an unlabelled glyph."""

    @property
    def known(self) -> bool:
        return self.label is not None


@dataclass
class WeightedCandidates:
    """Candidates with the weight each is drawn with, and how often each was shown in this window.

    Made at a cache refresh, with everything a draw needs prepared then (each candidate's pick and the inverse
    of its weight), so that a request's draw is a few numpy calls. `cap` None: no cap (the known pool without an
    ensemble, drawn uniformly).
    """

    refs: list[GlyphRef]
    weights: NDArray[np.float64]
    shown: NDArray[np.int64]
    labels: list[int | None]
    cap: int | None = MAX_SHOWS_PER_WINDOW
    picks: list[PickedGlyph] = field(init=False, repr=False)
    _weighted: NDArray[np.bool_] = field(init=False, repr=False)
    _inverse: NDArray[np.float64] = field(init=False, repr=False)
    _uniform: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.picks = [PickedGlyph(ref, label) for ref, label in zip(self.refs, self.labels, strict=True)]
        self._weighted = self.weights > 0
        self._inverse = np.divide(1.0, self.weights, out=np.full(len(self.refs), np.inf), where=self._weighted)
        self._uniform = self.cap is None and bool(np.all(self.weights == self.weights[:1]))

    @classmethod
    def of(
        cls,
        refs: list[GlyphRef],
        weights: NDArray[np.float64],
        labels: list[int | None],
        cap: int | None = MAX_SHOWS_PER_WINDOW,
    ) -> WeightedCandidates:
        return cls(refs, weights, np.zeros(len(refs), dtype=np.int64), labels, cap)

    def __len__(self) -> int:
        return len(self.refs)

    def used_up(self, needed: int) -> bool:
        """Fewer candidates are under the cap than a draw of `needed` takes (or than there are, if fewer)."""
        if self.cap is None:
            return False
        return int(np.count_nonzero(self.shown < self.cap)) < min(needed, len(self.refs))

    def draw(self, rng: np.random.Generator, count: int) -> list[PickedGlyph]:
        """`count` distinct candidates (fewer if there are fewer, none if there are none), by weight, capped ones
        left out while enough uncapped ones remain; uniformly when they do not."""
        count = min(count, len(self.refs))
        if count == 0:
            return []
        drawable = self._weighted if self.cap is None else self._weighted & (self.shown < self.cap)
        if self._uniform or np.count_nonzero(drawable) < count:
            chosen = rng.choice(len(self.refs), size=count, replace=False)
        else:
            # Efraimidis-Spirakis: the `count` largest keys log(u) / weight are a weighted draw without
            # replacement, the same distribution as drawing one at a time, in O(n) numpy calls.
            keys = np.log(1.0 - rng.random(len(self.refs))) * self._inverse
            keys[~drawable] = -np.inf
            chosen = np.argpartition(keys, -count)[-count:]
        self.shown[chosen] += 1
        return [self.picks[int(index)] for index in chosen]


class GlyphSelector:
    def __init__(
        self,
        store: GlyphStore,
        rng: np.random.Generator,
        clock: Callable[[], float] = time.time,
        ensemble: EnsembleSource = active_ensemble_for_selection,
        states: GlyphVoteStore | None = None,
    ) -> None:
        self.store = store
        self._states = states or GlyphVoteStore()
        self._rng = rng
        self._ensemble = ensemble
        self._manifest: warm.TLRUCache[str, ImportManifest] = warm.expiring(1, _pool_lifetime, clock)
        self._manifest_version: int | None = None
        self._pool: warm.TLRUCache[str, WeightedCandidates] = warm.expiring(1, _pool_lifetime, clock)
        self._scored_known: WeightedCandidates | None = None
        self._unlabelled: warm.TLRUCache[str, WeightedCandidates] = warm.expiring(1, _unlabelled_lifetime, clock)

    def preferences(self) -> dict[str, float]:
        """Each current candidate's glyph id and draw weight (unlabelled and scored known): for inspection."""
        weighted = [self._unlabelled.get(_CURRENT), self._scored_known]
        return {
            ref.key: float(weight)
            for candidates in weighted
            if candidates is not None
            for ref, weight in zip(candidates.refs, candidates.weights, strict=True)
        }

    def pick(self, count: int = GLYPHS_PER_CHALLENGE, min_known: int = MIN_KNOWN_GLYPHS) -> list[PickedGlyph]:
        """`count` glyphs in random order: at least `min_known` known, the rest unlabelled while any are left."""
        candidates = self._unlabelled_candidates(count - min_known)
        picks = candidates.draw(self._rng, count - min_known)
        picks += self._known(count - len(picks))
        order = self._rng.permutation(len(picks))
        return [picks[int(index)] for index in order]

    def images(self, picks: list[PickedGlyph]) -> list[NDArray[np.uint8]]:
        return self.images_of([pick.ref for pick in picks])

    def images_of(self, refs: list[GlyphRef]) -> list[NDArray[np.uint8]]:
        return [self.store.image(ref) for ref in refs]

    # --- known glyphs --------------------------------------------------------------------------------------
    def _known(self, count: int) -> list[PickedGlyph]:
        pool = self._known_pool()
        scored = self._scored_known
        candidates = scored if scored is not None and len(scored) >= count else pool
        if len(candidates) < count:
            raise DataError(f"fewer than {count} training glyphs have a known label: a challenge needs {count}")
        return candidates.draw(self._rng, count)

    def _known_pool(self) -> WeightedCandidates:
        """Every known glyph in no lookalike group of a few training shards, drawn uniformly (and, with an
        ensemble, a scored sample)."""
        manifest = self._current_manifest()
        cached = self._pool.get(_CURRENT)
        if cached is not None:
            return cached
        split = manifest.splits.get(KNOWN_SPLIT)
        if split is None or not split.shard_sizes:
            raise NotImported(f"the import has no {KNOWN_SPLIT} split")
        refs: list[GlyphRef] = []
        labels: list[int | None] = []
        shards = 0
        for shard in self._rng.permutation(len(split.shard_sizes)):
            shard_labels = self.store.labels(KNOWN_SPLIT, int(shard))
            known = np.flatnonzero(lookalikes.ungrouped(shard_labels))
            refs += [GlyphRef(KNOWN_SPLIT, int(shard), int(offset)) for offset in known]
            labels += [int(label) for label in shard_labels[known]]
            shards += 1 if len(known) else 0
            if shards == POOL_SHARDS:
                break
        if len(refs) < MIN_KNOWN_GLYPHS:
            raise DataError(
                f"fewer than {MIN_KNOWN_GLYPHS} training glyphs have a known label that can be scored "
                "(a class in no lookalike group)"
            )
        pool = WeightedCandidates.of(refs, np.ones(len(refs)), labels, cap=None)
        self._pool[_CURRENT] = pool
        self._scored_known = self._score_known(pool)
        return pool

    def _score_known(self, pool: WeightedCandidates) -> WeightedCandidates | None:
        """A sample of the pool, weighted by how badly the active ensemble reads each glyph; None without one."""
        ensemble = self._ensemble()
        if ensemble is None:
            return None
        sample = [pool.picks[int(index)] for index in self._rng.permutation(len(pool))[:KNOWN_SCORED]]
        labels = np.array([pick.label for pick in sample])
        probabilities = ensemble.predict(np.stack(self.images(sample)))
        true_class = probabilities[np.arange(len(sample)), labels].astype(np.float64)
        return WeightedCandidates.of(
            [pick.ref for pick in sample], SCORE_FLOOR + 1.0 - true_class, [pick.label for pick in sample]
        )

    def _current_manifest(self) -> ImportManifest:
        cached = self._manifest.get(_CURRENT)
        if cached is not None:
            return cached
        manifest = self.store.manifest()
        if self._manifest_version is not None and manifest.version != self._manifest_version:
            self._pool.clear()
        self._manifest_version = manifest.version
        self._manifest[_CURRENT] = manifest
        return manifest

    # --- unlabelled glyphs ---------------------------------------------------------------------------------
    def _unlabelled_candidates(self, needed: int) -> WeightedCandidates:
        cached = self._unlabelled.get(_CURRENT)
        if cached is None or cached.used_up(needed):
            unlabelled = self._query(UNLABELLED, UNLABELLED_CANDIDATES)
            ambiguous = self._query(AMBIGUOUS, AMBIGUOUS_CANDIDATES)
            refs = unlabelled + ambiguous
            weights = np.array([1.0] * len(unlabelled) + [AMBIGUOUS_SHARE] * len(ambiguous))
            ensemble = self._ensemble() if refs else None
            if ensemble is not None:
                top = ensemble.predict(np.stack(self.images_of(refs))).max(axis=1).astype(np.float64)
                weights *= SCORE_FLOOR + 1.0 - top
            candidates = WeightedCandidates.of(refs, weights, [None] * len(refs), cap=UNLABELLED_SHOWS_PER_WINDOW)
            self._unlabelled[_CURRENT] = cached = candidates
        return cached

    def _query(self, state: str, limit: int) -> list[GlyphRef]:
        """Up to `limit` glyphs in `state`, least shown first."""
        refs: list[GlyphRef] = []
        for glyph_id in self._states.glyph_ids_in_state(state, limit):
            try:
                refs.append(GlyphRef.parse(glyph_id))
            except DataError:
                continue
        return refs
