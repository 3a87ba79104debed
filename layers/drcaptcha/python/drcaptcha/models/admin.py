"""Admin keys, the active-ensemble pointer, and the admin API's request and response bodies."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from drcaptcha.models.base import TableModel

# The pointer lives in the Ensembles table under a key that no ensemble id can take (ids are [A-Za-z0-9_-]).
ACTIVE_POINTER_ID: Final = "#active"
ENSEMBLE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,128}$"
NETWORK_ID_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,128}$"


class AdminItem(TableModel):
    """One admin key, stored as the SHA-256 of the key: the key itself is printed once and kept nowhere."""

    table_setting: ClassVar[str] = "admins_table"

    class Meta:
        table_name = ""

    key_hash = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = NumberAttribute()


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


# --- request and response bodies ------------------------------------------------------------------------------
class MemberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network_id: str = Field(pattern=NETWORK_ID_PATTERN)
    weight: float = Field(ge=0, description="any non-negative number: weights are normalised to sum to 1")


class CreateEnsembleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    members: list[MemberRequest] = Field(min_length=1, max_length=16)


class UpdateEnsembleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    members: list[MemberRequest] | None = Field(default=None, min_length=1, max_length=16)


class EnsembleSummary(BaseModel):
    ensemble_id: str
    name: str
    status: str
    version: int
    accuracy: float | None
    weights: dict[str, float]
    active: bool
    manifest_key: str
    created_at: float
    created_by: str | None = None


class EnsembleDetail(EnsembleSummary):
    per_class_accuracy: list[float] | None = None
    confusion: list[list[int]] | None = Field(default=None, description="[true class][predicted class]")
    test_size: int | None = None


class EnsembleList(BaseModel):
    ensembles: list[EnsembleSummary]
    active_id: str | None


class ActivationResponse(BaseModel):
    active_id: str
    manifest_version: int
    revision: int
    previous_id: str | None


class TrainingJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: str = Field(min_length=1, max_length=32)
    epochs: int | None = Field(default=None, ge=1, le=500)


class TrainingJob(BaseModel):
    job_id: str
    name: str
    status: str
    created_at: float | None = None


class TrainingJobList(BaseModel):
    runner: str = Field(description="batch, or none where no Batch queue is configured")
    jobs: list[TrainingJob]


class NetworkSummary(BaseModel):
    network_id: str
    name: str
    accuracy: float
    loss: float | None
    litert_agreement: float | None
    epochs: int
    batch_size: int
    train_size: int
    test_size: int
    device: str | None
    created_at: float
    metrics: dict[str, float]
    plots: dict[str, str] = Field(description="plot name -> presigned URL (valid for an hour)")


class NetworkDetail(NetworkSummary):
    details: dict[str, Any] = Field(default_factory=dict, description="metrics.json as the training job wrote it")


class NetworkList(BaseModel):
    networks: list[NetworkSummary]


class CrowdStats(BaseModel):
    glyphs_unlabelled: int
    glyphs_ambiguous: int
    glyphs_labelled_by_crowd: int
    votes: int
    challenges: int
    challenges_passed: int
    challenges_failed: int
    challenges_open: int
    pass_rate: float | None = Field(description="passed / answered, None before any answer")
    nothing_left_to_label: bool = Field(
        description="no glyph is unlabelled or ambiguous: challenges are made of known glyphs only, and collect no "
        "votes, until `drcaptcha remove-labels N` makes more glyphs unlabelled"
    )
