"""The active ensemble, as warm processes serve it (recognize, glyph selection, the model's vote).

Each use keeps an `ActiveEnsembleCache`: the pointer is re-read every `ACTIVE_ENSEMBLE_CHECK_SECONDS`, and the
manifest and its models are loaded once per (ensemble, manifest version). When a new version cannot be loaded,
the warm process keeps serving the one it has. This is the hot path: it reads the pointer through the ensembles
store and never imports the admin code that moves it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from drcaptcha import warm
from drcaptcha.ensembles import LoadedEnsemble, ObjectStore, load_ensemble_for_batch, read_manifest
from drcaptcha.errors import Conflict, DrCaptchaError
from drcaptcha.glyphs import GlyphStore
from drcaptcha.store.ensembles import EnsembleStore

logger = logging.getLogger(__name__)

ACTIVE_ENSEMBLE_CHECK_SECONDS: Final = 30.0
RECOGNIZE: Final = "recognize"
_CHECKED: Final = "checked"


class NoActiveEnsemble(Conflict):
    code = "no-active-ensemble"


class ActiveEnsembleCache:
    """The active ensemble, as a warm process serves it: loaded once per (ensemble, manifest version)."""

    def __init__(
        self,
        store: ObjectStore | None = None,
        batch: int = 1,
        check_seconds: float = ACTIVE_ENSEMBLE_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        records: EnsembleStore | None = None,
    ) -> None:
        self._store = store
        self._batch = batch
        self._records = records or EnsembleStore()
        self._lock = threading.Lock()
        self._checked: warm.TLRUCache[str, bool] = warm.expiring(1, lambda: check_seconds, clock)
        self._loaded: LoadedEnsemble | None = None
        self._loaded_key: tuple[str, int] | None = None

    def current(self) -> LoadedEnsemble | None:
        """The ensemble to serve, or None when none was ever activated (or none could be loaded yet)."""
        with self._lock:
            if _CHECKED in self._checked:
                return self._loaded
            self._checked[_CHECKED] = True
            try:
                self._refresh()
            except (DrCaptchaError, ClientError, BotoCoreError, PynamoDBException):
                # A broken or unreachable new version must not stop the one this process already serves.
                logger.exception("could not load the active ensemble; keeping %s", self._loaded_key)
            return self._loaded

    def _refresh(self) -> None:
        pointer = self._records.pointer(consistent=False)
        if pointer is None:
            self._loaded = self._loaded_key = None
            return
        key = (pointer.active_id, int(pointer.manifest_version))
        if key == self._loaded_key:
            return
        store = self._store if self._store is not None else GlyphStore()
        manifest = read_manifest(store, pointer.active_id)
        self._loaded = load_ensemble_for_batch(store, manifest, self._batch)
        self._loaded_key = key
        logger.info("serving ensemble %s version %d", *key)


# One cache per use in a warm process: recognize classifies one drawing at a time; the captcha and labels
# functions score glyphs in batches.
_serving: warm.LRUCache[str, ActiveEnsembleCache] = warm.lasting(8)


def serving_cache(purpose: str = RECOGNIZE, batch: int = 1) -> ActiveEnsembleCache:
    if purpose not in _serving:
        _serving[purpose] = ActiveEnsembleCache(batch=batch)
    return _serving[purpose]


def active_ensemble() -> LoadedEnsemble:
    """This process's active ensemble for recognize; 409 `no-active-ensemble` when there is none to serve."""
    loaded = serving_cache().current()
    if loaded is None:
        raise NoActiveEnsemble("no ensemble is active: an admin must create and activate one first")
    return loaded


def replace_active_ensemble(cache: ActiveEnsembleCache | None, purpose: str = RECOGNIZE) -> None:
    """Serve `purpose` through `cache`; None forgets every cache (tests and benchmarks, after a reset)."""
    if cache is None:
        _serving.clear()
    else:
        _serving[purpose] = cache
