"""Proof of work: every challenge carries a SHA-256 puzzle bound to its id, as ALTCHA's and Cap's do.

The puzzle: find a decimal `nonce` such that SHA-256(`challenge_id` ":" `nonce`) starts with at least
`difficulty` zero bits (2**difficulty hashes on average). The challenge id is the salt: it is 128 random bits,
chosen by the server when the challenge is issued, so no work can be done before it, and a solution for one
challenge is worth nothing for another. The required difficulty is stored in the challenge item; the answer's
one conditional write compares it with the bits the solution achieves (computed here, in memory), so checking
the work costs no AWS call of its own (drcaptcha/store/challenges.py).

Difficulty adapts per site and per client (`difficulty`, a pure function): each site has a base, and a client
that fails answers or asks for many challenges gets more bits. The accessible path (no glyphs) asks for more bits
than the site's base, since the work is all a bot must do there. Why SHA-256 and no memory-hard hash:
docs/DESIGN.md ("Proof of work").
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Final

from drcaptcha import warm

ALGORITHM: Final = "SHA-256"
# Bits a visitor's browser proves by default: 65,536 hashes on average, 0.1 s in this machine's Chromium and about
# 0.36 s on a low-end phone through the widget's own SHA-256 (docs/BENCHMARKS.md, "Proof of work").
DEFAULT_DIFFICULTY: Final = 16
MAX_DIFFICULTY: Final = 28
# The accessible path proves this many bits more than the site's base (8x the work): a few seconds, no glyphs.
ACCESSIBLE_EXTRA_BITS: Final = 3
# A client's own recent traffic raises its difficulty beyond these allowances: one bit per failed answer past
# the free ones, and one bit per doubling of its challenges past the free ones, at most MAX_EXTRA_BITS (16x: a few
# seconds in a browser, docs/BENCHMARKS.md).
FREE_FAILURES: Final = 2
FREE_REQUESTS: Final = 10
MAX_EXTRA_BITS: Final = 4
MAX_NONCE_LENGTH: Final = 20
NONCE_PATTERN: Final = rf"^[0-9]{{1,{MAX_NONCE_LENGTH}}}$"


def difficulty(base: int, recent_requests: int, recent_failures: int) -> int:
    """The leading zero bits a client must prove: the site's `base`, plus one bit per failed answer past
    FREE_FAILURES and one per doubling of its challenges past FREE_REQUESTS (at most MAX_EXTRA_BITS more), never
    above MAX_DIFFICULTY. A base of 0 (the legacy API) stays 0: its clients cannot solve puzzles."""
    if base <= 0:
        return 0
    extra = max(0, recent_failures - FREE_FAILURES) + max(0, recent_requests - FREE_REQUESTS).bit_length()
    return min(MAX_DIFFICULTY, base + min(extra, MAX_EXTRA_BITS))


def accessible_difficulty(base: int, recent_requests: int, recent_failures: int) -> int:
    """The accessible path's difficulty: the glyph path's, plus ACCESSIBLE_EXTRA_BITS."""
    return min(MAX_DIFFICULTY, difficulty(base, recent_requests, recent_failures) + ACCESSIBLE_EXTRA_BITS)


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def achieved_bits(challenge_id: str, nonce: str | None) -> int:
    """How many leading zero bits `nonce` proves for `challenge_id` (0 for a missing or malformed nonce)."""
    if not nonce or len(nonce) > MAX_NONCE_LENGTH or not nonce.isascii() or not nonce.isdigit():
        return 0
    return leading_zero_bits(hashlib.sha256(f"{challenge_id}:{nonce}".encode()).digest())


def solve(challenge_id: str, bits: int) -> str:
    """The first nonce that proves `bits` for `challenge_id`: what the widget's worker does, for Python clients
    (the simulation's bots, the smoke test, the tests themselves)."""
    prefix = f"{challenge_id}:".encode()
    for number in itertools.count():
        nonce = str(number)
        if leading_zero_bits(hashlib.sha256(prefix + nonce.encode()).digest()) >= bits:
            return nonce
    raise AssertionError("unreachable")  # pragma: no cover - itertools.count never ends


# --- a client's recent traffic ---------------------------------------------------------------------------------
ACTIVITY_WINDOW_SECONDS: Final = 300
_MAX_CLIENTS: Final = 10_000
_MAX_EVENTS: Final = 512


@dataclass(frozen=True)
class Activity:
    requests: int = 0
    failures: int = 0


class RecentActivity:
    """The challenges and failed answers this warm process saw from each client in the last
    ACTIVITY_WINDOW_SECONDS: the inputs of `difficulty`, at no AWS call.

    This is the seam for the rate limiter's own counters (which see every process): `CaptchaRuntime.activity`
    is what `challenges._issue` asks, so a source that reads them replaces this class there.
    """

    def __init__(self) -> None:
        self._requests: warm.LRUCache[str, deque[float]] = warm.lasting(_MAX_CLIENTS)
        self._failures: warm.LRUCache[str, deque[float]] = warm.lasting(_MAX_CLIENTS)

    def record_request(self, client: str, now: float) -> None:
        _append(self._requests, client, now)

    def record_failure(self, client: str, now: float) -> None:
        _append(self._failures, client, now)

    def of(self, client: str, now: float) -> Activity:
        return Activity(_recent(self._requests, client, now), _recent(self._failures, client, now))


def _append(events: warm.LRUCache[str, deque[float]], client: str, now: float) -> None:
    times = events.get(client)
    if times is None:
        times = events[client] = deque(maxlen=_MAX_EVENTS)
    times.append(now)


def _recent(events: warm.LRUCache[str, deque[float]], client: str, now: float) -> int:
    times = events.get(client)
    if times is None:
        return 0
    while times and times[0] <= now - ACTIVITY_WINDOW_SECONDS:
        times.popleft()
    return len(times)
