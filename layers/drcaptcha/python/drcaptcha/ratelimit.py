"""Fixed-window rate limits per site and client: who the client is, and which window a request falls in.

The counters live in the RateLimits table and are counted by drcaptcha/store/rate_limits.py, inside the
transaction that stores what the request creates.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

from drcaptcha.config import get_settings


def client_identity(source_ip: str, key: bytes) -> str:
    """A keyed hash of the client's address: stable enough to count and weigh votes, never the raw IP."""
    return hmac.new(key, b"client|" + source_ip.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Window:
    site_key: str
    client: str
    number: int
    ends_at: float
    limit: int

    @classmethod
    def at(cls, site_key: str, client: str, now: float) -> Window:
        settings = get_settings()
        length = settings.rate_limit_window_seconds
        number = int(now // length)
        return cls(site_key, client, number, (number + 1) * length, settings.rate_limit_challenges)

    @property
    def bucket(self) -> str:
        return f"{self.site_key}#{self.client}#{self.number}"

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.ends_at - now))
