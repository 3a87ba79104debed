"""Rate limits per client: who the client is, and which counters a request is counted in.

A challenge is counted per client across every site and the legacy API (RATE_LIMIT_CHALLENGES a window; it was
per site and client, so a client got the limit once per public site key), before the challenge is stored
(drcaptcha/store/rate_limits.py: both windows in one item, one conditional update), in two fixed windows of the
same length staggered by half of it. Any stretch of half a window lies inside one of them, so no burst passes
more than the limit across a window's edge (one fixed window let 2x the limit through in a few seconds), and a
steady client gets the limit a window, as in a sliding window; the worst case is 2x the limit over a whole window
that spans both edges. This needs no read:
each window is one counter whose condition is its own count (a token bucket or a true sliding window needs the
time since the last request, which a DynamoDB condition cannot compute). A per-site counter beside them would
cost another write in every challenge and refuse nothing the client's own counters let through.

What else a client spends from its cross-site allowance (issue 19, item 1): a failed answer costs
FAILURE_COST hits, and a request with an unknown site key costs one, so made-up keys and guessing are
limited like challenges.

Clients are keyed hashes of their address (never the raw IP); an IPv6 address counts as its /64, which one
subscriber usually holds whole.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from typing import Final

from drcaptcha.config import get_settings

IPV6_PREFIX: Final = 64
# Hits a failed answer adds to the client's cross-site counters: a bot that fails pays for it in challenges.
FAILURE_COST: Final = 2


def client_address(source_ip: str) -> str:
    """The address a client is counted as: an IPv4 address as it is, an IPv6 one as its /64 network."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def client_identity(source_ip: str, key: bytes) -> str:
    """A keyed hash of the client's address: stable enough to count and weigh votes, never the raw IP."""
    return hmac.new(key, b"client|" + client_address(source_ip).encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Window:
    """One fixed window of a client's counter: `counter` names the client's item, `slot` which of its staggered
    windows this is, `number` which window of that slot; it counts until `ends_at`, and refuses past `limit`."""

    counter: str
    slot: str
    number: int
    ends_at: float
    limit: int

    @property
    def bucket(self) -> str:
        """The window's own name: one count per client, slot and window number."""
        return f"{self.counter}#{self.slot}#{self.number}"

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.ends_at - now))


def _fixed(counter: str, slot: str, now: float, length: int, offset: float, limit: int) -> Window:
    number = math.floor((now - offset) / length)
    return Window(counter, slot, number, (number + 1) * length + offset, limit)


def client_windows(
    client: str, now: float, *, kind: str = "challenges", limit: int | None = None
) -> tuple[Window, Window]:
    """The client's two counters of `kind`, across every site, staggered by half a window."""
    settings = get_settings()
    length = settings.rate_limit_window_seconds
    limit = settings.rate_limit_challenges if limit is None else limit
    counter = f"{kind}#{client}"
    return (
        _fixed(counter, "a", now, length, 0.0, limit),
        _fixed(counter, "b", now, length, length / 2, limit),
    )


@dataclass(frozen=True)
class Limits:
    """The counters a challenge is counted in: the client's two, across every site."""

    windows: tuple[Window, ...]

    @classmethod
    def at(cls, client: str, now: float) -> Limits:
        return cls(client_windows(client, now))

    def retry_after(self, now: float, full: tuple[bool, ...]) -> int:
        """Seconds until every counter that was full has reset (at least 1)."""
        ends = [window.retry_after(now) for window, is_full in zip(self.windows, full, strict=False) if is_full]
        return max(ends, default=1)
