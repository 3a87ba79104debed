"""The one registry of warm state: expiry by an injected clock, and one reset that forgets everything."""

from __future__ import annotations

import itertools
import sys
import threading

import pytest

from drcaptcha import aws, warm
from drcaptcha.challenges import CaptchaRuntime, replace_runtime, warm_runtime
from drcaptcha.config import get_settings


def test_an_entry_lives_its_lifetime_by_the_injected_clock() -> None:
    now = [100.0]
    lifetime = [10.0]
    cache: warm.TLRUCache[str, int] = warm.expiring(4, lambda: lifetime[0], lambda: now[0])
    cache["a"] = 1

    now[0] = 109.9
    assert cache.get("a") == 1
    now[0] = 110.0
    assert cache.get("a") is None

    # The lifetime is read when an entry is stored: a changed setting applies to the next entry
    lifetime[0] = 0.0
    cache["b"] = 2
    assert "b" not in cache


def test_reset_forgets_caches_settings_clients_and_registered_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITES_TABLE", "before")
    lasting: warm.LRUCache[str, int] = warm.lasting(2)
    lasting["kept"] = 1
    runtime = CaptchaRuntime.create()
    replace_runtime(runtime)
    settings = get_settings()
    client = aws.client("s3")

    monkeypatch.setenv("SITES_TABLE", "after")
    assert get_settings() is settings  # read once per warm process

    warm.reset()

    assert "kept" not in lasting
    assert warm_runtime() is not runtime
    assert get_settings().sites_table == "after"
    assert aws.client("s3") is not client


def test_threads_that_expire_and_refill_one_cache_at_once_leave_it_whole() -> None:
    # Given an expiring cache whose clock moves on every read, so that entries lapse all the time
    ticks = itertools.count()
    cache: warm.TLRUCache[int, int] = warm.expiring(8, lambda: 3.0, lambda: float(next(ticks)))
    errors: list[BaseException] = []

    def churn(offset: int) -> None:
        try:
            for number in range(2_000):
                key = (number + offset) % 16
                if cache.get(key) is None:
                    cache[key] = number
        except BaseException as error:
            errors.append(error)

    # When eight threads read and refill it at once, switching as often as the interpreter can (a plain
    # cachetools cache fails this within a few thousand operations)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=churn, args=(offset,)) for offset in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    # Then no thread saw an error, and the cache still holds at most its size
    assert errors == []
    assert len(cache) <= 8
