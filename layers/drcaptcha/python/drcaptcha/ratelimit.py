"""Fixed-window rate limits per site and client, counted in the RateLimits table.

The counter update is handed to the caller as one transaction item, so that counting a request and storing what
the request creates (a challenge) cost one TransactWriteItems call together. A request past the limit cancels
the transaction: nothing is stored, and the caller raises RateLimited with the seconds left in the window.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from drcaptcha.config import get_settings
from drcaptcha.errors import RateLimited
from drcaptcha.models.tables.rate_limits import RateLimitCounter


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


def count_in(transaction: TransactWrite, window: Window) -> None:
    """Add one hit to `window` within `transaction`; the transaction is cancelled if the window is full."""
    counter = RateLimitCounter(bucket=window.bucket)
    length = get_settings().rate_limit_window_seconds
    transaction.update(
        counter,
        actions=[RateLimitCounter.hits.add(1), RateLimitCounter.expires_at.set(window.ends_at + length)],
        condition=RateLimitCounter.hits.does_not_exist() | (RateLimitCounter.hits < window.limit),
    )


def raise_if_limited(error: TransactWriteError, window: Window, now: float) -> None:
    """Turn a cancelled transaction into RateLimited when its counter was the cause.

    pynamodb sends a transaction's updates after its puts, and the counter is its only update, so the counter's
    cancellation reason is the last one.
    """
    reasons: list[Any] = list(error.cancellation_reasons or [])
    if reasons and reasons[-1] is not None and reasons[-1].code == "ConditionalCheckFailed":
        raise RateLimited(
            f"more than {window.limit} challenges in {get_settings().rate_limit_window_seconds} s from this client",
            retry_after=window.retry_after(now),
        ) from error
