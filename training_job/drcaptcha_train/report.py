"""The plots admins look at: accuracy and loss curves, the confusion matrix, the architecture diagram."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
from matplotlib.figure import Figure  # without pyplot: no global state, no display backend
from numpy.typing import NDArray

from drcaptcha.charset import CLASSES


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def curves_png(history: dict[str, list[float]], title: str) -> bytes:
    """Training (and validation) accuracy and loss per epoch."""
    figure = Figure(figsize=(10, 4))
    accuracy_axes, loss_axes = figure.subplots(1, 2)
    for axes, metric in ((accuracy_axes, "accuracy"), (loss_axes, "loss")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                axes.plot(range(1, len(values) + 1), values, marker="o", label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    return _png(figure)


def confusion_png(confusion: NDArray[Any], title: str) -> bytes:
    """The 47x47 confusion matrix, each row normalised to its class's test count."""
    totals = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    figure = Figure(figsize=(11, 10))
    axes = figure.subplots()
    image = axes.imshow(normalised, cmap="viridis", vmin=0, vmax=1)
    ticks = range(len(CLASSES))
    axes.set_xticks(ticks, list(CLASSES), fontsize=7)
    axes.set_yticks(ticks, list(CLASSES), fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    return _png(figure)


def architecture_png(model: keras.Model) -> bytes:
    """keras.utils.plot_model through graphviz where `dot` is installed; else a list of the layers."""
    if shutil.which("dot"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "architecture.png"
            keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True, dpi=80)
            return path.read_bytes()
    return layer_list_png(model)


def layer_list_png(model: keras.Model) -> bytes:
    rows = [f"{layer.name}  ({layer.__class__.__name__})  params {layer.count_params():,}" for layer in model.layers]
    figure = Figure(figsize=(7, 0.3 * len(rows) + 1))
    axes = figure.subplots()
    axes.axis("off")
    for index, row in enumerate(rows):
        axes.text(0.02, 1 - (index + 0.5) / len(rows), row, family="monospace", fontsize=9, va="center")
    axes.set_title(f"{model.name}: {model.count_params():,} parameters")
    return _png(figure)
