"""The named architectures: the original project's four and a modern residual network.

Only Keras is imported here (no TensorFlow, boto3 or pydantic), so the same definitions train on any Keras 3
backend: TensorFlow in the container, JAX on a lent GPU machine (bench/gpu_train.py).

Every network takes float32 [n, 28, 28, 1] images with raw pixel values 0..255 (upright, as stored) and
returns 47 softmax probabilities. Scaling happens inside the model, so serving feeds pixels as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from drcaptcha.charset import NUM_CLASSES
from drcaptcha_train.options import DEFAULT_BATCH_SIZE, NETWORK_NAMES

INPUT_SHAPE = (28, 28, 1)


class UnknownNetworkName(ValueError):
    """Raised for a name that is not in NETWORKS; the job turns it into a DrCaptchaError."""


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    description: str
    build: Callable[[int, int], keras.Model]  # (steps_per_epoch, epochs) -> compiled model
    default_epochs: int
    label_smoothing: float = 0.0


def _inputs() -> tuple[Any, Any]:
    inputs = keras.Input(shape=INPUT_SHAPE, name="pixels")
    return inputs, layers.Rescaling(1.0 / 255.0, name="scale")(inputs)


def _compile(model: keras.Model, optimizer: keras.optimizers.Optimizer, label_smoothing: float = 0.0) -> keras.Model:
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )
    return model


# The original project compiled with Keras 2's string optimizers, whose defaults were Adadelta lr=1.0 and
# Adagrad lr=0.01; Keras 3 defaults both to 0.001, which barely moves in a few epochs. So the rates are explicit.
def build_nn(steps_per_epoch: int, epochs: int) -> keras.Model:
    inputs, x = _inputs()
    x = layers.Flatten()(x)
    x = layers.Dense(10000, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return _compile(keras.Model(inputs, outputs, name="nn"), keras.optimizers.Adadelta(learning_rate=1.0))


def build_dnn(steps_per_epoch: int, epochs: int) -> keras.Model:
    inputs, x = _inputs()
    x = layers.Flatten()(x)
    for units in (4096, 1024, 512):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return _compile(keras.Model(inputs, outputs, name="dnn"), keras.optimizers.Adadelta(learning_rate=1.0))


def _two_convs(filters: tuple[int, int], dropout: float, dense: int, dense_dropout: float, name: str) -> keras.Model:
    inputs, x = _inputs()
    x = layers.Conv2D(filters[0], 3, activation="relu")(x)
    x = layers.Conv2D(filters[1], 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, activation="relu")(x)
    x = layers.Dropout(dense_dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def build_cnn1(steps_per_epoch: int, epochs: int) -> keras.Model:
    model = _two_convs((32, 64), dropout=0.5, dense=1024, dense_dropout=0.25, name="cnn1")
    return _compile(model, keras.optimizers.Adagrad(learning_rate=0.01))


def build_cnn2(steps_per_epoch: int, epochs: int) -> keras.Model:
    model = _two_convs((32, 32), dropout=0.25, dense=512, dense_dropout=0.5, name="cnn2")
    return _compile(model, keras.optimizers.Adadelta(learning_rate=1.0))


RESNET_WIDTHS = (48, 96, 192)
RESNET_LABEL_SMOOTHING = 0.1


def _residual_block(x: Any, filters: int, stride: int) -> Any:
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


@keras.saving.register_keras_serializable(package="drcaptcha")
class RandomAffine(layers.Layer):  # type: ignore[misc]  # keras is untyped
    """Random rotation, zoom and shift of each image in one bilinear resampling, only while training.

    Keras's RandomRotation/RandomZoom/RandomTranslation each resample the batch through a generic image
    transform, which on the JAX backend ran the whole ResNet step 5 times slower (108 images/s on an H200).
    This does the same work as one batched gather. It is registered with Keras, so loading a saved model needs
    only `import drcaptcha_train.networks`.
    """

    def __init__(
        self, rotation: float = 0.2, zoom: float = 0.1, shift: float = 0.08, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.shift, self.seed = rotation, zoom, shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(rotation=self.rotation, zoom=self.zoom, shift=self.shift, seed=self.seed)
        return config

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training:
            return images
        ops = keras.ops
        height, width = INPUT_SHAPE[0], INPUT_SHAPE[1]
        batch = ops.shape(images)[0]

        def uniform(limit: float, centre: float = 0.0) -> Any:
            value = keras.random.uniform((batch, 1), centre - limit, centre + limit, seed=self.seed_generator)
            return value

        angle, scale = uniform(self.rotation), uniform(self.zoom, 1.0)
        shift_x, shift_y = uniform(self.shift * width), uniform(self.shift * height)
        rows, cols = ops.meshgrid(
            ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
        )
        centre_y, centre_x = (height - 1) / 2.0, (width - 1) / 2.0
        out_x = ops.reshape(cols, (1, -1)) - centre_x
        out_y = ops.reshape(rows, (1, -1)) - centre_y
        cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
        source_x = cos * out_x + sin * out_y + centre_x - shift_x
        source_y = -sin * out_x + cos * out_y + centre_y - shift_y
        flat = ops.reshape(images, (batch, height * width))
        left, top = ops.floor(source_x), ops.floor(source_y)
        result = ops.zeros_like(source_x)
        for dy in (0.0, 1.0):
            for dx in (0.0, 1.0):
                x, y = left + dx, top + dy
                weight = (1.0 - ops.abs(source_x - x)) * (1.0 - ops.abs(source_y - y))
                inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
                index = ops.cast(ops.clip(y, 0, height - 1) * width + ops.clip(x, 0, width - 1), "int32")
                picked = ops.take_along_axis(flat, index, axis=1)
                result = result + ops.where(inside, weight * picked, 0.0)
        return ops.reshape(result, (batch, height, width, 1))


def augmentation() -> layers.Layer:
    """Small random affine changes, active only in training: handwriting varies by a few degrees and pixels."""
    return RandomAffine(rotation=0.2, zoom=0.1, shift=0.08, name="augment")  # ±11 degrees, ±10%, ±2 pixels


def _cosine_adamw(steps_per_epoch: int, epochs: int, peak: float = 2e-3) -> keras.optimizers.Optimizer:
    """AdamW whose rate warms up over the first 5% of the steps, then follows a cosine down to zero."""
    total_steps = max(1, steps_per_epoch * epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - total_steps // 20),
        warmup_target=peak,
        warmup_steps=total_steps // 20,
    )
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=5e-4)


def _conv_bn(x: Any, filters: int) -> Any:
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


VGG_WIDTHS = (32, 64, 128)


def build_vgg(steps_per_epoch: int, epochs: int) -> keras.Model:
    """A VGG-style CNN sized for CPUs: one conv at full resolution, then 2+2 convs at 14x14 and 7x7.

    Batch norm, the same augmentation, AdamW with cosine decay and label smoothing as the ResNet, about 20
    million multiply-adds an image against the ResNet's 200 million: it trains at about 1,000 images/s on two
    CPU cores (the ResNet at 44 to 77) and serves in well under a millisecond.
    """
    inputs, x = _inputs()
    x = augmentation()(x)
    x = _conv_bn(x, VGG_WIDTHS[0])
    for filters in VGG_WIDTHS[1:]:
        x = layers.MaxPooling2D(2)(x)
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="vgg")
    return _compile(model, _cosine_adamw(steps_per_epoch, epochs), RESNET_LABEL_SMOOTHING)


def build_resnet(steps_per_epoch: int, epochs: int) -> keras.Model:
    """A small ResNet (3 stages of 2 residual blocks), batch norm, augmentation, cosine LR, label smoothing."""
    inputs, x = _inputs()
    x = augmentation()(x)
    x = layers.Conv2D(RESNET_WIDTHS[0], 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for stage, filters in enumerate(RESNET_WIDTHS):
        x = _residual_block(x, filters, stride=1 if stage == 0 else 2)
        x = _residual_block(x, filters, stride=1)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="resnet")
    return _compile(model, _cosine_adamw(steps_per_epoch, epochs), RESNET_LABEL_SMOOTHING)


NETWORKS: dict[str, NetworkSpec] = {
    spec.name: spec
    for spec in (
        NetworkSpec("nn", "the original: one hidden layer of 10,000 units, Adadelta", build_nn, 10),
        NetworkSpec("dnn", "the original: dense 4096-1024-512, Adadelta", build_dnn, 10),
        NetworkSpec("cnn1", "the original: conv 32-64, dense 1024, Adagrad", build_cnn1, 10),
        NetworkSpec("cnn2", "the original: conv 32-32, dense 512, Adadelta", build_cnn2, 10),
        NetworkSpec(
            "resnet",
            "modern: small ResNet, batch norm, affine augmentation, AdamW with cosine decay, label smoothing",
            build_resnet,
            20,
            RESNET_LABEL_SMOOTHING,
        ),
        NetworkSpec(
            "vgg",
            "modern, sized for CPUs: VGG-style conv 32-64-128 with batch norm, affine augmentation, AdamW with "
            "cosine decay, label smoothing",
            build_vgg,
            16,
            RESNET_LABEL_SMOOTHING,
        ),
    )
}


__all__ = ["DEFAULT_BATCH_SIZE", "NETWORKS", "NETWORK_NAMES", "build_network", "spec_of"]


def spec_of(name: str) -> NetworkSpec:
    try:
        return NETWORKS[name]
    except KeyError:
        known = ", ".join(NETWORKS)
        raise UnknownNetworkName(f"unknown network {name!r}; known: {known}") from None


def build_network(name: str, steps_per_epoch: int, epochs: int) -> keras.Model:
    return spec_of(name).build(steps_per_epoch, epochs)
