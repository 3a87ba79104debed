"""Export a trained Keras model for serving: `.tflite` (float) and, when it keeps its accuracy, int8.

This is the one module of the trainer that imports TensorFlow (its converter); serving uses LiteRT only.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from drcaptcha_train.train import inference_copy, to_pixels

# An int8 model is kept only if it loses at most this much top-1 accuracy against the float model.
INT8_MAX_ACCURACY_DROP = 0.005
CALIBRATION_IMAGES = 200


def _convert(converter: Any) -> bytes:
    # The converter prints every captured tensor of the traced function to stdout; keep job logs readable.
    with contextlib.redirect_stdout(io.StringIO()):
        content: bytes = converter.convert()
    return content


def tflite_model(model: keras.Model) -> bytes:
    """The float32 LiteRT model: same input (pixels 0..255, [n, 28, 28, 1]) and softmax output."""
    return _convert(tf.lite.TFLiteConverter.from_keras_model(inference_copy(model)))


def int8_tflite_model(model: keras.Model, calibration: NDArray[np.uint8]) -> bytes:
    """Weights and activations in int8, calibrated on training images; input and output stay float32."""
    converter = tf.lite.TFLiteConverter.from_keras_model(inference_copy(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    pixels = to_pixels(calibration[:CALIBRATION_IMAGES])

    def representative() -> Iterator[list[NDArray[np.float32]]]:
        for image in pixels:
            yield [image[np.newaxis]]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return _convert(converter)


def top1_agreement(first: NDArray[np.float32], second: NDArray[np.float32]) -> float:
    """Share of images on which both models pick the same class."""
    return float((first.argmax(axis=1) == second.argmax(axis=1)).mean()) if len(first) else 1.0


def keras_model_bytes(model: keras.Model) -> bytes:
    """The `.keras` file of the model without optimizer state (Keras writes only to a path)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        inference_copy(model).save(path)
        return path.read_bytes()
