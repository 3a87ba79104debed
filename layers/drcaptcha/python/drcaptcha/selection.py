"""Picking a challenge's glyphs: some with known labels, which score the answer, and some unlabelled, which
collect votes.

Everything here is read through warm caches, so that a warm process issues a challenge without touching S3:
- known glyphs come from a small pool of training shards, chosen at random once per warm process and again every
  `glyph_pool_refresh_seconds` (so a fleet of warm processes shows the whole training split over time);
- unlabelled glyphs come from the `by-state-label` index, least shown first, re-read every `unlabelled_cache_seconds`;
  ambiguous glyphs (their voters keep disagreeing) come along, `AMBIGUOUS_SHARE` as likely to be shown.
- With nothing left to label (right after an import, or once the crowd has labelled every glyph it was given), a
  challenge is made of known glyphs only. The empty candidate list is kept for one cache window like any other,
  so glyphs made unlabelled meanwhile (`drcaptcha remove-labels`) are shown from the next refresh on.
- Everything a draw needs is prepared when a cache is refreshed (the candidates' picks and the inverses of their
  weights), so that a request draws with a few numpy calls (docs/BENCHMARKS.md, "Captcha rendering").

Model-assisted (with an active ensemble; without one, the choice is uniform as before):
- unlabelled glyphs that the ensemble is unsure of (low top-1 probability) are preferred: their labels teach the
  next networks the most (active learning);
- known glyphs are scored from a sample of the pool that the ensemble reads (the `SCORE_MISREAD_ONLY` setting):
  a glyph it reads right, however unsure, is one a network reads, so a bot reads it too (bench/glyph_readings.py
  and bench/bench_people.py measured it), and a glyph it misreads (its top reading outside the glyph's lookalike
  group) is often one people misread too (bench/bench_careful_reader.py: a careful reader read 33% of its
  confident misreadings right and 61% of its close ones). So, while the sample holds enough of them:
  - the misread glyphs that gold readings measured people to read right are scored alone;
  - else `UNMEASURED_MISREADS_SCORED` (SCORED_WRONG_ALLOWED + 1) of a challenge's scored glyphs are glyphs it
    misreads by a margin (`UNMEASURED_MISREAD_FLOOR`), and the rest glyphs it surely reads (`SURELY_READ`): a
    bot that reads as the ensemble does fails, and a person needs to read only one of the hard ones;
  drawn by how unsure it is (low probability of any accepted reading). Once those are used up under the cap,
  another sample is scored, leaving out the glyphs already capped in this window; when what is left no longer
  makes that make-up, the pool window ends early and a fresh pool is read, rather than scoring every glyph.
- Gold (issue 15): `GOLD_GLYPHS` of the unscored positions show a known glyph of any class, drawn from the same
  scored sample's misreadings not yet measured (the glyphs worth scoring are the ones measured, and no other
  reading decides what may be scored); what people type for it is a gold reading (gold.py), which gives the
  glyph its reading rate and the reader a track record.
- Only glyphs that people read right are scored: a known glyph whose gold state is `READ_RIGHT` (enough readings,
  a high reading rate), or, while it has too few readings, one whose class is in no lookalike group
  (lookalikes.py); a `MISREAD` glyph never is. Of the glyphs the ensemble misreads, those measured `READ_RIGHT`
  are scored alone once a draw can be made of them (they are scored first): an ensemble's misreading of an
  ungrouped class is often a glyph people misread too. The two sets are read (ids only, from the `by-state-label`
  index) when the pool is refreshed, and the pool's shards start with the `MEASURED_POOL_SHARDS` that hold the
  most glyphs measured `READ_RIGHT`, so that what gold readings measured is used. Unlabelled glyphs of grouped
  classes are still shown, and their votes keep the exact class. The ensemble's difficulty is judged under the
  groups too: what counts is its probability of any reading the answer would accept.
- The cap: a known glyph is shown at most `MAX_SHOWS_PER_WINDOW` times per warm process and pool window, an
  unlabelled one `UNLABELLED_SHOWS_PER_WINDOW` times per unlabelled cache window, after which it weighs nothing
  until every candidate is capped. Unlabelled candidates are re-read as soon as too few are under the cap for a
  challenge, which leaves out the glyphs labelled meanwhile, so few votes arrive after their glyph's label.
  Counting in the process, not in the Glyphs table's `shown`, keeps issuing at one write: a fleet of N warm
  processes allows N times the cap, which still spreads a hard glyph over many captchas rather than letting a
  bot see the same one over and over.
- A client is not shown an unlabelled glyph again while this process has others to show it
  (`AVOID_SEEN_UNLABELLED`), from `UNLABELLED_CANDIDATES` (500) read at each refresh: a client that remembered
  glyphs told the positions that do not count by their recurring (issue 19; bench/bench_repeats.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from drcaptcha import lookalikes, warm
from drcaptcha.config import get_settings
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import DataError, NotImported
from drcaptcha.glyphs import GlyphRef, GlyphStore, ImportManifest
from drcaptcha.models.tables.glyphs import AMBIGUOUS, MISREAD, READ_RIGHT, UNLABELLED
from drcaptcha.serving import serving_cache
from drcaptcha.store.glyphs import GlyphVoteStore

GLYPHS_PER_CHALLENGE: Final = 6
MIN_KNOWN_GLYPHS: Final = 3
# The pass rule: of the challenge's scored glyphs, this many may be read wrong (challenges.py judges the answer).
# Chosen from measured data by bench/bench_people.py (the table in docs/DESIGN.md, "The pass rule").
SCORED_WRONG_ALLOWED: Final = 1
# How many glyphs a challenge scores (SCORED_WRONG_ALLOWED of them may be wrong), by whether the import's
# labels are public. bench_people's measured world: on public glyphs, which an attacker's network trained on, no
# rule people pass keeps the transfer bot under 10%, and 3 is the people's side; on glyphs it never saw, 4 meets
# every goal at rho 0.5, at the cost of one of the two unlabelled positions (docs/DESIGN.md, the pass rule). A
# careful reader's readings of such glyphs contradict that model's people (bench/bench_careful_reader.py).
SCORED_WHEN_PUBLIC: Final = MIN_KNOWN_GLYPHS
SCORED_WHEN_PRIVATE: Final = 4
# Known glyphs shown unscored in each challenge, their readings measured (gold.py).
GOLD_GLYPHS: Final = 1
# Gold glyphs are drawn from the scored sample's unmeasured misreadings while it holds at least this many, else
# from the whole sample.
MIN_GOLD_CANDIDATES: Final = 8
# A gold glyph that is also one of the challenge's scored glyphs is drawn again, at most this many times.
GOLD_DRAW_ATTEMPTS: Final = 4
# At most this many glyph ids of each gold state are read at a pool refresh.
READING_STATES_LIMIT: Final = 20_000
POOL_SHARDS: Final = 4
# Of them, at most this many are the shards holding the most glyphs people were measured to read right.
MEASURED_POOL_SHARDS: Final = 2
# Drawn in rounds (least shown first): off. It stops unlabelled glyphs recurring, but a glyph then waits a whole
# round for each vote, and a small crowd labels nothing (bench/bench_repeats.py, docs/BENCHMARKS.md "Glyph
# repeats"); `AVOID_SEEN_UNLABELLED` does the job without slowing labels.
UNLABELLED_IN_ROUNDS: Final = False
# A client is not shown an unlabelled glyph it has seen (in this warm process, within CLIENT_MEMORY_SECONDS) while
# enough others are drawable, so remembering glyphs does not tell it which positions do not count (issue 19).
AVOID_SEEN_UNLABELLED: Final = True
CLIENT_MEMORY_SECONDS: Final = 3600.0
CLIENT_MEMORY_SIZE: Final = 50_000
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
# With SCORE_MISREAD_ONLY, samples are scored until this many scorable glyphs the ensemble misreads are found, or
# KNOWN_SCORING_ROUNDS samples have been (a fully trained vgg misreads about 2% of the scorable training glyphs:
# a single sample of 256 often held fewer than 3, and the draw fell back to every glyph).
MISREAD_WANTED: Final = 12
KNOWN_SCORING_ROUNDS: Final = 8
# A glyph the ensemble misreads, which people have not yet been measured to read right, is scored only while the
# ensemble still gives the glyph's own readings at least this probability. Below it the glyph is drawn more like
# another character, and people read it as that character too. A careful reader, blind, on public glyphs
# (docs/BENCHMARKS.md, "A careful reader", the floor study): p 0.10-0.15 54% right (7/13), 0.15-0.25 43% (19/44),
# 0.25-0.35 64% (27/42), 0.35-0.5 73% (29/40); the ensemble bot through the render 12, 16, 24 and 27%. At 0.15
# the rule's estimate was 80% of challenges passed, and 39 of 48 live ones were (81%); at 0.25 it is 89% for the
# reader and 40% for the ensemble bot (34% at 0.15). 0.35 would add 3 points for each, within the noise of 40
# readings, from half as many glyphs (more repeats of each).
UNMEASURED_MISREAD_FLOOR: Final = 0.25
# Such unmeasured misread glyphs make only SCORED_WRONG_ALLOWED + 1 of a challenge's scored glyphs, so that a bot
# that reads as the ensemble does still fails, while a person needs to read only one of them; the rest of the
# scored glyphs are ones the ensemble reads right with at least this probability (the careful reader: 18 of 18).
UNMEASURED_MISREADS_SCORED: Final = SCORED_WRONG_ALLOWED + 1
SURELY_READ: Final = 0.9
SCORE_FLOOR: Final = 0.1
SCORING_BATCH: Final = 64
SELECTION: Final = "selection"
# The one key of each single-entry warm cache below.
_CURRENT: Final = "current"

EnsembleSource = Callable[[], LoadedEnsemble | None]


def active_ensemble_for_selection() -> LoadedEnsemble | None:
    """The process's active ensemble, with interpreters sized for scoring glyphs in batches."""
    return serving_cache(SELECTION, SCORING_BATCH).current()


def scored_glyphs_of(manifest: ImportManifest) -> int:
    """How many glyphs a challenge scores for an import: more when its labels are not public."""
    return SCORED_WHEN_PUBLIC if manifest.scored_labels_public else SCORED_WHEN_PRIVATE


def _pool_lifetime() -> float:
    return get_settings().glyph_pool_refresh_seconds


def _unlabelled_lifetime() -> float:
    return get_settings().unlabelled_cache_seconds


@dataclass(frozen=True)
class PickedGlyph:
    ref: GlyphRef
    label: int | None
    """The known class index, or None for an unlabelled glyph."""
    gold: bool = False
    """A known glyph shown unscored, whose reading is measured (gold.py)."""

    @property
    def known(self) -> bool:
        return self.label is not None

    @property
    def scored(self) -> bool:
        return self.label is not None and not self.gold


@dataclass(frozen=True)
class KnownPool:
    """A pool refresh's known glyphs: all of them (gold candidates) and those that may be scored."""

    every: WeightedCandidates
    scorable: WeightedCandidates
    scorable_mask: NDArray[np.bool_]
    """Which of `every` may be scored."""
    measured_mask: NDArray[np.bool_]
    """Which of `every` people have been measured to read right (gold state `READ_RIGHT`)."""
    misread_mask: NDArray[np.bool_]
    """Which of `every` people have been measured to misread (gold state `MISREAD`)."""


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
    # In rounds: a candidate is drawn again only once every other drawable one has been shown as often (the least
    # shown first, by weight among them), so a glyph recurs as late as the candidates allow (issue 19, item 2).
    rounds: bool = False
    picks: list[PickedGlyph] = field(init=False, repr=False)
    _weighted: NDArray[np.bool_] = field(init=False, repr=False)
    _inverse: NDArray[np.float64] = field(init=False, repr=False)
    _uniform: bool = field(init=False, repr=False)
    _keys: NDArray[np.object_] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.picks = [PickedGlyph(ref, label) for ref, label in zip(self.refs, self.labels, strict=True)]
        self._keys = np.array([ref.key for ref in self.refs], dtype=object)
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
        rounds: bool = False,
    ) -> WeightedCandidates:
        return cls(refs, weights, np.zeros(len(refs), dtype=np.int64), labels, cap, rounds)

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def keys(self) -> NDArray[np.object_]:
        """The candidates' glyph ids, in order."""
        return self._keys

    def used_up(self, needed: int) -> bool:
        """Fewer candidates are under the cap than a draw of `needed` takes (or than there are, if fewer)."""
        if self.cap is None:
            return False
        return int(np.count_nonzero(self.shown < self.cap)) < min(needed, len(self.refs))

    def draw(self, rng: np.random.Generator, count: int, avoid: Collection[str] = ()) -> list[PickedGlyph]:
        """`count` distinct candidates (fewer if there are fewer, none if there are none), by weight, capped ones
        and those whose keys are in `avoid` left out while enough others remain; uniformly when they do not."""
        count = min(count, len(self.refs))
        if count == 0:
            return []
        drawable = self._weighted if self.cap is None else self._weighted & (self.shown < self.cap)
        if avoid:
            fresh = drawable & ~np.isin(self._keys, list(avoid))
            if np.count_nonzero(fresh) >= count:
                drawable = fresh
        if self.rounds and np.count_nonzero(drawable) >= count:
            # The least shown drawable candidates, enough of them for this draw.
            level = np.sort(self.shown[drawable])[count - 1]
            drawable = drawable & (self.shown <= level)
        if (self._uniform and not avoid) or np.count_nonzero(drawable) < count:
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
        self._pool: warm.TLRUCache[str, KnownPool] = warm.expiring(1, _pool_lifetime, clock)
        self._scored_known: WeightedCandidates | None = None
        # With unmeasured misread glyphs among the scored candidates: the surely read glyphs that fill the rest of
        # a challenge's scored positions (UNMEASURED_MISREADS_SCORED); None when the scored candidates go alone.
        self._fillers_known: WeightedCandidates | None = None
        self._gold_known: WeightedCandidates | None = None
        # Scored candidates shown in this pool window before their sample was used up: later samples leave them out.
        self._capped_known: set[str] = set()
        # Whether the last scored sample held too few misreadings for the rule's make-up, and every scorable glyph
        # is drawn instead (`_scored_and_fillers`, step 3).
        self._fell_back = False
        self._unlabelled: warm.TLRUCache[str, WeightedCandidates] = warm.expiring(1, _unlabelled_lifetime, clock)
        # The unlabelled glyphs each client was shown lately (bounded: least recently used clients go first).
        self._seen: warm.TLRUCache[str, set[str]] = warm.expiring(
            CLIENT_MEMORY_SIZE, lambda: CLIENT_MEMORY_SECONDS, clock
        )

    def preferences(self) -> dict[str, float]:
        """Each current candidate's glyph id and draw weight (unlabelled and scored known): for inspection."""
        weighted = [self._unlabelled.get(_CURRENT), self._scored_known]
        return {
            ref.key: float(weight)
            for candidates in weighted
            if candidates is not None
            for ref, weight in zip(candidates.refs, candidates.weights, strict=True)
        }

    def pick(
        self,
        count: int = GLYPHS_PER_CHALLENGE,
        min_known: int | None = None,
        gold: int = GOLD_GLYPHS,
        client: str | None = None,
    ) -> list[PickedGlyph]:
        """`count` glyphs in random order: at least `min_known` known and scored (by default `scored_glyphs()`),
        `gold` known and unscored (gold readings), the rest unlabelled while any are left (scored known glyphs when
        none are). For a `client`, unlabelled glyphs it was shown before are avoided while others are left."""
        if min_known is None:
            min_known = self.scored_glyphs()
        gold = min(gold, count - min_known)
        candidates = self._unlabelled_candidates(count - min_known - gold)
        seen = self._seen.get(client, set()) if client is not None and AVOID_SEEN_UNLABELLED else set()
        picks = candidates.draw(self._rng, count - min_known - gold, avoid=seen)
        if client is not None and AVOID_SEEN_UNLABELLED:
            self._seen[client] = seen | {pick.ref.key for pick in picks}
        scored = self._known(count - gold - len(picks))
        picks += scored + self._gold(gold, {pick.ref for pick in scored})
        order = self._rng.permutation(len(picks))
        return [picks[int(index)] for index in order]

    def scored_glyphs(self) -> int:
        """How many glyphs a challenge scores: more when the import's labels are not public."""
        return scored_glyphs_of(self._current_manifest())

    def images(self, picks: list[PickedGlyph]) -> list[NDArray[np.uint8]]:
        return self.images_of([pick.ref for pick in picks])

    def images_of(self, refs: list[GlyphRef]) -> list[NDArray[np.uint8]]:
        return [self.store.image(ref) for ref in refs]

    # --- known glyphs --------------------------------------------------------------------------------------
    def _known(self, count: int) -> list[PickedGlyph]:
        known = self._known_pool()
        if self._known_used_up(count):
            # Too few candidates are under the cap: score another sample, without the glyphs shown in this window.
            for used in (self._scored_known, self._fillers_known):
                if used is not None:
                    self._capped_known |= {ref.key for ref, shown in zip(used.refs, used.shown, strict=True) if shown}
            self._rescore(known, leave_out=self._capped_known)
            if self._fell_back:
                # What is left under the cap no longer makes the rule's scored glyphs. Drawing every scorable glyph
                # instead, most of which a bot reads, let a stack simulation's bots pass 86-91% once the first
                # hundred challenges had used the window's misreadings up. So the pool window ends early, as the
                # unlabelled one does, and a fresh pool is read and scored.
                self._pool.clear()
                known = self._known_pool()
        scored, fillers = self._scored_known, self._fillers_known
        if scored is not None and fillers is not None:
            # Unmeasured misread glyphs are only part of the scored glyphs: a person needs to read one of them.
            hard = min(count, UNMEASURED_MISREADS_SCORED)
            if len(scored) >= hard and len(fillers) >= count - hard:
                return scored.draw(self._rng, hard) + fillers.draw(self._rng, count - hard)
        candidates = scored if scored is not None and fillers is None and len(scored) >= count else known.scorable
        if len(candidates) < count:
            raise DataError(f"fewer than {count} training glyphs have a known label: a challenge needs {count}")
        return candidates.draw(self._rng, count)

    def _known_used_up(self, count: int) -> bool:
        scored, fillers = self._scored_known, self._fillers_known
        if scored is None:
            return False
        if fillers is None:
            return scored.used_up(count)
        hard = min(count, UNMEASURED_MISREADS_SCORED)
        return scored.used_up(hard) or fillers.used_up(count - hard)

    def _rescore(self, pool: KnownPool, leave_out: Collection[str] = ()) -> None:
        self._scored_known, self._fillers_known, self._gold_known = self._score_known(pool, leave_out)

    def _gold(self, count: int, scored: set[GlyphRef]) -> list[PickedGlyph]:
        """`count` known glyphs of any class, none of them among the challenge's scored ones, shown unscored."""
        if count == 0:
            return []
        candidates = self._gold_known or self._known_pool().every
        drawn: list[PickedGlyph] = []
        for _ in range(GOLD_DRAW_ATTEMPTS):
            taken = scored | {pick.ref for pick in drawn}
            drawn += [pick for pick in candidates.draw(self._rng, count - len(drawn)) if pick.ref not in taken]
            if len(drawn) == count:
                break
        return [PickedGlyph(pick.ref, pick.label, gold=True) for pick in drawn]

    def _known_pool(self) -> KnownPool:
        """Every known glyph of a few shards of the scored split (training, or the private split where there is
        one), and those of them that may be scored, drawn uniformly (and, with an ensemble, a scored sample)."""
        manifest = self._current_manifest()
        cached = self._pool.get(_CURRENT)
        if cached is not None:
            return cached
        known_split = manifest.scored_split
        split = manifest.splits.get(known_split)
        if split is None or not split.shard_sizes:
            raise NotImported(f"the import has no {known_split} split")
        read_right = set(self._states.glyph_ids_in_state(READ_RIGHT, READING_STATES_LIMIT))
        misread = set(self._states.glyph_ids_in_state(MISREAD, READING_STATES_LIMIT))
        refs: list[GlyphRef] = []
        labels: list[int] = []
        shards = 0
        for shard in self._pool_shards(known_split, len(split.shard_sizes), read_right):
            shard_labels = self.store.labels(known_split, int(shard))
            known = np.flatnonzero(shard_labels >= 0)
            refs += [GlyphRef(known_split, int(shard), int(offset)) for offset in known]
            labels += [int(label) for label in shard_labels[known]]
            shards += 1 if len(known) else 0
            if shards == POOL_SHARDS:
                break
        scorable, measured, misread_by_people = _scorable(refs, np.array(labels, dtype=np.int64), read_right, misread)
        if np.count_nonzero(scorable) < MIN_KNOWN_GLYPHS:
            raise DataError(
                f"fewer than {MIN_KNOWN_GLYPHS} training glyphs have a known label that can be scored "
                "(read right by people, or, before any readings, a class in no lookalike group)"
            )
        every = WeightedCandidates.of(refs, np.ones(len(refs)), list[int | None](labels), cap=None)
        chosen = np.flatnonzero(scorable)
        pool = KnownPool(
            every,
            WeightedCandidates.of(
                [refs[index] for index in chosen], np.ones(len(chosen)), [labels[index] for index in chosen], cap=None
            ),
            scorable,
            measured,
            misread_by_people,
        )
        self._pool[_CURRENT] = pool
        self._capped_known = set()
        self._rescore(pool)
        return pool

    def _pool_shards(self, split: str, shard_count: int, read_right: Collection[str]) -> list[int]:
        """Every shard of the split in the order the pool takes them: the `MEASURED_POOL_SHARDS` that hold the most
        glyphs people were measured to read right first (so that gold readings are used: each refresh would
        otherwise draw other shards, and a warm process would rarely meet a measured glyph again), the rest at
        random."""
        order = [int(shard) for shard in self._rng.permutation(shard_count)]
        measured = Counter(ref.shard for ref in map(GlyphRef.parse, read_right) if ref.split == split)
        # Most measured first; among equals, the random order.
        first = sorted((shard for shard in order if measured[shard]), key=lambda shard: -measured[shard])
        first = first[:MEASURED_POOL_SHARDS]
        return first + [shard for shard in order if shard not in first]

    def _score_known(
        self, pool: KnownPool, leave_out: Collection[str] = ()
    ) -> tuple[WeightedCandidates | None, WeightedCandidates | None, WeightedCandidates | None]:
        """A sample of the known glyphs (none of `leave_out`), weighted by how badly the active ensemble reads each
        under the lookalike groups: the scored candidates, the fillers that complete a challenge's scored glyphs
        beside them (or None), and the gold candidates (the sample's misreadings not yet measured, or the whole
        sample when it holds too few); all None without an ensemble.

        With `SCORE_MISREAD_ONLY`, while the sample holds enough of them, the scored candidates are the glyphs the
        ensemble misreads: those people were measured to read right, alone; else the ones it misreads by a small
        margin (`UNMEASURED_MISREAD_FLOOR`), with the glyphs it surely reads (`SURELY_READ`) as fillers."""
        self._fell_back = False
        ensemble = self._ensemble()
        if ensemble is None:
            return None, None, None
        every, scorable, measured = pool.every, pool.scorable_mask, pool.measured_mask
        # The glyphs people were measured to read right are scored first (they are few), the rest in random order.
        order = self._rng.permutation(len(every))
        order = np.concatenate([order[measured[order]], order[~measured[order]]])
        if leave_out:
            order = order[~np.isin(every.keys[order], list(leave_out))]
        if len(order) == 0:
            return None, None, None
        misread_only = get_settings().score_misread_only
        sample, misread, read_right = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_), np.zeros(0)
        # A fully trained ensemble misreads a few percent of the glyphs it trained on: with the setting on, more
        # samples are scored (at most KNOWN_SCORING_ROUNDS) until MISREAD_WANTED scorable ones are found.
        for start in range(0, KNOWN_SCORED * (KNOWN_SCORING_ROUNDS if misread_only else 1), KNOWN_SCORED):
            batch = order[start : start + KNOWN_SCORED]
            if len(batch) == 0:
                break
            batch_right, batch_misread = self._ensemble_readings(ensemble, [every.picks[int(i)] for i in batch])
            sample = np.concatenate([sample, batch])
            misread, read_right = np.concatenate([misread, batch_misread]), np.concatenate([read_right, batch_right])
            if np.count_nonzero(_scorable_misreadings(scorable[sample], misread, measured[sample], read_right)) >= (
                MISREAD_WANTED
            ):
                break
        picks = [every.picks[int(index)] for index in sample]
        weights = SCORE_FLOOR + 1.0 - read_right.astype(np.float64)
        labels = [pick.label for pick in picks]
        refs = [pick.ref for pick in picks]

        def candidates(rows: NDArray[np.intp]) -> WeightedCandidates:
            return WeightedCandidates.of([refs[row] for row in rows], weights[rows], [labels[row] for row in rows])

        keep, fillers, made = (
            _scored_and_fillers(scorable[sample], misread, measured[sample], read_right)
            if misread_only
            else (scorable[sample].astype(np.bool_), None, True)
        )
        self._fell_back = not made
        filling = None if fillers is None else candidates(np.flatnonzero(fillers))
        # Gold readings go to the glyphs the ensemble misreads that are not yet measured either way: those are the
        # ones whose measure decides whether they may be scored. Spread over the whole sample, a glyph met about one
        # reading a pool window, and none reached MIN_READINGS (a stack simulation of 1,200 challenges measured
        # none); and a glyph already measured MISREAD is never scored, so more readings of it would be spent on
        # nothing.
        unmeasured_misread = np.flatnonzero(misread & ~measured[sample] & ~pool.misread_mask[sample])
        gold = (
            candidates(unmeasured_misread)
            if len(unmeasured_misread) >= MIN_GOLD_CANDIDATES
            else WeightedCandidates.of(refs, weights, labels)
        )
        return candidates(np.flatnonzero(keep)), filling, gold

    def _ensemble_readings(
        self, ensemble: LoadedEnsemble, picks: list[PickedGlyph]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """For each known glyph: the ensemble's probability of a reading the answer accepts (its lookalike group),
        and whether its top reading is outside the group (it misreads the glyph)."""
        probabilities = ensemble.predict(np.stack(self.images(picks)))
        accepted = [sorted(lookalikes.readings_of(int(pick.label or 0))) for pick in picks]
        read_right = np.array([probabilities[row, group].sum() for row, group in enumerate(accepted)], dtype=np.float64)
        misread = np.array([int(probabilities[row].argmax()) not in group for row, group in enumerate(accepted)])
        return read_right, misread.astype(np.bool_)

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
            unlabelled = self._query(UNLABELLED, get_settings().unlabelled_candidates)
            ambiguous = self._query(AMBIGUOUS, AMBIGUOUS_CANDIDATES)
            refs = unlabelled + ambiguous
            weights = np.array([1.0] * len(unlabelled) + [AMBIGUOUS_SHARE] * len(ambiguous))
            ensemble = self._ensemble() if refs else None
            if ensemble is not None:
                top = ensemble.predict(np.stack(self.images_of(refs))).max(axis=1).astype(np.float64)
                weights *= SCORE_FLOOR + 1.0 - top
            candidates = WeightedCandidates.of(
                refs, weights, [None] * len(refs), cap=UNLABELLED_SHOWS_PER_WINDOW, rounds=UNLABELLED_IN_ROUNDS
            )
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


def _scored_and_fillers(
    scorable: NDArray[np.bool_],
    misread: NDArray[np.bool_],
    measured: NDArray[np.bool_],
    read_right: NDArray[np.float64],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_] | None, bool]:
    """Of a scored sample (`SCORE_MISREAD_ONLY`): which glyphs are scored candidates, which fill the rest of a
    challenge's scored positions beside them (None: the candidates go alone), and whether the sample made the
    rule's make-up (steps 1 and 2) rather than falling back on every scorable glyph (step 3).

    A glyph the ensemble misreads is often one people misread too (bench/glyph_readings.py on the real readings,
    and a careful reader's readings): its class being in no lookalike group says less about it than gold does.
    1. Misread glyphs people were measured to read right, while a draw can be made of them: alone.
    2. Else misread glyphs by a small margin (`UNMEASURED_MISREAD_FLOOR`, or measured), with the glyphs the
       ensemble surely reads (`SURELY_READ`) as fillers.
    3. Else every scorable glyph, by weight.
    """
    measured_misread = scorable & misread & measured
    if np.count_nonzero(measured_misread) >= MIN_KNOWN_GLYPHS:
        return measured_misread, None, True
    misreadings = _scorable_misreadings(scorable, misread, measured, read_right)
    surely_read = scorable & ~misread & (read_right >= SURELY_READ)
    if np.count_nonzero(misreadings) >= UNMEASURED_MISREADS_SCORED and np.count_nonzero(surely_read) >= (
        SCORED_WHEN_PRIVATE
    ):
        return misreadings, surely_read, True
    return scorable.astype(np.bool_), None, False


def _scorable_misreadings(
    scorable: NDArray[np.bool_],
    misread: NDArray[np.bool_],
    measured: NDArray[np.bool_],
    read_right: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """The scorable glyphs the ensemble misreads that may be scored: measured read right by people, or misread by
    a margin (`UNMEASURED_MISREAD_FLOOR`)."""
    return scorable & misread & (measured | (read_right >= UNMEASURED_MISREAD_FLOOR))


def _scorable(
    refs: list[GlyphRef], labels: NDArray[np.int64], read_right: Collection[str], misread: Collection[str]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Which known glyphs people read right: measured by gold readings, else judged by their class; which of them
    were measured; and which were measured misread."""
    measured_right = np.array([ref.key in read_right for ref in refs], dtype=np.bool_)
    measured_wrong = np.array([ref.key in misread for ref in refs], dtype=np.bool_)
    scorable: NDArray[np.bool_] = measured_right | (lookalikes.ungrouped(labels) & ~measured_wrong)
    return scorable, measured_right, measured_wrong
