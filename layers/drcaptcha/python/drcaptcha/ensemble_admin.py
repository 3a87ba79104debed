"""Ensembles as admins manage them (create, edit, evaluate, activate, list, delete) and as functions serve them.

- Every create and edit normalises the weights, checks each member's model (present, digest recorded), evaluates
  the ensemble on the test split with LiteRT, and writes `ensembles/<id>/manifest.json` (members, weights,
  digests, accuracy, version) and `ensembles/<id>/evaluation.json` (adds the confusion matrix).
- The active ensemble is named by one pointer item in the Ensembles table (`models.admin.ActiveEnsembleItem`).
  Activating loads the manifest and every model first (digests checked), so a broken ensemble is refused before
  anything changes, and then moves the pointer with ONE conditional write on its revision, in a transaction
  that also checks the ensemble's version. Two admins racing: one wins, the other gets 409; the pointer always
  names one whole ensemble and the manifest version that was checked.
- Serving functions (recognize, captcha) keep an `ActiveEnsembleCache`: the pointer is re-read every
  `ACTIVE_ENSEMBLE_CHECK_SECONDS`, and the manifest and its models are loaded once per (ensemble, version). When a
  new version cannot be loaded, the warm process keeps serving the one it has.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha.ensembles import (
    INFERENCE_BATCH,
    EnsembleManifest,
    Evaluation,
    LoadedEnsemble,
    ObjectStore,
    build_manifest,
    evaluate_predictions,
    load_ensemble_for_batch,
    manifest_key,
    read_manifest,
    write_manifest,
)
from drcaptcha.errors import BadRequest, Conflict, DataError, DrCaptchaError, NotFound
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.api.admin import (
    ActivationResponse,
    EnsembleDetail,
    EnsembleList,
    EnsembleSummary,
    MemberRequest,
)
from drcaptcha.models.tables.ensembles import ACTIVE_POINTER_ID, ActiveEnsembleItem, EnsembleItem, NetworkItem

logger = logging.getLogger(__name__)

ACTIVE_ENSEMBLE_CHECK_SECONDS: Final = 30.0
TEST_SPLIT: Final = "test"
_CONDITION_FAILED: Final = "ConditionalCheckFailed"


class NoActiveEnsemble(Conflict):
    code = "no-active-ensemble"


def evaluation_key(ensemble_id: str) -> str:
    return f"ensembles/{ensemble_id}/evaluation.json"


def new_ensemble_id(clock: Callable[[], float] = time.time) -> str:
    return f"ens-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(clock()))}-{secrets.token_hex(3)}"


# --- create, edit, evaluate -----------------------------------------------------------------------------------
def _member_pairs(members: Sequence[MemberRequest]) -> list[tuple[str, float]]:
    ids = [member.network_id for member in members]
    if len(set(ids)) != len(ids):
        raise BadRequest("a network appears twice among the members")
    for network_id in ids:
        try:
            NetworkItem.get(network_id)
        except DoesNotExist:
            raise BadRequest(f"no network {network_id!r} is registered") from None
    return [(member.network_id, member.weight) for member in members]


def evaluate_manifest(store: GlyphStore, manifest: EnsembleManifest) -> Evaluation:
    """The ensemble's accuracy on the test split, run with LiteRT; loading checks every model's digest."""
    images, labels = store.load_split(TEST_SPLIT)
    ensemble = load_ensemble_for_batch(store, manifest, INFERENCE_BATCH)
    return evaluate_predictions(ensemble.predict(images), labels)


def _with_evaluation(manifest: EnsembleManifest, evaluation: Evaluation) -> EnsembleManifest:
    return manifest.model_copy(
        update={
            "accuracy": evaluation.accuracy,
            "per_class_accuracy": evaluation.per_class_accuracy,
            "test_size": evaluation.size,
        }
    )


def _store(store: GlyphStore, manifest: EnsembleManifest, evaluation: Evaluation) -> None:
    """Write the evaluation and the manifest (the manifest last: it is what serving reads)."""
    detail = {**evaluation.summary(), "confusion": evaluation.confusion.tolist(), "version": manifest.version}
    store.put_bytes(evaluation_key(manifest.ensemble_id), json.dumps(detail).encode(), "application/json")
    write_manifest(store, manifest)


def ensemble_item(manifest: EnsembleManifest) -> EnsembleItem:
    """The Ensembles table's record of a manifest (the admin function and the job's `--ensemble auto` alike)."""
    return EnsembleItem(
        manifest.ensemble_id,
        name=manifest.name,
        status=manifest.status,
        manifest_key=manifest.key,
        version=manifest.version,
        accuracy=manifest.accuracy,
        member_weights={member.network_id: member.weight for member in manifest.members},
        created_at=manifest.created_at,
        created_by=manifest.created_by,
    )


def create_ensemble(
    name: str, members: Sequence[MemberRequest], created_by: str = "", store: GlyphStore | None = None
) -> EnsembleDetail:
    store = store or GlyphStore()
    ensemble_id = new_ensemble_id()
    manifest = build_manifest(
        store, ensemble_id, name, _member_pairs(members), status="ready", created_by=created_by[:200]
    )
    evaluation = evaluate_manifest(store, manifest)
    manifest = _with_evaluation(manifest, evaluation)
    _store(store, manifest, evaluation)
    ensemble_item(manifest).save(condition=EnsembleItem.ensemble_id.does_not_exist())
    return _detail(manifest, evaluation, active_id=None)


def update_ensemble(
    ensemble_id: str,
    name: str | None = None,
    members: Sequence[MemberRequest] | None = None,
    store: GlyphStore | None = None,
) -> EnsembleDetail:
    """Change the name, weights or members; normalise, re-evaluate, and bump the version. When the ensemble is
    active, the pointer moves to the new version (conditionally), so serving picks the edit up."""
    store = store or GlyphStore()
    item = _get_item(ensemble_id)
    current = read_manifest(store, ensemble_id)
    pairs = (
        [(member.network_id, member.weight) for member in current.members]
        if members is None
        else _member_pairs(members)
    )
    edited = build_manifest(
        store,
        ensemble_id,
        name or current.name,
        pairs,
        status=current.status,
        created_by=current.created_by,
        created_at=current.created_at,
        version=int(item.version) + 1,
    )
    evaluation = evaluate_manifest(store, edited)
    edited = _with_evaluation(edited, evaluation)
    _store(store, edited, evaluation)
    try:
        ensemble_item(edited).save(condition=EnsembleItem.version == item.version)
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"ensemble {ensemble_id} was edited meanwhile; reload it and try again") from error
        raise
    pointer = read_pointer()
    if pointer is not None and pointer.active_id == ensemble_id:
        move_pointer(ensemble_id, edited.version, int(pointer.revision), by=pointer.activated_by)
        pointer = read_pointer()
    return _detail(edited, evaluation, active_id=None if pointer is None else pointer.active_id)


def reevaluate_ensemble(ensemble_id: str, store: GlyphStore | None = None) -> EnsembleDetail:
    """Evaluate again on the test split as it is now (after a re-import); members and version stay."""
    store = store or GlyphStore()
    item = _get_item(ensemble_id)
    manifest = read_manifest(store, ensemble_id)
    evaluation = evaluate_manifest(store, manifest)
    manifest = _with_evaluation(manifest, evaluation)
    _store(store, manifest, evaluation)
    item.update(actions=[EnsembleItem.accuracy.set(evaluation.accuracy)])
    return _detail(manifest, evaluation, active_id=_active_id())


# --- the active pointer ---------------------------------------------------------------------------------------
def read_pointer(consistent: bool = True) -> ActiveEnsembleItem | None:
    try:
        return ActiveEnsembleItem.get(ACTIVE_POINTER_ID, consistent_read=consistent)
    except DoesNotExist:
        return None


def _active_id() -> str | None:
    pointer = read_pointer()
    return None if pointer is None else pointer.active_id


def move_pointer(
    ensemble_id: str,
    manifest_version: int,
    expected_revision: int | None,
    by: str = "",
    clock: Callable[[], float] = time.time,
) -> ActiveEnsembleItem:
    """One conditional write: the pointer moves only if it is still at `expected_revision` (None: no pointer yet)
    and the ensemble is still at `manifest_version`. Otherwise 409, and nothing changed."""
    pointer = ActiveEnsembleItem(
        ACTIVE_POINTER_ID,
        active_id=ensemble_id,
        manifest_version=manifest_version,
        revision=(expected_revision or 0) + 1,
        activated_at=clock(),
        activated_by=by[:200],
    )
    unchanged = (
        ActiveEnsembleItem.ensemble_id.does_not_exist()
        if expected_revision is None
        else ActiveEnsembleItem.revision == expected_revision
    )
    try:
        with TransactWrite(connection=ActiveEnsembleItem._get_connection().connection) as transaction:
            transaction.condition_check(EnsembleItem, ensemble_id, condition=EnsembleItem.version == manifest_version)
            transaction.save(pointer, condition=unchanged)
    except TransactWriteError as error:
        reasons = [reason for reason in error.cancellation_reasons if reason is not None]
        if any(reason.code == _CONDITION_FAILED for reason in reasons):
            raise Conflict(
                f"the active ensemble or ensemble {ensemble_id} changed meanwhile; nothing was activated, try again"
            ) from error
        raise
    return pointer


def activate_ensemble(ensemble_id: str, by: str = "", store: GlyphStore | None = None) -> ActivationResponse:
    """Check that the ensemble loads (manifest valid, every model present with its digest), then move the
    pointer to it. A broken ensemble is refused (422) and the active one keeps serving."""
    store = store or GlyphStore()
    item = _get_item(ensemble_id)
    previous = read_pointer()
    try:
        manifest = read_manifest(store, ensemble_id)
        if manifest.ensemble_id != ensemble_id or manifest.version != int(item.version):
            raise DataError(f"manifest {manifest.key} does not match the recorded ensemble (id or version)")
        load_ensemble_for_batch(store, manifest, 1)
    except DataError as error:
        raise DataError(f"ensemble {ensemble_id} cannot be activated: {error.message}") from error
    pointer = move_pointer(ensemble_id, manifest.version, None if previous is None else int(previous.revision), by)
    logger.info("ensemble %s (version %d) activated by %s", ensemble_id, manifest.version, by)
    return ActivationResponse(
        active_id=pointer.active_id,
        manifest_version=int(pointer.manifest_version),
        revision=int(pointer.revision),
        previous_id=None if previous is None else previous.active_id,
    )


# --- list, read, delete ---------------------------------------------------------------------------------------
def _get_item(ensemble_id: str) -> EnsembleItem:
    if ensemble_id == ACTIVE_POINTER_ID:
        raise NotFound(f"no ensemble {ensemble_id!r}")
    try:
        return EnsembleItem.get(ensemble_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"no ensemble {ensemble_id!r}") from None


def _summary_fields(item: EnsembleItem, active_id: str | None) -> dict[str, object]:
    return {
        "ensemble_id": item.ensemble_id,
        "name": item.name,
        "status": item.status,
        "version": int(item.version),
        "accuracy": None if item.accuracy is None else float(item.accuracy),
        "weights": {str(name): float(weight) for name, weight in item.member_weights.attribute_values.items()},
        "active": item.ensemble_id == active_id,
        "manifest_key": item.manifest_key,
        "created_at": float(item.created_at),
        "created_by": item.created_by,
    }


def list_ensembles() -> EnsembleList:
    active_id = _active_id()
    items = EnsembleItem.scan(filter_condition=EnsembleItem.ensemble_id != ACTIVE_POINTER_ID)
    summaries = [EnsembleSummary.model_validate(_summary_fields(item, active_id)) for item in items]
    summaries.sort(key=lambda summary: summary.created_at, reverse=True)
    return EnsembleList(ensembles=summaries, active_id=active_id)


def _detail(manifest: EnsembleManifest, evaluation: Evaluation, active_id: str | None) -> EnsembleDetail:
    return EnsembleDetail(
        ensemble_id=manifest.ensemble_id,
        name=manifest.name,
        status=manifest.status,
        version=manifest.version,
        accuracy=manifest.accuracy,
        weights={member.network_id: member.weight for member in manifest.members},
        active=manifest.ensemble_id == active_id,
        manifest_key=manifest.key,
        created_at=manifest.created_at,
        created_by=manifest.created_by,
        per_class_accuracy=evaluation.per_class_accuracy,
        confusion=evaluation.confusion.tolist(),
        test_size=evaluation.size,
    )


def delete_ensemble(ensemble_id: str, store: GlyphStore | None = None) -> None:
    """Delete an ensemble that is not active: the pointer's condition is checked in the same transaction."""
    store = store or GlyphStore()
    _get_item(ensemble_id)
    not_active = ActiveEnsembleItem.ensemble_id.does_not_exist() | (ActiveEnsembleItem.active_id != ensemble_id)
    try:
        with TransactWrite(connection=EnsembleItem._get_connection().connection) as transaction:
            transaction.condition_check(ActiveEnsembleItem, ACTIVE_POINTER_ID, condition=not_active)
            transaction.delete(EnsembleItem(ensemble_id), condition=EnsembleItem.ensemble_id.exists())
    except TransactWriteError as error:
        reasons = [*error.cancellation_reasons, None, None]
        if reasons[0] is not None and reasons[0].code == _CONDITION_FAILED:
            raise Conflict(f"ensemble {ensemble_id} is active: activate another one before deleting it") from error
        if reasons[1] is not None and reasons[1].code == _CONDITION_FAILED:
            raise NotFound(f"no ensemble {ensemble_id!r}") from error
        raise
    s3 = aws.client("s3")
    for key in (manifest_key(ensemble_id), evaluation_key(ensemble_id)):
        s3.delete_object(Bucket=get_settings().bucket_name, Key=key)


# --- serving --------------------------------------------------------------------------------------------------
class ActiveEnsembleCache:
    """The active ensemble, as a warm process serves it: loaded once per (ensemble, manifest version)."""

    def __init__(
        self,
        store: ObjectStore | None = None,
        batch: int = 1,
        check_seconds: float = ACTIVE_ENSEMBLE_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._batch = batch
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._loaded: LoadedEnsemble | None = None
        self._loaded_key: tuple[str, int] | None = None

    def current(self) -> LoadedEnsemble | None:
        """The ensemble to serve, or None when none was ever activated (or none could be loaded yet)."""
        with self._lock:
            now = self._clock()
            if self._checked_at is not None and now - self._checked_at < self._check_seconds:
                return self._loaded
            self._checked_at = now
            try:
                self._refresh()
            except (DrCaptchaError, ClientError, BotoCoreError, PynamoDBException):
                # A broken or unreachable new version must not stop the one this process already serves.
                logger.exception("could not load the active ensemble; keeping %s", self._loaded_key)
            return self._loaded

    def _refresh(self) -> None:
        pointer = read_pointer(consistent=False)
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
_serving: dict[str, ActiveEnsembleCache] = {}
RECOGNIZE: Final = "recognize"


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
