"""The admin side apart from ensembles: admin keys and bearer auth, the trained networks, training jobs, stats.

Admin keys are `dca_` + 256 random bits, so a plain SHA-256 is a safe thing to store: nothing can be guessed
offline from it (a slow password hash protects low-entropy secrets, which these are not). The hash is also the
item's key, so checking a key is one GetItem, and the stored hash is compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from drcaptcha import aws, selection
from drcaptcha.config import get_settings
from drcaptcha.errors import BadRequest, Conflict, DataError, Forbidden, NotFound, Unauthorized
from drcaptcha.glyphs import GlyphStore, ImportManifest
from drcaptcha.models.api.admin import (
    CrowdStats,
    NetworkDetail,
    NetworkList,
    NetworkSummary,
    TrainingJob,
    TrainingJobList,
)
from drcaptcha.models.tables.challenges import FAILED, PASSED
from drcaptcha.models.tables.ensembles import NetworkItem
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, UNLABELLED
from drcaptcha.store.admins import AdminStore
from drcaptcha.store.challenges import ChallengeStore
from drcaptcha.store.ensembles import EnsembleStore
from drcaptcha.store.glyphs import GlyphVoteStore

ADMIN_KEY_PREFIX: Final = "dca_"
_BEARER: Final = re.compile(r"^Bearer ([A-Za-z0-9_-]{16,128})$")
PLOT_URL_SECONDS: Final = 3600
# The architectures the training job knows (drcaptcha_train.options.NETWORK_NAMES; a unit test keeps them in
# step). The layer cannot import the trainer, which needs TensorFlow.
TRAINABLE_NETWORKS: Final = ("nn", "dnn", "cnn1", "cnn2", "resnet", "vgg")
TRAINING_JOB_PREFIX: Final = "drcaptcha-train-"
KEYS: Final = AdminStore()
NETWORKS: Final = EnsembleStore()


# --- keys ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewAdmin:
    """What `create_admin` hands back once: the key is not kept anywhere else."""

    name: str
    key: str


@dataclass(frozen=True)
class Admin:
    name: str


def hash_admin_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_admin(name: str, clock: Callable[[], float] = time.time, keys: AdminStore = KEYS) -> NewAdmin:
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequest("an admin's name needs 1 to 100 characters")
    key = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)
    keys.add(hash_admin_key(key), name, created_at=clock())
    return NewAdmin(name=name, key=key)


def bearer_key(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; 401 when it is missing or not of that form."""
    if not authorization:
        raise Unauthorized("the admin API needs an `Authorization: Bearer <admin key>` header")
    match = _BEARER.match(authorization.strip())
    if match is None:
        raise Unauthorized("the Authorization header must read `Bearer <admin key>`")
    return match.group(1)


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_admin_key(key).encode(), stored_hash.encode())


def authenticate(authorization: str | None, keys: AdminStore = KEYS) -> Admin:
    """The admin whose key the header carries: 401 without a well-formed header, 403 for a key nobody has."""
    key = bearer_key(authorization)
    item = keys.get(hash_admin_key(key))
    if item is None:
        raise Forbidden("this admin key is not valid")
    if not key_matches(key, item.key_hash):  # pragma: no cover - the lookup was by this very hash
        raise Forbidden("this admin key is not valid")
    return Admin(name=item.name)


# --- networks -----------------------------------------------------------------------------------------------
def _presigned(key: str) -> str:
    url: str = aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": get_settings().bucket_name, "Key": key}, ExpiresIn=PLOT_URL_SECONDS
    )
    return url


def _summary(item: NetworkItem) -> dict[str, Any]:
    plots = {name: _presigned(key) for name, key in sorted(item.artifact_keys().items()) if name.endswith(".png")}
    return {
        "network_id": item.network_id,
        "name": item.name,
        "accuracy": float(item.accuracy),
        "loss": None if item.loss is None else float(item.loss),
        "litert_agreement": None if item.litert_agreement is None else float(item.litert_agreement),
        "epochs": int(item.epochs),
        "batch_size": int(item.batch_size),
        "train_size": int(item.train_size),
        "test_size": int(item.test_size),
        "device": item.device,
        "created_at": float(item.created_at),
        "metrics": {str(name): float(value) for name, value in item.metrics.attribute_values.items()},
        "plots": plots,
    }


def list_networks(records: EnsembleStore = NETWORKS) -> NetworkList:
    items = sorted(records.networks(), key=lambda item: float(item.created_at), reverse=True)
    return NetworkList(networks=[NetworkSummary.model_validate(_summary(item)) for item in items])


def get_network(network_id: str, records: EnsembleStore = NETWORKS) -> NetworkDetail:
    item = records.network(network_id)
    if item is None:
        raise NotFound(f"no network {network_id!r}")
    details: dict[str, Any] = {}
    metrics_key = item.artifact_keys().get("metrics.json")
    if metrics_key:
        try:
            body = aws.client("s3").get_object(Bucket=get_settings().bucket_name, Key=metrics_key)["Body"].read()
            details = json.loads(body)
        except (ClientError, ValueError) as error:
            raise DataError(f"metrics.json of network {network_id} cannot be read: {error}") from error
    return NetworkDetail.model_validate({**_summary(item), "details": details})


# --- training jobs ------------------------------------------------------------------------------------------
def training_command(network: str, epochs: int | None) -> list[str]:
    """The training container's arguments (the same entry point `drcaptcha train` runs in-process)."""
    if network not in TRAINABLE_NETWORKS:
        raise BadRequest(f"unknown network {network!r}: one of {', '.join(TRAINABLE_NETWORKS)}")
    command = ["--network", network]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    return command


def submit_training_job(network: str, epochs: int | None, clock: Callable[[], float] = time.time) -> TrainingJob:
    """Submit the GPU job to AWS Batch. Without a reachable queue: 409, naming the local way to train.

    The admin function never trains in-process: that would import TensorFlow, which no function may.
    """
    command = training_command(network, epochs)
    settings = get_settings()
    local_hint = f"train locally with `drcaptcha train --network {network}`"
    if not settings.training_job_queue or not settings.training_job_definition:
        raise Conflict(f"no training queue is configured (TRAINING_JOB_QUEUE): {local_hint}")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{TRAINING_JOB_PREFIX}{network}-{int(clock())}")[:128]
    try:
        response = aws.client("batch").submit_job(
            jobName=name,
            jobQueue=settings.training_job_queue,
            jobDefinition=settings.training_job_definition,
            containerOverrides={"command": command},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"ClientException", "ResourceNotFoundException"}:
            raise Conflict(f"the training queue refused the job ({error}): {local_hint}") from error
        raise
    return TrainingJob(job_id=str(response["jobId"]), name=name, status="SUBMITTED", created_at=clock())


def list_training_jobs() -> TrainingJobList:
    settings = get_settings()
    if not settings.training_job_queue:
        return TrainingJobList(runner="none", jobs=[])
    batch = aws.client("batch")
    jobs: list[TrainingJob] = []
    try:
        pages = batch.get_paginator("list_jobs").paginate(
            jobQueue=settings.training_job_queue,
            filters=[{"name": "JOB_NAME", "values": [f"{TRAINING_JOB_PREFIX}*"]}],
        )
        for page in pages:
            for job in page.get("jobSummaryList", []):
                created = job.get("createdAt")
                jobs.append(
                    TrainingJob(
                        job_id=job["jobId"],
                        name=job["jobName"],
                        status=job.get("status", "UNKNOWN"),
                        created_at=None if created is None else created / 1000,
                    )
                )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"ClientException", "ResourceNotFoundException"}:
            return TrainingJobList(runner="none", jobs=[])
        raise
    return TrainingJobList(runner="batch", jobs=jobs)


# --- stats --------------------------------------------------------------------------------------------------
def crowd_stats(
    clock: Callable[[], float] = time.time,
    glyphs: GlyphVoteStore | None = None,
    challenges: ChallengeStore | None = None,
    manifest: Callable[[], ImportManifest | None] | None = None,
) -> CrowdStats:
    glyphs = glyphs or GlyphVoteStore()
    challenges = challenges or ChallengeStore()
    imported = (manifest or GlyphStore().manifest_or_none)()
    passed, failed = challenges.count_with_outcome(PASSED), challenges.count_with_outcome(FAILED)
    answered = passed + failed
    unlabelled, ambiguous = glyphs.count_in_state(UNLABELLED), glyphs.count_in_state(AMBIGUOUS)
    return CrowdStats(
        glyphs_unlabelled=unlabelled,
        glyphs_ambiguous=ambiguous,
        glyphs_labelled_by_crowd=glyphs.count_in_state(CROWD),
        votes=glyphs.count_votes(),
        challenges=challenges.count(),
        challenges_passed=passed,
        challenges_failed=failed,
        challenges_open=challenges.count_open(clock()),
        pass_rate=round(passed / answered, 4) if answered else None,
        nothing_left_to_label=unlabelled + ambiguous == 0,
        labels_public=None if imported is None else imported.scored_labels_public,
        scored_glyphs=None if imported is None else selection.scored_glyphs_of(imported),
    )
