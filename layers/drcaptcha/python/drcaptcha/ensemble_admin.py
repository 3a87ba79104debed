"""Ensembles as admins manage them (create, edit, evaluate, activate, list, delete) and as functions serve them.

- Every create and edit normalises the weights, checks each member's model (present, digest recorded), evaluates
  the ensemble on the test split with LiteRT, and writes `ensembles/<id>/manifest.json` (members, weights,
  digests, accuracy, version) and `ensembles/<id>/evaluation.json` (adds the confusion matrix).
- The active ensemble is named by one pointer item in the Ensembles table (`ActiveEnsembleItem`).
  Activating loads the manifest and every model first (digests checked), so a broken ensemble is refused before
  anything changes, and then moves the pointer with ONE conditional write on its revision, in a transaction
  that also checks the ensemble's version. Two admins racing: one wins, the other gets 409; the pointer always
  names one whole ensemble and the manifest version that was checked.
- Serving the active ensemble is drcaptcha/serving.py's job; the records are drcaptcha/store/ensembles.py's.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Final

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha.ensembles import (
    INFERENCE_BATCH,
    EnsembleManifest,
    Evaluation,
    build_manifest,
    evaluate_predictions,
    load_ensemble_for_batch,
    manifest_key,
    read_manifest,
    write_manifest,
)
from drcaptcha.errors import BadRequest, DataError, NotFound
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.api.admin import (
    ActivationResponse,
    EnsembleDetail,
    EnsembleList,
    EnsembleSummary,
    MemberRequest,
)
from drcaptcha.models.tables.ensembles import ActiveEnsembleItem, EnsembleItem
from drcaptcha.store.ensembles import EnsembleStore

logger = logging.getLogger(__name__)

TEST_SPLIT: Final = "test"
RECORDS: Final = EnsembleStore()


def evaluation_key(ensemble_id: str) -> str:
    return f"ensembles/{ensemble_id}/evaluation.json"


def new_ensemble_id(clock: Callable[[], float] = time.time) -> str:
    return f"ens-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(clock()))}-{secrets.token_hex(3)}"


# --- create, edit, evaluate -----------------------------------------------------------------------------------
def _member_pairs(members: Sequence[MemberRequest], records: EnsembleStore) -> list[tuple[str, float]]:
    ids = [member.network_id for member in members]
    if len(set(ids)) != len(ids):
        raise BadRequest("a network appears twice among the members")
    for network_id in ids:
        if records.network(network_id) is None:
            raise BadRequest(f"no network {network_id!r} is registered")
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
    name: str,
    members: Sequence[MemberRequest],
    created_by: str = "",
    store: GlyphStore | None = None,
    records: EnsembleStore = RECORDS,
) -> EnsembleDetail:
    store = store or GlyphStore()
    ensemble_id = new_ensemble_id()
    manifest = build_manifest(
        store, ensemble_id, name, _member_pairs(members, records), status="ready", created_by=created_by[:200]
    )
    evaluation = evaluate_manifest(store, manifest)
    manifest = _with_evaluation(manifest, evaluation)
    _store(store, manifest, evaluation)
    records.add_ensemble(ensemble_item(manifest))
    return _detail(manifest, evaluation, active_id=None)


def update_ensemble(
    ensemble_id: str,
    name: str | None = None,
    members: Sequence[MemberRequest] | None = None,
    store: GlyphStore | None = None,
    records: EnsembleStore = RECORDS,
) -> EnsembleDetail:
    """Change the name, weights or members; normalise, re-evaluate, and bump the version. When the ensemble is
    active, the pointer moves to the new version (conditionally), so serving picks the edit up."""
    store = store or GlyphStore()
    item = _get_item(ensemble_id, records)
    current = read_manifest(store, ensemble_id)
    pairs = (
        [(member.network_id, member.weight) for member in current.members]
        if members is None
        else _member_pairs(members, records)
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
    records.replace_ensemble(ensemble_item(edited), expected_version=int(item.version))
    pointer = records.pointer()
    if pointer is not None and pointer.active_id == ensemble_id:
        move_pointer(ensemble_id, edited.version, int(pointer.revision), by=pointer.activated_by, records=records)
        pointer = records.pointer()
    return _detail(edited, evaluation, active_id=None if pointer is None else pointer.active_id)


def reevaluate_ensemble(
    ensemble_id: str, store: GlyphStore | None = None, records: EnsembleStore = RECORDS
) -> EnsembleDetail:
    """Evaluate again on the test split as it is now (after a re-import); members and version stay."""
    store = store or GlyphStore()
    item = _get_item(ensemble_id, records)
    manifest = read_manifest(store, ensemble_id)
    evaluation = evaluate_manifest(store, manifest)
    manifest = _with_evaluation(manifest, evaluation)
    _store(store, manifest, evaluation)
    records.set_accuracy(item, evaluation.accuracy)
    return _detail(manifest, evaluation, active_id=_active_id(records))


# --- the active pointer ---------------------------------------------------------------------------------------
def read_pointer(consistent: bool = True, records: EnsembleStore = RECORDS) -> ActiveEnsembleItem | None:
    return records.pointer(consistent)


def _active_id(records: EnsembleStore) -> str | None:
    pointer = records.pointer()
    return None if pointer is None else pointer.active_id


def move_pointer(
    ensemble_id: str,
    manifest_version: int,
    expected_revision: int | None,
    by: str = "",
    clock: Callable[[], float] = time.time,
    records: EnsembleStore = RECORDS,
) -> ActiveEnsembleItem:
    """Point at `ensemble_id` if the pointer is still at `expected_revision` (None: no pointer yet) and the
    ensemble still at `manifest_version`; otherwise 409, and nothing changed."""
    return records.move_pointer(ensemble_id, manifest_version, expected_revision, by, clock)


def activate_ensemble(
    ensemble_id: str, by: str = "", store: GlyphStore | None = None, records: EnsembleStore = RECORDS
) -> ActivationResponse:
    """Check that the ensemble loads (manifest valid, every model present with its digest), then move the
    pointer to it. A broken ensemble is refused (422) and the active one keeps serving."""
    store = store or GlyphStore()
    item = _get_item(ensemble_id, records)
    previous = records.pointer()
    try:
        manifest = read_manifest(store, ensemble_id)
        if manifest.ensemble_id != ensemble_id or manifest.version != int(item.version):
            raise DataError(f"manifest {manifest.key} does not match the recorded ensemble (id or version)")
        load_ensemble_for_batch(store, manifest, 1)
    except DataError as error:
        raise DataError(f"ensemble {ensemble_id} cannot be activated: {error.message}") from error
    expected_revision = None if previous is None else int(previous.revision)
    pointer = move_pointer(ensemble_id, manifest.version, expected_revision, by, records=records)
    logger.info("ensemble %s (version %d) activated by %s", ensemble_id, manifest.version, by)
    return ActivationResponse(
        active_id=pointer.active_id,
        manifest_version=int(pointer.manifest_version),
        revision=int(pointer.revision),
        previous_id=None if previous is None else previous.active_id,
    )


# --- list, read, delete ---------------------------------------------------------------------------------------
def _get_item(ensemble_id: str, records: EnsembleStore) -> EnsembleItem:
    item = records.ensemble(ensemble_id)
    if item is None:
        raise NotFound(f"no ensemble {ensemble_id!r}")
    return item


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


def list_ensembles(records: EnsembleStore = RECORDS) -> EnsembleList:
    active_id = _active_id(records)
    summaries = [EnsembleSummary.model_validate(_summary_fields(item, active_id)) for item in records.ensembles()]
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


def delete_ensemble(ensemble_id: str, store: GlyphStore | None = None, records: EnsembleStore = RECORDS) -> None:
    """Delete an ensemble that is not active (409 if it is), then its manifest and evaluation."""
    store = store or GlyphStore()
    _get_item(ensemble_id, records)
    records.delete_inactive(ensemble_id)
    s3 = aws.client("s3")
    for key in (manifest_key(ensemble_id), evaluation_key(ensemble_id)):
        s3.delete_object(Bucket=get_settings().bucket_name, Key=key)
