"""One botocore event handler for the whole process, and what is open on it now: `awscalls` (counters on
`before-call`) and `faults` (injected faults on `before-send`) are built on it.

How it reaches every client: a botocore client copies its session's event emitter when it is created, so a handler
registered on a session later never reaches it. So, on first use, the handler is (1) added to
`botocore.handlers.BUILTIN_HANDLERS`, which every new session registers, and through the sessions every client
made from them, and (2) registered on every session and client already alive, found by one scan of the garbage
collector's objects. That reaches boto3's clients and the botocore clients that pynamodb makes for itself (one
session per thread and connection), from any thread. After that it stays installed and costs one list check per
event while nothing is open.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import botocore.handlers
from botocore.client import BaseClient
from botocore.session import Session

T = TypeVar("T")


class ProcessHook(Generic[T]):
    """`handler` on botocore's `event` in every session and client of the process, and the items (counters,
    faults) that contexts have opened on it: the handler reads them with `open_items`."""

    def __init__(self, event: str, unique_id: str, handler: Callable[..., Any]) -> None:
        self.event = event
        self.unique_id = unique_id
        self._handler = handler
        self._items: list[T] = []
        self._lock = threading.Lock()
        self._installed = False

    def open_items(self) -> list[T]:
        """What is open now, as a copy the handler may read while contexts open and close."""
        if not self._items:
            return []
        with self._lock:
            return list(self._items)

    @contextmanager
    def opened(self, item: T) -> Iterator[T]:
        """`item` is open, for every thread's calls, while the context is."""
        self._install()
        with self._lock:
            self._items.append(item)
        try:
            yield item
        finally:
            with self._lock:
                self._items.remove(item)

    def _install(self) -> None:
        with self._lock:
            if self._installed:
                return
            # botocore's stubs type handlers as returning None; a before-send handler may return the response.
            handler: Any = self._handler
            botocore.handlers.BUILTIN_HANDLERS.append((self.event, handler))
            for thing in gc.get_objects():
                if isinstance(thing, Session):
                    thing.register(self.event, handler, unique_id=self.unique_id)
                elif isinstance(thing, BaseClient):
                    thing.meta.events.register(self.event, handler, unique_id=self.unique_id)
            self._installed = True
