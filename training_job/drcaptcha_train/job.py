"""One training job: read the labelled glyphs, train a named network, evaluate, export, report, register.

Artifacts land in `networks/<id>/` of the data bucket:
    model.keras, model.tflite, model.int8.tflite (only if it keeps accuracy), metrics.json,
    curves.png, confusion.png, architecture.png
"""

from __future__ import annotations

import json
import math
import platform
import time
import uuid
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from drcaptcha.ensembles import LiteModel, evaluate_predictions, network_prefix
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.tables.ensembles import NetworkItem
from drcaptcha_train import export, report
from drcaptcha_train.data import TrainingData, load_training_data, reaching_store
from drcaptcha_train.errors import UnknownNetwork
from drcaptcha_train.networks import DEFAULT_BATCH_SIZE, UnknownNetworkName, build_network, spec_of
from drcaptcha_train.train import fit_network, mean_loss, predict


@dataclass(frozen=True)
class TrainingOptions:
    network: str
    epochs: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    limit: int | None = None
    network_id: str | None = None
    ensemble: str | None = None  # "auto": propose a draft ensemble afterwards
    verbose: int | str | None = None


@dataclass(frozen=True)
class TrainingResult:
    network_id: str
    metrics: dict[str, Any]
    artifacts: dict[str, str]
    ensemble_key: str | None = None


def new_network_id(name: str) -> str:
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def device_name() -> str:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"tensorflow GPU {details.get('device_name', gpus[0].name)}"
    return f"{backend} CPU {platform.machine()}"


def run_training(options: TrainingOptions, store: GlyphStore | None = None) -> TrainingResult:
    try:
        spec = spec_of(options.network)
    except UnknownNetworkName as error:
        raise UnknownNetwork(str(error)) from error
    store = store or GlyphStore()
    data = load_training_data(store, limit=options.limit)
    epochs = options.epochs or spec.default_epochs
    network_id = options.network_id or new_network_id(spec.name)
    steps = math.ceil(len(data.train) / options.batch_size)

    model = build_network(spec.name, steps, epochs)
    fit = fit_network(
        model,
        data.train.images,
        data.train.labels,
        epochs=epochs,
        batch_size=options.batch_size,
        validation=(data.validation.images, data.validation.labels),
        verbose=options.verbose,
    )
    metrics, files = evaluate_and_export(model, data, spec.name)
    metrics.update(
        network_id=network_id,
        network=spec.name,
        description=spec.description,
        epochs=fit.epochs,
        batch_size=options.batch_size,
        train_size=len(data.train),
        validation_size=len(data.validation),
        crowd_labelled=data.crowd_labelled,
        emnist_labelled=data.emnist_labelled,
        unlabelled=data.unlabelled,
        import_id=data.import_id,
        images_per_second=round(fit.images_per_second, 1),
        wall_seconds=round(fit.wall_seconds, 2),
        epoch_seconds=[round(value, 2) for value in fit.epoch_seconds],
        history=fit.history,
        device=device_name(),
        created_at=time.time(),
    )
    files["curves.png"] = report.curves_png(fit.history, f"{spec.name} ({network_id})")
    files["metrics.json"] = json.dumps(metrics, indent=2).encode()
    artifacts = upload(store, network_id, files)
    register(network_id, spec.name, metrics, artifacts)
    ensemble_key = None
    if options.ensemble == "auto":
        from drcaptcha_train.ensemble_fit import propose_ensemble

        ensemble_key = propose_ensemble(store, data)
    return TrainingResult(network_id, metrics, artifacts, ensemble_key)


def evaluate_and_export(model: keras.Model, data: TrainingData, name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Test-split metrics of the Keras model and its LiteRT export, and every file to upload but the curves."""
    test = data.test
    keras_probabilities = predict(model, test.images)
    evaluation = evaluate_predictions(keras_probabilities, test.labels)
    tflite = export.tflite_model(model)
    started = time.perf_counter()
    lite_probabilities = LiteModel(tflite).predict(test.images)
    lite_seconds = time.perf_counter() - started
    files = {
        "model.keras": export.keras_model_bytes(model),
        "model.tflite": tflite,
        "confusion.png": report.confusion_png(evaluation.confusion, f"{name}: accuracy {evaluation.accuracy:.2%}"),
        "architecture.png": report.architecture_png(model),
    }
    metrics: dict[str, Any] = {
        "accuracy": evaluation.accuracy,
        "loss": mean_loss(keras_probabilities, test.labels),
        "test_size": evaluation.size,
        "per_class_accuracy": evaluation.per_class_accuracy,
        "confusion": evaluation.confusion.tolist(),
        "litert_accuracy": evaluate_predictions(lite_probabilities, test.labels).accuracy,
        "litert_agreement": export.top1_agreement(keras_probabilities, lite_probabilities),
        "litert_ms_per_image": round(1000 * lite_seconds / max(1, len(test)), 4),
        "parameters": model.count_params(),
    }
    int8 = export.int8_tflite_model(model, data.train.images)
    int8_accuracy = evaluate_predictions(LiteModel(int8).predict(test.images), test.labels).accuracy
    metrics["int8_accuracy"] = int8_accuracy
    metrics["int8_kept"] = bool(evaluation.accuracy - int8_accuracy <= export.INT8_MAX_ACCURACY_DROP)
    if metrics["int8_kept"]:
        files["model.int8.tflite"] = int8
    return metrics, files


CONTENT_TYPES = {".json": "application/json", ".png": "image/png"}


def upload(store: GlyphStore, network_id: str, files: dict[str, bytes]) -> dict[str, str]:
    keys: dict[str, str] = {}
    with reaching_store(store.bucket):
        for name, content in files.items():
            key = network_prefix(network_id) + name
            suffix = name[name.rfind(".") :]
            store.put_bytes(key, content, CONTENT_TYPES.get(suffix, "application/octet-stream"))
            keys[name] = key
    return keys


def register(network_id: str, name: str, metrics: dict[str, Any], artifacts: dict[str, str]) -> NetworkItem:
    headline = {
        key: float(metrics[key])
        for key in (
            "accuracy",
            "loss",
            "litert_agreement",
            "litert_accuracy",
            "int8_accuracy",
            "images_per_second",
            "wall_seconds",
            "validation_size",
        )
        if isinstance(metrics.get(key), int | float) and np.isfinite(metrics[key])
    }
    item = NetworkItem(
        network_id,
        name=name,
        accuracy=metrics["accuracy"],
        loss=metrics["loss"],
        litert_agreement=metrics["litert_agreement"],
        epochs=metrics["epochs"],
        batch_size=metrics["batch_size"],
        train_size=metrics["train_size"],
        test_size=metrics["test_size"],
        metrics=headline,
        artifacts=artifacts,
        device=metrics["device"],
        created_at=metrics["created_at"],
    )
    item.save()
    return item
