"""The oracle: what each glyph really is (truth/ for the removed labels) and whether the network finds it hard.

The simulation is the one reader of `truth/` besides evaluation: the oracle tells the agents what a challenge
really shows, as the people who read it would see it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from drcaptcha import lookalikes
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.glyphs import REMOVED, GlyphRef, GlyphStore, truth_key
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha_ops.simulation.agents import Sight


class Oracle:
    """The true class of any glyph (known labels from the shard label files, removed ones from truth/), and
    whether the network finds it hard."""

    def __init__(self, store: GlyphStore, network: LoadedEnsemble | None) -> None:
        self.store = store
        self.network = network
        self._truth: dict[tuple[str, int], NDArray[np.int16]] = {}
        self._hard: dict[str, bool] = {}

    def truth(self, glyph_id: str) -> int:
        ref = GlyphRef.parse(glyph_id)
        known = self.store.label(ref)
        if known != REMOVED:
            return int(known)
        shard = (ref.split, ref.shard)
        if shard not in self._truth:
            self._truth[shard] = self.store.get_array(truth_key(ref.split, ref.shard))
        return int(self._truth[shard][ref.offset])

    def hard(self, glyph_ids: Sequence[str], truth: Sequence[int]) -> list[bool]:
        """Hard to read: the network gets it wrong (under the lookalike groups, as the captcha scores it), or (with
        several members) its members disagree."""
        if self.network is None:
            return [False] * len(glyph_ids)
        missing = [(i, g) for i, g in enumerate(glyph_ids) if g not in self._hard]
        if missing:
            images = np.array([self.store.image(GlyphRef.parse(g)) for _, g in missing], dtype=np.uint8)
            members = [probabilities.argmax(axis=1) for probabilities in self.network.member_probabilities(images)]
            combined = self.network.predict(images).argmax(axis=1)
            for row, (i, glyph_id) in enumerate(missing):
                disagree = len({int(member[row]) for member in members}) > 1
                self._hard[glyph_id] = int(combined[row]) not in lookalikes.readings_of(truth[i]) or disagree
        return [self._hard[g] for g in glyph_ids]

    def sight(self, challenge_id: str) -> Sight:
        item = ChallengeItem.get(challenge_id, consistent_read=True)
        glyph_ids = list(item.glyph_ids)
        truth = [self.truth(glyph_id) for glyph_id in glyph_ids]
        scored = [int(expected) != REMOVED for expected in item.expected]
        return Sight(glyph_ids, truth, scored, self.hard(glyph_ids, truth))
