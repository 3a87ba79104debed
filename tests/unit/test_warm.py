"""The one registry of warm state: expiry by an injected clock, and one reset that forgets everything."""

from __future__ import annotations

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
