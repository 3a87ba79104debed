"""Warm state: everything a process keeps between invocations, in one registry that `reset()` clears.

A Lambda process lives for many requests, so it keeps what is costly to fetch again: the settings, the AWS
clients, the sites, the glyph candidates, the active ensemble, the signing key. Each of these is a cachetools
cache made here, so that one call forgets them all: after the stack behind them changed (tests, the emulator's
bootstrap, benchmarks), nothing stale survives in a corner.

- `expiring(...)`: entries that lapse `lifetime()` seconds after they are stored, by an injected clock (the
  runtime's, so tests move time by hand). The lifetime is read when an entry is stored, so a changed setting
  applies to the next entry.
- `lasting(...)`: entries kept for the process's life (clients, connections, loaded ensembles).
- `on_reset(callback)`: for state that is not a cache, such as a warm runtime object; run by `reset()`.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import Cache, LRUCache, TLRUCache

__all__ = ["Clock", "LRUCache", "TLRUCache", "expiring", "lasting", "on_reset", "reset"]

Clock = Callable[[], float]
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")
_Callback = TypeVar("_Callback", bound=Callable[[], None])

# Weak references: a cache made by an object (a runtime's site directory) goes away with it.
_caches: list[weakref.ReferenceType[Cache[Any, Any]]] = []
_callbacks: list[Callable[[], None]] = []


def _track(cache: Cache[Any, Any]) -> None:
    _caches[:] = [reference for reference in _caches if reference() is not None]
    _caches.append(weakref.ref(cache))


def expiring(maxsize: int, lifetime: Callable[[], float], clock: Clock = time.monotonic) -> TLRUCache[_K, _V]:
    """A cache whose entries each live `lifetime()` seconds by `clock`, from when they are stored.

    A lifetime of 0 keeps nothing: every read misses.
    """

    def expires_at(_key: object, _value: object, now: float) -> float:
        return now + lifetime()

    cache: TLRUCache[_K, _V] = TLRUCache(maxsize, ttu=expires_at, timer=clock)
    _track(cache)
    return cache


def lasting(maxsize: int) -> LRUCache[_K, _V]:
    """A cache whose entries stay until `reset()` (or until `maxsize` pushes the least recently used out)."""
    cache: LRUCache[_K, _V] = LRUCache(maxsize)
    _track(cache)
    return cache


def on_reset(callback: _Callback) -> _Callback:
    """Run `callback` on every `reset()` (a decorator, too)."""
    _callbacks.append(callback)
    return callback


def reset() -> None:
    """Forget all warm state: every cache made here, and whatever the `on_reset` callbacks drop."""
    for reference in _caches:
        cache = reference()
        if cache is not None:
            cache.clear()
    for callback in _callbacks:
        callback()
