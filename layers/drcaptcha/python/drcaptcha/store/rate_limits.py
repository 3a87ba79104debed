"""Fixed-window rate-limit counters (the RateLimits table), counted inside the caller's transaction.

The counter update is one transaction item, so that counting a request and storing what it creates (a
challenge) cost one TransactWriteItems call together. A request past the limit cancels the transaction: nothing
is stored, and the caller is told by `limited`.
"""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from drcaptcha.config import get_settings
from drcaptcha.models.tables.rate_limits import RateLimitCounter
from drcaptcha.ratelimit import Window
from drcaptcha.store.base import ConditionFailed


def count_in(writes: TransactWrite, window: Window) -> None:
    """Add one hit to `window` within `writes`; the transaction is cancelled if the window is full.

    Add it last: pynamodb sends a transaction's updates after its puts, and `limited` reads the last reason.
    """
    counter = RateLimitCounter(bucket=window.bucket)
    length = get_settings().rate_limit_window_seconds
    writes.update(
        counter,
        actions=[RateLimitCounter.hits.add(1), RateLimitCounter.expires_at.set(window.ends_at + length)],
        condition=RateLimitCounter.hits.does_not_exist() | (RateLimitCounter.hits < window.limit),
    )


def limited(failed: ConditionFailed) -> bool:
    """Whether the counter (the transaction's last item) was what cancelled it."""
    return failed.at(-1)
