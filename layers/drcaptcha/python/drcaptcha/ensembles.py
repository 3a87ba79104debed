"""Ensemble manifests, weight normalisation, LiteRT inference and evaluation: the one module for all of it.

An ensemble is a weighted sum of its members' softmax outputs. Its manifest, `ensembles/<id>/manifest.json`,
names each member's network, weight, `.tflite` key and that file's SHA-256, so a model that changed or went
missing after the ensemble was evaluated is refused rather than served. The training job writes drafts, the
admin function writes and activates them, and the serving functions load them: all through this module.

TensorFlow is never imported here: models run with LiteRT (`ai-edge-litert`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import numpy as np
from botocore.exceptions import ClientError
from numpy.typing import NDArray
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from drcaptcha.charset import NUM_CLASSES
from drcaptcha.errors import BadRequest, DataError

MANIFEST_FORMAT: Final = 1
WEIGHT_TOLERANCE: Final = 1e-6
# LiteRT runs fastest on a fixed batch shape; the last chunk is padded up to it.
INFERENCE_BATCH: Final = 256

EnsembleStatus = Literal["draft", "ready", "archived"]
Probabilities = NDArray[np.float32]


class ObjectStore(Protocol):
    """What this module needs of the bucket; `drcaptcha.glyphs.GlyphStore` is one."""

    def get_bytes(self, key: str) -> bytes: ...

    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> None: ...


def network_prefix(network_id: str) -> str:
    return f"networks/{network_id}/"


FLOAT_MODEL: Final = "model.tflite"
INT8_MODEL: Final = "model.int8.tflite"


def network_model_key(network_id: str, variant: str = FLOAT_MODEL) -> str:
    return f"{network_prefix(network_id)}{variant}"


def manifest_key(ensemble_id: str) -> str:
    return f"ensembles/{ensemble_id}/manifest.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalise_weights(weights: Sequence[float]) -> list[float]:
    """Scale `weights` to sum to 1. Refuses no weights, a negative or non-finite weight, and an all-zero set."""
    if not weights:
        raise BadRequest("an ensemble needs at least one member")
    for weight in weights:
        if not math.isfinite(weight):
            raise BadRequest(f"weight {weight} is not a finite number")
        if weight < 0:
            raise BadRequest(f"weight {weight} is negative; weights must be zero or more")
    total = math.fsum(weights)
    if total <= 0:
        raise BadRequest("the weights sum to zero; at least one member needs a positive weight")
    return [weight / total for weight in weights]


class EnsembleMember(BaseModel):
    network_id: str = Field(min_length=1, max_length=128)
    weight: float = Field(ge=0, le=1)
    model_key: str = Field(min_length=1, max_length=512)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EnsembleManifest(BaseModel):
    """The stored form of an ensemble. `version` grows with every edit; `format` is this schema's version."""

    format: int = MANIFEST_FORMAT
    ensemble_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(default=1, ge=1)
    status: EnsembleStatus = "draft"
    members: list[EnsembleMember] = Field(min_length=1)
    accuracy: float | None = Field(default=None, ge=0, le=1)
    per_class_accuracy: list[float] | None = None
    test_size: int | None = Field(default=None, ge=0)
    validation_accuracy: float | None = Field(default=None, ge=0, le=1)
    created_at: float = Field(default_factory=time.time)
    created_by: str = Field(default="", max_length=200)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {value} is not supported (this code reads {MANIFEST_FORMAT})")
        return value

    @field_validator("per_class_accuracy")
    @classmethod
    def _one_per_class(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) != NUM_CLASSES:
            raise ValueError(f"per_class_accuracy needs {NUM_CLASSES} values, got {len(value)}")
        return value

    @model_validator(mode="after")
    def _members_are_consistent(self) -> EnsembleManifest:
        ids = [member.network_id for member in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("a network appears twice among the members")
        total = math.fsum(member.weight for member in self.members)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"member weights sum to {total}, not 1: normalise them first")
        return self

    @property
    def key(self) -> str:
        return manifest_key(self.ensemble_id)

    @property
    def weights(self) -> list[float]:
        return [member.weight for member in self.members]


def parse_manifest(data: bytes | str) -> EnsembleManifest:
    try:
        return EnsembleManifest.model_validate_json(data)
    except ValidationError as error:
        raise DataError(f"not a valid ensemble manifest: {error}") from error


def read_manifest(store: ObjectStore, ensemble_id: str) -> EnsembleManifest:
    return parse_manifest(_fetch(store, manifest_key(ensemble_id), "manifest"))


def write_manifest(store: ObjectStore, manifest: EnsembleManifest) -> str:
    """Write the manifest (validated again on the way out) and return its key."""
    checked = EnsembleManifest.model_validate(manifest.model_dump())
    store.put_bytes(checked.key, checked.model_dump_json(indent=2).encode(), "application/json")
    return checked.key


def member_for(store: ObjectStore, network_id: str, weight: float, model_key: str | None = None) -> EnsembleMember:
    """A member entry whose digest is that of the model as stored now: `model_key`, or the network's serving
    model (`serving_model`)."""
    if model_key is None:
        model_key, content = serving_model(store, network_id)
    else:
        content = _fetch(store, model_key)
    return EnsembleMember(network_id=network_id, weight=weight, model_key=model_key, sha256=sha256_hex(content))


def serving_model(store: ObjectStore, network_id: str) -> tuple[str, bytes]:
    """The network's int8 model where the trainer kept one, else its float model: (key, bytes).

    The trainer keeps the int8 export only when it loses at most half a point of test accuracy; it is a quarter
    of the size (a faster cold start) and about three times faster one image at a time (docs/BENCHMARKS.md,
    "Recognize"), and an ensemble is evaluated with the models it will serve.
    """
    int8_key = network_model_key(network_id, INT8_MODEL)
    try:
        return int8_key, _fetch(store, int8_key)
    except DataError:
        key = network_model_key(network_id)
        return key, _fetch(store, key, f"model of network {network_id}")


def build_manifest(
    store: ObjectStore,
    ensemble_id: str,
    name: str,
    members: Sequence[tuple[str, float]],
    **fields: Any,
) -> EnsembleManifest:
    """A manifest for `(network_id, weight)` pairs: weights normalised, digests read from the stored models."""
    weights = normalise_weights([weight for _, weight in members])
    entries = [member_for(store, network_id, weight) for (network_id, _), weight in zip(members, weights, strict=True)]
    try:
        return EnsembleManifest(ensemble_id=ensemble_id, name=name, members=entries, **fields)
    except ValidationError as error:
        raise BadRequest(f"invalid ensemble: {error}") from error


# --- inference ---------------------------------------------------------------------------------------------
class LiteModel:
    """One `.tflite` classifier: uint8 images [n, 28, 28] in, softmax probabilities [n, 47] out."""

    def __init__(self, content: bytes, batch: int = INFERENCE_BATCH) -> None:
        # Imported here so that code which only reads manifests does not load the native runtime.
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_content=content)
        except (ValueError, RuntimeError) as error:
            raise DataError(f"not a loadable LiteRT model: {error}") from error
        self._batch = batch
        source = self._interpreter.get_input_details()[0]
        self._input_index: int = source["index"]
        self._input_dtype: Any = source["dtype"]
        self._item_shape = tuple(int(size) for size in source["shape"][1:])
        self._interpreter.resize_tensor_input(self._input_index, [batch, *self._item_shape])
        self._interpreter.allocate_tensors()
        self._output_index: int = self._interpreter.get_output_details()[0]["index"]

    def predict(self, images: NDArray[np.uint8]) -> Probabilities:
        count = len(images)
        pixels = np.asarray(images).reshape(count, *self._item_shape).astype(self._input_dtype)
        outputs = np.empty((count, NUM_CLASSES), dtype=np.float32)
        for start in range(0, count, self._batch):
            chunk = pixels[start : start + self._batch]
            size = len(chunk)
            if size < self._batch:
                chunk = np.concatenate([chunk, np.zeros((self._batch - size, *self._item_shape), chunk.dtype)])
            self._interpreter.set_tensor(self._input_index, chunk)
            self._interpreter.invoke()
            outputs[start : start + size] = self._interpreter.get_tensor(self._output_index)[:size]
        return outputs


def weighted_probabilities(member_probabilities: Sequence[Probabilities], weights: Sequence[float]) -> Probabilities:
    """The ensemble's output: the weighted sum of its members' softmax outputs."""
    if len(member_probabilities) != len(weights) or not weights:
        raise BadRequest("one weight is needed for each member's predictions")
    total = np.zeros_like(member_probabilities[0], dtype=np.float32)
    for probabilities, weight in zip(member_probabilities, weights, strict=True):
        total += np.float32(weight) * probabilities
    return total


@dataclass
class LoadedEnsemble:
    manifest: EnsembleManifest
    models: list[LiteModel]

    def member_probabilities(self, images: NDArray[np.uint8]) -> list[Probabilities]:
        return [model.predict(images) for model in self.models]

    def predict(self, images: NDArray[np.uint8]) -> Probabilities:
        return weighted_probabilities(self.member_probabilities(images), self.manifest.weights)


def load_model(store: ObjectStore, member: EnsembleMember) -> LiteModel:
    """The member's model, after checking that its bytes still have the manifest's digest."""
    content = _fetch(store, member.model_key, f"model of network {member.network_id}")
    digest = sha256_hex(content)
    if digest != member.sha256:
        raise DataError(
            f"model {member.model_key} has SHA-256 {digest[:12]}…, but the manifest expects {member.sha256[:12]}…"
        )
    return LiteModel(content)


def load_ensemble(store: ObjectStore, manifest: EnsembleManifest) -> LoadedEnsemble:
    return LoadedEnsemble(manifest, [load_model(store, member) for member in manifest.members])


# --- evaluation --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    per_class_accuracy: list[float]
    confusion: NDArray[np.int64]  # [true class, predicted class]
    size: int

    def summary(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "per_class_accuracy": self.per_class_accuracy, "test_size": self.size}


def evaluate_predictions(probabilities: NDArray[Any], labels: NDArray[Any]) -> Evaluation:
    """Top-1 accuracy, per-class accuracy and the confusion matrix of `probabilities` against `labels`."""
    if len(labels) == 0:
        raise DataError("nothing to evaluate on: the test split is empty")
    truth = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(probabilities).argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    per_class_total = confusion.sum(axis=1)
    per_class = np.divide(np.diag(confusion), per_class_total, out=np.zeros(NUM_CLASSES), where=per_class_total > 0)
    accuracy = float((predicted == truth).mean())
    return Evaluation(accuracy, [round(float(value), 6) for value in per_class], confusion, len(truth))


def evaluate_ensemble(
    ensemble: LoadedEnsemble | Callable[[NDArray[np.uint8]], Probabilities],
    images: NDArray[np.uint8],
    labels: NDArray[Any],
) -> Evaluation:
    predict = ensemble.predict if isinstance(ensemble, LoadedEnsemble) else ensemble
    return evaluate_predictions(predict(images), labels)


def _fetch(store: ObjectStore, key: str, what: str = "object") -> bytes:
    try:
        return store.get_bytes(key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            raise DataError(f"{what} {key} is missing from the bucket") from error
        raise


# --- serving (issue 6) -------------------------------------------------------------------------------------
def load_ensemble_for_batch(store: ObjectStore, manifest: EnsembleManifest, batch: int) -> LoadedEnsemble:
    """Like `load_ensemble`, with interpreters sized for `batch` images a call: recognize runs one drawing at a
    time, and padding it to INFERENCE_BATCH would cost it 256 times the work. Digests are checked the same way."""
    models = []
    for member in manifest.members:
        content = _fetch(store, member.model_key, f"model of network {member.network_id}")
        digest = sha256_hex(content)
        if digest != member.sha256:
            raise DataError(
                f"model {member.model_key} has SHA-256 {digest[:12]}…, but the manifest expects {member.sha256[:12]}…"
            )
        models.append(LiteModel(content, batch=batch))
    return LoadedEnsemble(manifest, models)
