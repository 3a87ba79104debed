"""`--ensemble auto`: combine registered networks, weights fitted on the held-out validation split.

The weights maximise validation accuracy (ties broken by log loss) through a coordinate search: each round
tries scaling one member's weight up or down, or dropping it, and keeps any change that helps. The result is
evaluated on the test split with LiteRT and written as a draft manifest through drcaptcha.ensembles, in the
same format the admin function writes, for an admin to edit or activate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from drcaptcha.ensemble_admin import ensemble_item
from drcaptcha.ensembles import (
    FLOAT_MODEL,
    INT8_MODEL,
    LiteModel,
    Probabilities,
    build_manifest,
    evaluate_predictions,
    load_ensemble,
    normalise_weights,
    serving_model,
    weighted_probabilities,
    write_manifest,
)
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.tables.ensembles import NetworkItem
from drcaptcha_train.data import TrainingData
from drcaptcha_train.errors import NoNetworks

MAX_MEMBERS = 4
SCALES = (0.0, 0.5, 0.8, 1.25, 2.0)
ROUNDS = 4


def pick_networks(limit: int = MAX_MEMBERS) -> list[NetworkItem]:
    """The most accurate registered networks that have a LiteRT model (float, or int8 alone: the committed ones)."""
    networks = [item for item in NetworkItem.scan() if {FLOAT_MODEL, INT8_MODEL} & set(item.artifact_keys())]
    if not networks:
        raise NoNetworks("no trained network is registered yet: train one first")
    return sorted(networks, key=lambda item: item.accuracy, reverse=True)[:limit]


def _score(probabilities: Probabilities, labels: NDArray[np.int64]) -> tuple[float, float]:
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    picked = probabilities[np.arange(len(labels)), labels]
    return accuracy, -float(-np.log(np.clip(picked, 1e-7, None)).mean())


def fit_weights(member_probabilities: Sequence[Probabilities], labels: NDArray[np.int64]) -> list[float]:
    """Weights (summing to 1) that maximise validation accuracy; equal weights when there is nothing to fit on."""
    count = len(member_probabilities)
    weights = normalise_weights([1.0] * count)
    if len(labels) == 0 or count == 1:
        return weights
    best = _score(weighted_probabilities(member_probabilities, weights), labels)
    for _ in range(ROUNDS):
        improved = False
        for member in range(count):
            for scale in SCALES:
                candidate = list(weights)
                candidate[member] *= scale
                if sum(candidate) <= 0:
                    continue
                candidate = normalise_weights(candidate)
                score = _score(weighted_probabilities(member_probabilities, candidate), labels)
                if score > best:
                    best, weights, improved = score, candidate, True
        if not improved:
            break
    return weights


def propose_ensemble(store: GlyphStore, data: TrainingData, name: str | None = None) -> str:
    """Fit, evaluate and write a draft ensemble of the best registered networks; returns the manifest's key."""
    networks = pick_networks()
    models = [LiteModel(serving_model(store, item.network_id)[1]) for item in networks]
    validation = [model.predict(data.validation.images) for model in models]
    weights = fit_weights(validation, data.validation.labels)
    members = [(item.network_id, weight) for item, weight in zip(networks, weights, strict=True) if weight > 0]
    ensemble_id = f"auto-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    validation_accuracy = evaluate_predictions(weighted_probabilities(validation, weights), data.validation.labels)
    manifest = build_manifest(
        store,
        ensemble_id,
        name or f"auto: {', '.join(network_id for network_id, _ in members)}",
        members,
        status="draft",
        created_by="training-job --ensemble auto",
        validation_accuracy=validation_accuracy.accuracy if len(data.validation) else None,
    )
    evaluation = evaluate_predictions(load_ensemble(store, manifest).predict(data.test.images), data.test.labels)
    manifest = manifest.model_copy(
        update={
            "accuracy": evaluation.accuracy,
            "per_class_accuracy": evaluation.per_class_accuracy,
            "test_size": evaluation.size,
        }
    )
    key = write_manifest(store, manifest)
    ensemble_item(manifest).save()
    return key
