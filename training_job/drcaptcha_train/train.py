"""Fitting and predicting: Keras and numpy only, so the GPU bench (JAX backend) runs the very same loop.

The training split is imbalanced (359 to 11,446 images a class) while the test split is balanced, so the loss
weighs each class by the inverse of its frequency: the model then learns the balanced posterior, which is
what a prior correction at prediction time would give.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from numpy.typing import NDArray

from drcaptcha.charset import NUM_CLASSES

PREDICT_BATCH = 1024


def to_pixels(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """uint8 [n, 28, 28] → float32 [n, 28, 28, 1] with the raw 0..255 values the networks expect."""
    return np.asarray(images, dtype=np.float32)[..., np.newaxis]


def one_hot(labels: NDArray[Any]) -> NDArray[np.float32]:
    return np.eye(NUM_CLASSES, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def class_weights(labels: NDArray[Any]) -> dict[int, float]:
    """Inverse-frequency weights, scaled so that the mean weight over the training samples is 1."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES).astype(np.float64)
    present = counts > 0
    weights = np.ones(NUM_CLASSES)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {label: float(weight) for label, weight in enumerate(weights)}


class EpochTimer(keras.callbacks.Callback):  # type: ignore[misc]  # keras is untyped
    """Wall time of each epoch, so throughput can leave out the first epoch's compilation."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.durations.append(time.perf_counter() - self._start)


@dataclass
class FitResult:
    history: dict[str, list[float]]
    epochs: int
    batch_size: int
    train_size: int
    wall_seconds: float
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Training throughput of a steady epoch (the median, or the only one)."""
        steady = self.epoch_seconds[1:] or self.epoch_seconds
        return self.train_size / statistics.median(steady) if steady else 0.0


def fit_network(
    model: keras.Model,
    images: NDArray[np.uint8],
    labels: NDArray[Any],
    *,
    epochs: int,
    batch_size: int,
    validation: tuple[NDArray[np.uint8], NDArray[Any]] | None = None,
    verbose: int | str | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> FitResult:
    """Train `model` (compiled by networks.py) with class-balanced loss weights; a progress bar per epoch."""
    timer = EpochTimer()
    validation_data = None
    if validation is not None and len(validation[1]) > 0:
        validation_data = (to_pixels(validation[0]), one_hot(validation[1]))
    started = time.perf_counter()
    history = model.fit(
        to_pixels(images),
        one_hot(labels),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        class_weight=class_weights(labels),
        validation_data=validation_data,
        callbacks=[timer, *(callbacks or [])],
        verbose=(1 if sys.stderr.isatty() else 2) if verbose is None else verbose,
    )
    wall = time.perf_counter() - started
    curves = {name: [float(value) for value in values] for name, values in history.history.items()}
    return FitResult(curves, len(timer.durations), batch_size, len(labels), wall, timer.durations)


def predict(model: keras.Model, images: NDArray[np.uint8]) -> NDArray[np.float32]:
    probabilities: NDArray[np.float32] = np.asarray(
        model.predict(to_pixels(images), batch_size=PREDICT_BATCH, verbose=0), dtype=np.float32
    )
    return probabilities


def mean_loss(probabilities: NDArray[np.float32], labels: NDArray[Any]) -> float:
    """Cross-entropy of the true labels (no smoothing), comparable across networks."""
    picked = probabilities[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def inference_copy(model: keras.Model) -> keras.Model:
    """The same network and weights without the optimizer's state, which would triple the saved file."""
    copy = keras.Model.from_config(model.get_config())  # clone_model would carry the optimizer over
    copy.set_weights(model.get_weights())
    return copy
