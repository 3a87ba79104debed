"""store/rate_limits.py on the emulator: both of a client's staggered windows live in one item, each turns on its
own, a full one refuses without counting, and requests that meet at a turn are each counted once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from drcaptcha.config import reset_settings
from drcaptcha.errors import RateLimited
from drcaptcha.models.tables.rate_limits import RateLimitCounter
from drcaptcha.ratelimit import client_windows
from drcaptcha.store.rate_limits import RateLimitStore
from drcaptcha_ops.emulator import Emulator

CLIENT = "c0ffee"
WINDOW = 60


@pytest.fixture
def store(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[RateLimitStore]:
    monkeypatch.setenv("RATE_LIMIT_WINDOW_SECONDS", str(WINDOW))
    reset_settings()
    yield RateLimitStore()
    reset_settings()


def counts() -> list[tuple[int | None, int, int | None, int]]:
    """Every counter item: (a's window, a's hits, b's window, b's hits)."""
    return [
        (item.window_of("a"), item.hits_of("a"), item.window_of("b"), item.hits_of("b"))
        for item in RateLimitCounter.scan()
    ]


def spend(store: RateLimitStore, now: float, limit: int = 3, hits: int = 1, refuse: bool = True) -> None:
    store.spend(client_windows(CLIENT, now, limit=limit), hits, now, refuse_when_full=refuse, what="tests")


def test_both_windows_count_in_one_item_and_each_turns_on_its_own(store: RateLimitStore) -> None:
    # Given two hits at the start of a window (window a number 10; b, offset by half a window, number 9)
    start = 10 * WINDOW
    spend(store, start)
    spend(store, start + 1)
    assert counts() == [(10, 2, 9, 2)]

    # When b turns (half a window later) and one more hit comes, then a turns too
    spend(store, start + WINDOW / 2 + 1)
    after_b = counts()
    spend(store, start + WINDOW + 1)

    # Then b started over at its turn while a kept counting, and then a started over while b kept counting
    assert after_b == [(10, 3, 10, 1)]
    assert counts() == [(11, 1, 10, 2)]


def test_a_full_window_refuses_and_counts_nothing_until_it_turns(store: RateLimitStore) -> None:
    # Given a client at its limit of 3 in both windows
    start = 10 * WINDOW
    for second in range(3):
        spend(store, start + second)

    # When it asks again in the same windows
    with pytest.raises(RateLimited) as refused:
        spend(store, start + 5)

    # Then it is told to wait until the later of its two full windows turns (a's, at 660 s), and nothing was counted
    assert refused.value.retry_after == pytest.approx(WINDOW - 5, abs=1)
    assert counts() == [(10, 3, 9, 3)]


def test_a_failed_answers_cost_is_counted_even_in_a_full_window(store: RateLimitStore) -> None:
    # Given a client at its limit
    start = 10 * WINDOW
    for second in range(3):
        spend(store, start + second)

    # When a failed answer costs it two hits, which never refuse
    spend(store, start + 4, hits=2, refuse=False)

    # Then both windows hold them
    assert counts() == [(10, 5, 9, 5)]


def test_requests_that_meet_at_a_new_counter_are_each_counted_once(store: RateLimitStore) -> None:
    # Given no counter yet, and eight requests at once (each must create or update the same item)
    now = 10 * WINDOW + 1.0
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: spend(store, now, limit=100), range(8)))

    # Then each was counted exactly once in both windows
    assert counts() == [(10, 8, 9, 8)]
