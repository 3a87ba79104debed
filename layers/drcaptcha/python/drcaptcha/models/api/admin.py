"""The admin API's request and response bodies (pydantic)."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

ENSEMBLE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,128}$"
NETWORK_ID_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,128}$"
# A host name as a browser sends it: dot-separated labels of letters, digits and inner hyphens, optional port.
DOMAIN_PATTERN: Final = (
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$"
)
MAX_POW_DIFFICULTY: Final = 28
SITE_KEY_PATTERN: Final = r"^dc_site_[A-Za-z0-9_-]{8,64}$"


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
    labels_public: bool | None = Field(
        default=None,
        description="whether the labels of the glyphs that challenges score are public, as EMNIST's are: then "
        "anyone can train a network on the very glyphs that are scored (`drcaptcha import-emnist --private` marks a "
        "source whose labels were never published, and `drcaptcha add-private-glyphs` adds your own glyphs, which "
        "are then the scored ones); None before any import",
    )
    scored_glyphs: int | None = Field(
        default=None, description="how many glyphs a challenge scores (one may be wrong); None before any import"
    )


class CreateSiteRequest(BaseModel):
    """A new site, as `drcaptcha create-site` makes it."""

    model_config = ConfigDict(extra="forbid")

    domain: str = Field(pattern=DOMAIN_PATTERN, max_length=253, description="the site's host name")
    pow_difficulty: int | None = Field(
        default=None, ge=0, le=MAX_POW_DIFFICULTY, description="proof-of-work base in bits (default: the setting)"
    )
    accessible: bool = Field(default=False, description="offer the proof-of-work-only path (no glyphs)")


class UpdateSiteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pow_difficulty: int | None = Field(default=None, ge=0, le=MAX_POW_DIFFICULTY)
    accessible: bool | None = None


class SiteSettings(BaseModel):
    """A site's public settings (its secret is shown once, by create, and never again)."""

    site_key: str
    domain: str
    pow_difficulty: int | None = Field(description="bits; null: the POW_DEFAULT_DIFFICULTY setting")
    accessible: bool
    test_mode: bool


class NewSiteResponse(SiteSettings):
    secret: str = Field(description="shown only this once; only its hash is stored")
