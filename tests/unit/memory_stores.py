"""In-memory stores: dicts with the same methods and outcomes as drcaptcha/store/, for fast tests of the logic.

They keep the rules that the real stores put into DynamoDB conditions (single use, expiry, the rate-limit
window, a vote counted once, a glyph labelled once), so a logic test fails if the logic relies on something the
store does not promise. The moto-backed integration tests remain the check of the real stores.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from drcaptcha.errors import RateLimited, ServiceUnavailable
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.tables.challenges import FAILED, PASSED
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, GOLD, GOLD_STATES, UNLABELLED
from drcaptcha.ratelimit import Limits, Window
from drcaptcha.store.challenges import Challenge, Declared, Redeemed
from drcaptcha.store.glyphs import (
    OPEN_STATES,
    Acceptance,
    CountedVote,
    Glyph,
    GoldReading,
    KeptVote,
    acceptance_credit_id,
)
from drcaptcha.store.sites import Site


@dataclass
class StoredChallenge:
    challenge: Challenge
    expires_at: float
    used: bool = False
    outcome: str | None = None
    answered_at: float | None = None
    redeemed_at: float | None = None
    declared: Declared = field(default_factory=Declared)


@dataclass
class MemoryChallengeStore:
    items: dict[str, StoredChallenge] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def count(self) -> int:
        return len(self.items)

    def count_with_outcome(self, outcome: str) -> int:
        return sum(stored.outcome == outcome for stored in self.items.values())

    def count_open(self, now: float) -> int:
        return sum(not stored.used and stored.expires_at > now for stored in self.items.values())

    def add(self, challenge: Challenge, limits: Limits, now: float) -> None:
        full = tuple(self.hits.get(window.bucket, 0) >= window.limit for window in limits.windows)
        if any(full):
            raise RateLimited("a counter is full", retry_after=limits.retry_after(now, full))
        if challenge.challenge_id in self.items:
            raise ServiceUnavailable("could not store the challenge; try again")
        for window in limits.windows:
            self.hits[window.bucket] = self.hits.get(window.bucket, 0) + 1
        self.items[challenge.challenge_id] = StoredChallenge(challenge, challenge.expires_at)

    def _open(self, challenge_id: str, now: float, site_key: str | None) -> StoredChallenge | None:
        stored = self.items.get(challenge_id)
        if stored is None or stored.used or stored.expires_at <= now:
            return None
        if site_key is not None and stored.challenge.site_key != site_key:
            return None
        return stored

    def record_pass(
        self,
        challenge_id: str,
        readings: Sequence[Collection[int]],
        now: float,
        site_key: str | None,
        keep_until: float,
        wrong_allowed: int = 0,
        proof_bits: int = 0,
        declared: Declared | None = None,
    ) -> Challenge | None:
        stored = self._open(challenge_id, now, site_key)
        expected = [] if stored is None else stored.challenge.expected
        if stored is None or len(expected) != len(readings) or stored.challenge.pow_difficulty > proof_bits:
            return None
        wrong = sum(want != REMOVED and want not in classes for want, classes in zip(expected, readings, strict=True))
        if wrong > wrong_allowed:
            return None
        stored.used, stored.outcome, stored.answered_at, stored.expires_at = True, PASSED, now, keep_until
        stored.declared = declared or Declared()
        return replace(stored.challenge, expires_at=keep_until)

    def record_fail(self, challenge_id: str, now: float, site_key: str | None) -> bool:
        stored = self._open(challenge_id, now, site_key)
        if stored is None:
            return False
        stored.used, stored.outcome, stored.answered_at = True, FAILED, now
        return True

    def redeem(self, challenge_id: str, site_key: str, now: float) -> Redeemed | None:
        stored = self.items.get(challenge_id)
        if stored is None or stored.outcome != PASSED or stored.challenge.site_key != site_key:
            return None
        if stored.redeemed_at is not None:
            return None
        stored.redeemed_at = now
        return Redeemed(stored.challenge.accessible, stored.declared)


@dataclass
class MemorySiteStore:
    sites: dict[str, Site] = field(default_factory=dict)
    reads: int = 0

    def get(self, site_key: str) -> Site | None:
        self.reads += 1
        return self.sites.get(site_key)

    def add(self, site: Site, created_at: float) -> None:
        if site.site_key in self.sites:
            raise ServiceUnavailable("site key taken")
        self.sites[site.site_key] = site

    def update_settings(self, site_key: str, pow_difficulty: int | None, accessible: bool | None) -> Site | None:
        site = self.sites.get(site_key)
        if site is None:
            return None
        if pow_difficulty is not None:
            site = replace(site, pow_difficulty=pow_difficulty)
        if accessible is not None:
            site = replace(site, accessible=accessible)
        self.sites[site_key] = site
        return site


@dataclass
class MemoryGlyph:
    glyph_id: str
    state: str = UNLABELLED
    label: int | None = None
    tallies: dict[int, float] = field(default_factory=dict)
    unreadable: float = 0.0
    votes: int = 0
    readings: int = 0
    read_right: int = 0
    counted: dict[str, CountedVote] = field(default_factory=dict)
    gold_pending: dict[str, float] = field(default_factory=dict)
    accepted_at: float | None = None


@dataclass
class MemoryGlyphVoteStore:
    glyphs: dict[str, MemoryGlyph] = field(default_factory=dict)
    votes: dict[str, dict[str, tuple[CountedVote, bool]]] = field(default_factory=dict)
    sources: dict[str, tuple[float, float]] = field(default_factory=dict)
    acceptances: dict[str, Acceptance] = field(default_factory=dict)
    source_pending: dict[str, dict[str, str]] = field(default_factory=dict)

    def add_glyph(self, glyph_id: str) -> None:
        self.glyphs[glyph_id] = MemoryGlyph(glyph_id)

    def glyph_ids_in_state(self, state: str, limit: int) -> list[str]:
        in_state = [glyph for glyph in self.glyphs.values() if glyph.state == state]
        return [glyph.glyph_id for glyph in sorted(in_state, key=lambda glyph: glyph.votes)][:limit]

    def count_in_state(self, state: str) -> int:
        return sum(glyph.state == state for glyph in self.glyphs.values())

    def count_votes(self) -> int:
        return sum(len(votes) for votes in self.votes.values())

    def glyph(self, glyph_id: str) -> Glyph | None:
        glyph = self.glyphs.get(glyph_id)
        if glyph is None:
            return None
        return Glyph(
            glyph.glyph_id,
            glyph.state,
            glyph.label,
            dict(glyph.tallies),
            glyph.unreadable,
            glyph.readings,
            glyph.read_right,
            glyph.votes,
            tuple(glyph.counted.values()),
            dict(glyph.gold_pending),
            glyph.accepted_at,
        )

    def read_glyphs(self, glyph_ids: Collection[str]) -> dict[str, Glyph]:
        return {glyph_id: glyph for glyph_id in glyph_ids if (glyph := self.glyph(glyph_id)) is not None}

    def track_records(self, sources: Collection[str]) -> dict[str, tuple[float, float]]:
        return {source: self.sources.get(source, (0.0, 0.0)) for source in sources}

    def count_glyph_votes(
        self,
        glyph: Glyph,
        votes: Sequence[CountedVote],
        ambiguous: bool = False,
        acceptance: Acceptance | None = None,
    ) -> bool:
        stored = self.glyphs.get(glyph.glyph_id)
        if stored is None or stored.state not in OPEN_STATES or stored.votes != glyph.votes:
            return False
        for vote in votes:
            if vote.vote_id in stored.counted:
                raise AssertionError(f"vote {vote.vote_id} counted twice: the logic must not ask that")
            stored.counted[vote.vote_id] = vote
            if vote.label is None:
                stored.unreadable += vote.weight
            else:
                stored.tallies[vote.label] = stored.tallies.get(vote.label, 0.0) + vote.weight
        stored.votes += len(votes)
        if acceptance is not None:
            stored.state, stored.label, stored.accepted_at = CROWD, acceptance.label, acceptance.accepted_at
        elif ambiguous and stored.state == UNLABELLED:
            stored.state = AMBIGUOUS
        return True

    def keep_votes(self, votes: Iterable[KeptVote]) -> None:
        for kept in votes:
            vote = kept.vote
            counted = CountedVote(vote.vote_id, vote.source, vote.label, kept.weight)
            self.votes.setdefault(vote.glyph_id, {})[vote.vote_id] = (counted, kept.counted)

    def gold_pending_of(self, sources: Collection[str], consistent: bool = False) -> dict[str, dict[str, str] | None]:
        return {
            source: dict(self.source_pending[source]) if source in self.source_pending else None for source in sources
        }

    def kept_vote_ids(self, keys: Iterable[tuple[str, str]]) -> set[str]:
        return {vote_id for glyph_id, vote_id in keys if vote_id in self.votes.get(glyph_id, {})}

    def count_gold_readings(
        self,
        glyph_id: str,
        glyph: Glyph | None,
        known: int,
        new: Sequence[GoldReading],
        settled: Collection[str],
        state: str,
    ) -> bool:
        stored = self.glyphs.get(glyph_id)
        if glyph is None:
            if stored is not None:
                return False
            stored = self.glyphs[glyph_id] = MemoryGlyph(glyph_id, state=GOLD, label=known)
        elif stored is None or stored.state not in GOLD_STATES or stored.readings != glyph.readings:
            return False
        for reading in new:
            if reading.vote_id in stored.gold_pending:
                raise AssertionError(f"reading {reading.vote_id} counted twice: the logic must not ask that")
            stored.gold_pending[reading.vote_id] = reading.ts
        for vote_id in settled:
            stored.gold_pending.pop(vote_id, None)
        stored.readings += len(new)
        stored.read_right += sum(reading.right for reading in new)
        stored.state = state
        return True

    def credit_gold_readings(
        self, source: str, pending: Mapping[str, str] | None, new: Sequence[GoldReading], settled: Collection[str]
    ) -> bool:
        stored = self.source_pending.get(source)
        if (pending is None) != (stored is None) or any(reading.vote_id in (stored or {}) for reading in new):
            return False
        stored = self.source_pending.setdefault(source, {})
        for vote_id in settled:
            stored.pop(vote_id, None)
        stored |= {reading.vote_id: reading.glyph_id for reading in new}
        agreements, disagreements = self.sources.get(source, (0.0, 0.0))
        agreed = sum(reading.right for reading in new)
        self.sources[source] = (agreements + agreed, disagreements + len(new) - agreed)
        return True

    def credit_acceptance(
        self, source: str, pending: Mapping[str, str] | None, acceptance: Acceptance, agreed: int, disagreed: int
    ) -> bool:
        credit_id = acceptance_credit_id(acceptance.glyph_id)
        stored = self.source_pending.get(source)
        if (pending is None) != (stored is None) or credit_id in (stored or {}):
            return False
        self.source_pending.setdefault(source, {})[credit_id] = acceptance.glyph_id
        agreements, disagreements = self.sources.get(source, (0.0, 0.0))
        self.sources[source] = (agreements + agreed, disagreements + disagreed)
        return True

    def keep_acceptance(self, acceptance: Acceptance, votes: Iterable[CountedVote]) -> None:
        self.acceptances[acceptance.glyph_id] = acceptance

    def accepted_glyphs(self, glyph_ids: Collection[str], consistent: bool = False) -> set[str]:
        return {glyph_id for glyph_id in glyph_ids if glyph_id in self.acceptances}

    def mark_ambiguous(self, glyph_id: str) -> bool:
        glyph = self.glyphs[glyph_id]
        if glyph.state != UNLABELLED:
            return False
        glyph.state = AMBIGUOUS
        return True


@dataclass
class MemoryEnsembleStore:
    """Only what serving reads: the pointer (None: no ensemble was ever activated)."""

    active: Any = None

    def pointer(self, consistent: bool = True) -> Any:
        return self.active


@dataclass
class MemoryRateLimitStore:
    hits: dict[str, int] = field(default_factory=dict)

    def spend(self, windows: Sequence[Window], hits: int, now: float, *, refuse_when_full: bool, what: str) -> None:
        full = tuple(self.hits.get(window.bucket, 0) >= window.limit for window in windows)
        if refuse_when_full and any(full):
            raise RateLimited(f"too many {what}", retry_after=Limits(tuple(windows)).retry_after(now, full))
        for window in windows:
            self.hits[window.bucket] = self.hits.get(window.bucket, 0) + hits
