"""Rate-limit counters (the RateLimits table): one item per client and kind, holding both staggered windows.

Counting is one conditional UpdateItem, with no read: for a new client it creates the item, and while both of a
client's windows are the ones stored it adds the hits to both, on condition that neither is full (when full ones
refuse). The condition fails at a window's turn (about twice a window for a client that keeps asking, or a client
back before its old item lapsed) and when a counter is full; only then one consistent GetItem reads the item, and
one conditional put either starts the turned window from 0 or refuses (RateLimited, nothing counted). The put's
condition is the item as it was read, so two requests that meet at a turn cannot both start the window from 0:
the loser starts over. A refused update still costs its write unit, as DynamoDB bills a failed condition.

Before 2026-12-06 each window was an item of its own, updated inside the challenge's TransactWriteItems (three
items, 6 write units a challenge); now a challenge costs this update's 1 and its own put's 1 (docs/SCALING.md).
The price is that the two are no longer one transaction: a challenge whose put fails after it was counted has
cost the client one hit, and nothing else (tests/integration/test_faults.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Final

from pynamodb.exceptions import GetError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from drcaptcha.config import get_settings
from drcaptcha.errors import RateLimited, ServiceUnavailable
from drcaptcha.models.tables.rate_limits import RateLimitCounter
from drcaptcha.ratelimit import Limits, Window
from drcaptcha.store.base import ConditionFailed, conditional_write

# Requests that meet at a window's turn start over; this many tries, then a 503 (the client retries).
MAX_ATTEMPTS: Final = 4


class _Contended(Exception):
    """Another request changed the counter between its read and this request's put."""


def _all(conditions: Sequence[Condition]) -> Condition:
    return reduce(lambda left, right: left & right, conditions)


def _expiry(windows: Sequence[Window]) -> float:
    """One window after the last of them ends: the item is kept while any count in it can still refuse."""
    return max(window.ends_at for window in windows) + get_settings().rate_limit_window_seconds


class RateLimitStore:
    def spend(self, windows: Sequence[Window], hits: int, now: float, *, refuse_when_full: bool, what: str) -> None:
        """Add `hits` to each of the client's windows (one item). With `refuse_when_full`, a full window refuses
        them: RateLimited, nothing counted. Without, they are added whatever the counts (a failed answer's cost)."""
        limits = Limits(tuple(windows))
        try:
            for _ in range(MAX_ATTEMPTS):
                try:
                    full = self._count(windows, hits, refuse_when_full)
                except _Contended:
                    continue
                if full is None:
                    return
                raise RateLimited(
                    f"too many {what} from this client; try again later", retry_after=limits.retry_after(now, full)
                )
        except (GetError, PutError, UpdateError) as error:
            raise ServiceUnavailable(f"could not count the {what}; try again") from error
        raise ServiceUnavailable(f"could not count the {what}; try again")

    def _count(self, windows: Sequence[Window], hits: int, refuse_when_full: bool) -> tuple[bool, ...] | None:
        """Count the hits (None) or say which windows are full and refused them. Raises _Contended."""
        counter = windows[0].counter
        current = [RateLimitCounter.window_attribute(window.slot) == window.number for window in windows]
        under = (
            [RateLimitCounter.hits_attribute(window.slot) < window.limit for window in windows]
            if refuse_when_full
            else []
        )
        # Setting each window's number to itself keeps a current item as it is, and names them in a new one.
        actions: list[Action] = [
            RateLimitCounter.window_attribute(window.slot).set(window.number) for window in windows
        ]
        actions += [RateLimitCounter.hits_attribute(window.slot).add(hits) for window in windows]
        try:
            with conditional_write():
                RateLimitCounter(bucket=counter).update(
                    actions=[*actions, RateLimitCounter.expires_at.set(_expiry(windows))],
                    condition=RateLimitCounter.bucket.does_not_exist() | _all(current + under),
                )
            return None
        except ConditionFailed:
            pass
        # A window turned, the item is new, or a window is full: read the item, then start over from what it says.
        try:
            stored: RateLimitCounter | None = RateLimitCounter.get(counter, consistent_read=True)
        except RateLimitCounter.DoesNotExist:
            stored = None
        counts = [
            stored.hits_of(window.slot) if stored is not None and stored.window_of(window.slot) == window.number else 0
            for window in windows
        ]
        full = tuple(refuse_when_full and count >= window.limit for count, window in zip(counts, windows, strict=True))
        if any(full):
            return full
        item = RateLimitCounter(bucket=counter, expires_at=_expiry(windows))
        for count, window in zip(counts, windows, strict=True):
            item.start(window.slot, window.number, count + hits)
        try:
            with conditional_write():
                item.save(condition=_as_read(stored, [window.slot for window in windows]))
        except ConditionFailed as failed:
            raise _Contended from failed
        return None


def _as_read(stored: RateLimitCounter | None, slots: Sequence[str]) -> Condition:
    """The item still as it was read (or still absent). A slot's window and hits are always written together."""
    if stored is None:
        return RateLimitCounter.bucket.does_not_exist()
    conditions: list[Condition] = []
    for slot in slots:
        window, hits = RateLimitCounter.window_attribute(slot), RateLimitCounter.hits_attribute(slot)
        number = stored.window_of(slot)
        if number is None:
            conditions += [window.does_not_exist(), hits.does_not_exist()]
        else:
            conditions += [window == number, hits == stored.hits_of(slot)]
    return _all(conditions)
