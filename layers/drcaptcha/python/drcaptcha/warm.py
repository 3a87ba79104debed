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

import threading
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
_registry_lock = threading.Lock()


class _Guarded:
    """One lock around every operation of a cachetools cache, which is not thread-safe by itself.

    A Lambda process serves one request at a time; the local gateway and the benchmarks serve many from one process,
    and two threads that expire the same entry at once would corrupt the cache's heap.
    """

    _lock: threading.RLock

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            return super().__getitem__(key)  # type: ignore[misc]

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            super().__setitem__(key, value)  # type: ignore[misc]

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            super().__delitem__(key)  # type: ignore[misc]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return bool(super().__contains__(key))  # type: ignore[misc]

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            return super().get(key, default)  # type: ignore[misc]

    def clear(self) -> None:
        with self._lock:
            super().clear()  # type: ignore[misc]


class _GuardedTLRUCache(_Guarded, TLRUCache[_K, _V]):
    def __init__(self, maxsize: int, ttu: Callable[[_K, _V, float], float], timer: Clock) -> None:
        self._lock = threading.RLock()
        TLRUCache.__init__(self, maxsize, ttu=ttu, timer=timer)


class _GuardedLRUCache(_Guarded, LRUCache[_K, _V]):
    def __init__(self, maxsize: int) -> None:
        self._lock = threading.RLock()
        LRUCache.__init__(self, maxsize)


def _track(cache: Cache[Any, Any]) -> None:
    with _registry_lock:
        _caches[:] = [reference for reference in _caches if reference() is not None]
        _caches.append(weakref.ref(cache))


def expiring(maxsize: int, lifetime: Callable[[], float], clock: Clock = time.monotonic) -> TLRUCache[_K, _V]:
    """A cache whose entries each live `lifetime()` seconds by `clock`, from when they are stored.

    A lifetime of 0 keeps nothing: every read misses.
    """

    def expires_at(_key: object, _value: object, now: float) -> float:
        return now + lifetime()

    cache: TLRUCache[_K, _V] = _GuardedTLRUCache(maxsize, ttu=expires_at, timer=clock)
    _track(cache)
    return cache


def lasting(maxsize: int) -> LRUCache[_K, _V]:
    """A cache whose entries stay until `reset()` (or until `maxsize` pushes the least recently used out)."""
    cache: LRUCache[_K, _V] = _GuardedLRUCache(maxsize)
    _track(cache)
    return cache


def on_reset(callback: _Callback) -> _Callback:
    """Run `callback` on every `reset()` (a decorator, too)."""
    _callbacks.append(callback)
    return callback


def reset() -> None:
    """Forget all warm state: every cache made here, and whatever the `on_reset` callbacks drop."""
    with _registry_lock:
        references = list(_caches)
    for reference in references:
        cache = reference()
        if cache is not None:
            cache.clear()
    for callback in _callbacks:
        callback()
