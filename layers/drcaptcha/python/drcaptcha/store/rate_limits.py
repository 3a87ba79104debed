"""Rate-limit counters (the RateLimits table): one item per counter and window (drcaptcha/ratelimit.py).

A challenge's counters are updated inside the transaction that stores the challenge, so counting it and storing
it cost one TransactWriteItems call together; a full counter cancels the transaction, nothing is stored, and
`full_windows` says which counters were full. What else a client spends (a failed answer, an unknown site key, a
drawing to recognize) is one TransactWriteItems of its own counters, with no read.
"""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from drcaptcha.config import get_settings
from drcaptcha.errors import RateLimited, ServiceUnavailable
from drcaptcha.models.tables.rate_limits import RateLimitCounter
from drcaptcha.ratelimit import Limits, Window
from drcaptcha.store.base import ConditionFailed, transaction


def _add(writes: TransactWrite, window: Window, hits: int, *, refuse_when_full: bool) -> None:
    counter = RateLimitCounter(bucket=window.bucket)
    length = get_settings().rate_limit_window_seconds
    writes.update(
        counter,
        actions=[RateLimitCounter.hits.add(hits), RateLimitCounter.expires_at.set(window.ends_at + length)],
        condition=(RateLimitCounter.hits.does_not_exist() | (RateLimitCounter.hits < window.limit))
        if refuse_when_full
        else None,
    )


def count_in(writes: TransactWrite, limits: Limits) -> None:
    """Add one hit to each of `limits`' counters within `writes`; the transaction is cancelled if one is full.

    Add them last: pynamodb sends a transaction's updates after its puts, and `full_windows` reads the last
    reasons.
    """
    for window in limits.windows:
        _add(writes, window, 1, refuse_when_full=True)


def full_windows(failed: ConditionFailed, count: int) -> tuple[bool, ...] | None:
    """Which of the transaction's last `count` items (its counters) were full; None if none was."""
    flags = tuple(failed.at(position) for position in range(-count, 0))
    return flags if any(flags) else None


class RateLimitStore:
    def spend(self, windows: Sequence[Window], hits: int, now: float, *, refuse_when_full: bool, what: str) -> None:
        """Add `hits` to each counter in one transaction. With `refuse_when_full`, a full counter refuses it:
        RateLimited, nothing counted. Without, the hits are added whatever the counts (a failed answer's cost)."""
        limits = Limits(tuple(windows))
        try:
            with transaction() as writes:
                for window in windows:
                    _add(writes, window, hits, refuse_when_full=refuse_when_full)
        except ConditionFailed as failed:
            full = full_windows(failed, len(windows))
            raise RateLimited(
                f"too many {what} from this client; try again later",
                retry_after=limits.retry_after(now, full or (True,) * len(windows)),
            ) from failed
        except TransactWriteError as error:
            raise ServiceUnavailable(f"could not count the {what}; try again") from error
