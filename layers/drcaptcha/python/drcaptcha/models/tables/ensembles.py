"""Trained networks, ensembles and the active-ensemble pointer. Artifacts and manifests live in S3."""

from __future__ import annotations

from typing import ClassVar, Final

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel

# The pointer lives in the Ensembles table under a key that no ensemble id can take (ids are [A-Za-z0-9_-]).
ACTIVE_POINTER_ID: Final = "#active"


class NetworkItem(TableModel):
    """One trained network. `artifacts` maps an artifact's name (model.tflite, metrics.json, …) to its S3 key;
    `metrics` holds the headline figures of metrics.json, so a listing needs no S3 reads."""

    table_setting: ClassVar[str] = "networks_table"

    class Meta:
        table_name = ""

    network_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    accuracy = NumberAttribute()
    loss = NumberAttribute(null=True)
    litert_agreement = NumberAttribute(null=True)
    epochs = NumberAttribute(default=0)
    batch_size = NumberAttribute(default=0)
    train_size = NumberAttribute(default=0)
    test_size = NumberAttribute(default=0)
    metrics = MapAttribute[str, float](default=dict)
    artifacts = MapAttribute[str, str](default=dict)
    device = UnicodeAttribute(null=True)
    created_at = NumberAttribute()

    def artifact_keys(self) -> dict[str, str]:
        return {str(name): str(key) for name, key in self.artifacts.as_dict().items()}


class EnsembleItem(TableModel):
    """One ensemble; its manifest (members, weights, digests) is the S3 object at `manifest_key`."""

    table_setting: ClassVar[str] = "ensembles_table"

    class Meta:
        table_name = ""

    ensemble_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    status = UnicodeAttribute(default="draft")
    manifest_key = UnicodeAttribute()
    version = NumberAttribute(default=1)
    accuracy = NumberAttribute(null=True)
    member_weights = MapAttribute[str, float](default=dict)
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)


class ActiveEnsembleItem(TableModel):
    """The one item that says which ensemble serves. Moving it is one conditional write on `revision`, so two
    admins activating at once leave it naming one of the two ensembles, whole, never a mix of both."""

    table_setting: ClassVar[str] = "ensembles_table"

    class Meta:
        table_name = ""

    ensemble_id = UnicodeAttribute(hash_key=True, default=ACTIVE_POINTER_ID)
    active_id = UnicodeAttribute()
    manifest_version = NumberAttribute()
    revision = NumberAttribute()
    activated_at = NumberAttribute()
    activated_by = UnicodeAttribute(default="")
