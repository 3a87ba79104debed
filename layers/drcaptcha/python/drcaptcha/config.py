"""One settings object, read from the environment.

Resource names come from template.yaml: on AWS through each function's environment, locally through the
bootstrap, which resolves the same template and exports the same variables. `AWS_ENDPOINT_URL` is the only
switch between AWS, the embedded moto server and LocalStack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Final, ParamSpec, TypeVar

import boto3
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from drcaptcha import pow, warm

# Where `drcaptcha emulator` writes the endpoint and resource names for other shells to pick up.
LOCAL_ENV_FILE = Path(".drcaptcha") / "env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=LOCAL_ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    # boto3's order: AWS_REGION, then AWS_DEFAULT_REGION, then the region of the profile (AWS_PROFILE or default).
    aws_region: str = Field(
        default_factory=lambda: _profile_region() or "us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    aws_access_key_id: str | None = Field(default=None, alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str | None = Field(default=None, alias="AWS_SECRET_ACCESS_KEY")
    aws_max_attempts: int = Field(default=3, ge=1, le=10, alias="AWS_MAX_ATTEMPTS")

    bucket_name: str = Field(default="", alias="BUCKET_NAME")
    votes_stream: str = Field(default="", alias="VOTES_STREAM")
    glyphs_table: str = Field(default="", alias="GLYPHS_TABLE")
    challenges_table: str = Field(default="", alias="CHALLENGES_TABLE")
    sites_table: str = Field(default="", alias="SITES_TABLE")
    votes_table: str = Field(default="", alias="VOTES_TABLE")
    networks_table: str = Field(default="", alias="NETWORKS_TABLE")
    ensembles_table: str = Field(default="", alias="ENSEMBLES_TABLE")
    admins_table: str = Field(default="", alias="ADMINS_TABLE")
    rate_limits_table: str = Field(default="", alias="RATE_LIMITS_TABLE")
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE")
    sources_table: str = Field(default="", alias="SOURCES_TABLE")
    acceptances_table: str = Field(default="", alias="ACCEPTANCES_TABLE")
    # The votes the stream refused, kept until OutboxReplayFunction puts them on it again (drcaptcha/outbox.py).
    outbox_table: str = Field(default="", alias="OUTBOX_TABLE")
    outbox_retention_seconds: int = Field(default=14 * 24 * 3600, ge=3600, alias="OUTBOX_RETENTION_SECONDS")

    challenge_ttl_seconds: int = Field(default=120, alias="CHALLENGE_TTL_SECONDS")
    token_ttl_seconds: int = Field(default=300, alias="TOKEN_TTL_SECONDS")
    # On AWS the key lives in an SSM SecureString named by TOKEN_SIGNING_KEY_PARAMETER, read once per warm
    # process; TOKEN_SIGNING_KEY, where set, takes precedence (tests, benchmarks).
    token_signing_key: str = Field(default="", alias="TOKEN_SIGNING_KEY")
    token_signing_key_parameter: str = Field(default="", alias="TOKEN_SIGNING_KEY_PARAMETER")
    # The generations of the two subkeys derived from that key (drcaptcha/tokens.py): raise one to rotate it alone.
    token_key_generation: int = Field(default=1, ge=1, alias="TOKEN_KEY_GENERATION")
    client_key_generation: int = Field(default=1, ge=1, alias="CLIENT_KEY_GENERATION")

    # The captcha API: challenges a client may request a window across every site (drcaptcha/ratelimit.py: two
    # staggered windows; failed answers and unknown site keys spend from it), and the warm caches' lifetimes.
    rate_limit_challenges: int = Field(default=30, ge=1, alias="RATE_LIMIT_CHALLENGES")
    # Drawings a client may send to /v1/recognize a window (the same two staggered windows, their own counters).
    rate_limit_recognitions: int = Field(default=30, ge=1, alias="RATE_LIMIT_RECOGNITIONS")
    rate_limit_window_seconds: int = Field(default=60, ge=1, alias="RATE_LIMIT_WINDOW_SECONDS")
    unlabelled_cache_seconds: float = Field(default=30.0, ge=0, alias="UNLABELLED_CACHE_SECONDS")
    # Unlabelled glyphs read at each refresh (drcaptcha/selection.py): wide, so that one client rarely sees one
    # again (issue 19); a small crowd labels sooner with fewer (a glyph needs about 3 votes).
    unlabelled_candidates: int = Field(default=500, ge=1, le=5000, alias="UNLABELLED_CANDIDATES")
    sites_cache_seconds: float = Field(default=60.0, ge=0, alias="SITES_CACHE_SECONDS")
    # The proof of work's base difficulty (leading zero bits) of a site that sets none (drcaptcha/pow.py).
    pow_default_difficulty: int = Field(default=pow.DEFAULT_DIFFICULTY, ge=0, le=28, alias="POW_DEFAULT_DIFFICULTY")
    glyph_pool_refresh_seconds: float = Field(default=600.0, ge=0, alias="GLYPH_POOL_REFRESH_SECONDS")
    # Score only the known glyphs the active ensemble misreads, while a scored sample holds enough of them
    # (drcaptcha/selection.py; false: every scorable glyph, weighted by the ensemble's doubt, as before issue 15's
    # measured readings). docs/DESIGN.md, "Which known glyphs are scored".
    score_misread_only: bool = Field(default=True, alias="SCORE_MISREAD_ONLY")

    # The GPU training job on AWS Batch (template.yaml: TrainingJobQueue, TrainingJobDefinition).
    training_job_queue: str = Field(default="", alias="TRAINING_JOB_QUEUE")
    training_job_definition: str = Field(default="", alias="TRAINING_JOB_DEFINITION")


def _profile_region() -> str | None:
    """The region of the AWS profile in use (~/.aws/config), as boto3 resolves it; None if there is none."""
    region: str | None = boto3.session.Session().region_name
    return region


_SETTINGS: Final = "settings"
_current: warm.LRUCache[str, Settings] = warm.lasting(1)


def get_settings() -> Settings:
    """The process's settings, read once; `warm.reset()` (or `reset_settings()`) after changing the environment."""
    settings = _current.get(_SETTINGS)
    if settings is None:
        settings = _current[_SETTINGS] = Settings()
    return settings


def reset_settings() -> None:
    """Read the environment again at next use (the rest of the warm state stays)."""
    _current.clear()


class MissingSettings(RuntimeError):
    """A function started without a setting it needs; the message names every missing environment variable."""


_P = ParamSpec("_P")
_R = TypeVar("_R")
_checked: warm.LRUCache[str, bool] = warm.lasting(16)


def check_required(function: str, names: tuple[str, ...]) -> Settings:
    """The settings, once each of `names` (Settings fields) is set; else MissingSettings. Checked once per warm
    process (and again after `warm.reset()`)."""
    settings = get_settings()
    if function not in _checked:
        missing = [Settings.model_fields[name].alias or name for name in names if not getattr(settings, name)]
        if missing:
            raise MissingSettings(
                f"the {function} function cannot start: {', '.join(missing)} not set "
                "(template.yaml gives each function its environment; locally, `drcaptcha emulator` writes it)"
            )
        _checked[function] = True
    return settings


def requires_settings(function: str, *names: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a Lambda handler: its first invocation (the cold start) fails with a clear message when any of
    `names` is unset, rather than a later request failing somewhere deep with an empty table name."""
    unknown = [name for name in names if name not in Settings.model_fields]
    if unknown:
        raise ValueError(f"not settings: {unknown}")

    def decorate(handler: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(handler)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            check_required(function, names)
            return handler(*args, **kwargs)

        return checked

    return decorate
