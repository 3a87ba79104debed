"""Trained networks, ensembles, and the active-ensemble pointer (the Networks and Ensembles tables).

The pointer is one item in the Ensembles table; it moves only with ONE transaction that checks both its own
revision and the ensemble's version, and an ensemble is deleted only in a transaction that checks the pointer
does not name it. A race lost on either becomes `Conflict`: nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from pynamodb.exceptions import DoesNotExist

from drcaptcha.errors import Conflict, NotFound
from drcaptcha.models.tables.ensembles import ACTIVE_POINTER_ID, ActiveEnsembleItem, EnsembleItem, NetworkItem
from drcaptcha.store.base import ConditionFailed, conditional_write, transaction

_POINTER_FIRST: Final = 0  # delete_inactive's first item: the pointer's condition


class EnsembleStore:
    # --- networks ---------------------------------------------------------------------------------------------
    def network(self, network_id: str) -> NetworkItem | None:
        try:
            return NetworkItem.get(network_id)
        except DoesNotExist:
            return None

    def networks(self) -> Iterable[NetworkItem]:
        return NetworkItem.scan()

    # --- ensembles --------------------------------------------------------------------------------------------
    def ensemble(self, ensemble_id: str) -> EnsembleItem | None:
        """The ensemble's record, read consistently; None for an unknown id (and for the pointer's own key)."""
        if ensemble_id == ACTIVE_POINTER_ID:
            return None
        try:
            return EnsembleItem.get(ensemble_id, consistent_read=True)
        except DoesNotExist:
            return None

    def ensembles(self) -> Iterable[EnsembleItem]:
        return EnsembleItem.scan(filter_condition=EnsembleItem.ensemble_id != ACTIVE_POINTER_ID)

    def add_ensemble(self, item: EnsembleItem) -> None:
        item.save(condition=EnsembleItem.ensemble_id.does_not_exist())

    def replace_ensemble(self, item: EnsembleItem, expected_version: int) -> None:
        """Write the edited record if the stored one is still at `expected_version`; Conflict otherwise."""
        try:
            with conditional_write():
                item.save(condition=EnsembleItem.version == expected_version)
        except ConditionFailed as failed:
            raise Conflict(f"ensemble {item.ensemble_id} was edited meanwhile; reload it and try again") from failed

    def set_accuracy(self, item: EnsembleItem, accuracy: float) -> None:
        item.update(actions=[EnsembleItem.accuracy.set(accuracy)])

    def delete_inactive(self, ensemble_id: str) -> None:
        """Delete the ensemble unless the pointer names it (Conflict) or it is gone already (NotFound)."""
        not_active = ActiveEnsembleItem.ensemble_id.does_not_exist() | (ActiveEnsembleItem.active_id != ensemble_id)
        try:
            with transaction() as writes:
                writes.condition_check(ActiveEnsembleItem, ACTIVE_POINTER_ID, condition=not_active)
                writes.delete(EnsembleItem(ensemble_id), condition=EnsembleItem.ensemble_id.exists())
        except ConditionFailed as failed:
            if failed.at(_POINTER_FIRST):
                raise Conflict(f"ensemble {ensemble_id} is active: activate another one before deleting it") from failed
            raise NotFound(f"no ensemble {ensemble_id!r}") from failed

    # --- the active pointer -----------------------------------------------------------------------------------
    def pointer(self, consistent: bool = True) -> ActiveEnsembleItem | None:
        try:
            return ActiveEnsembleItem.get(ACTIVE_POINTER_ID, consistent_read=consistent)
        except DoesNotExist:
            return None

    def move_pointer(
        self,
        ensemble_id: str,
        manifest_version: int,
        expected_revision: int | None,
        by: str,
        clock: Callable[[], float],
    ) -> ActiveEnsembleItem:
        """One transaction: the pointer moves only if it is still at `expected_revision` (None: no pointer yet)
        and the ensemble is still at `manifest_version`. Otherwise Conflict, and nothing changed."""
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
            with transaction() as writes:
                writes.condition_check(EnsembleItem, ensemble_id, condition=EnsembleItem.version == manifest_version)
                writes.save(pointer, condition=unchanged)
        except ConditionFailed as failed:
            raise Conflict(
                f"the active ensemble or ensemble {ensemble_id} changed meanwhile; nothing was activated, try again"
            ) from failed
        return pointer
