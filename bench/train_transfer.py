"""Train the transfer bot's network (issue 15, item 5): a depthwise-separable CNN, a family not in the ensemble.

    nice -n 10 .venv/bin/python -m bench.train_transfer [--seconds N] [--seed N] [--split .gpu/split.npz --epochs N]

It trains on the public EMNIST images on this machine (/work/shared/data/emnist: the bymerge test images,
whose 47 classes are balanced's, and the balanced train and test slices), as an attacker would, holding out
the last HELD_OUT images of bymerge test to state its accuracy. Saves .drcaptcha/transfer/transfer.keras and
its per-class confusion on the held-out slice (bench/data/transfer-confusion.json).

With `--split`, it trains instead on the training part of the balanced-equivalent split (`python -m
bench.bench_training --write-npz .gpu/split.npz`), the very images the service scores (the training split,
`ImportManifest.scored_split` without a private split), as an attacker who downloaded EMNIST would, and
holds out the split's test part; bench/glyph_readings.py then reads both parts with it and with the ensemble.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

EMNIST: Final = Path("/work/shared/data/emnist")
OUT_DIR: Final = Path(".drcaptcha/transfer")
CONFUSION_FILE: Final = Path(__file__).resolve().parent / "data" / "transfer-confusion.json"
HELD_OUT: Final = 10_000
CLASSES: Final = 47


def read_idx(path: Path) -> NDArray[np.uint8]:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def public_images() -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    x = read_idx(EMNIST / "emnist-bymerge-test-images-idx3-ubyte.gz")
    y = read_idx(EMNIST / "emnist-bymerge-test-labels-idx1-ubyte.gz")
    extra_x, extra_y = [], []
    for split, span in (("train", "103680-112799"), ("test", "18496-18799")):
        extra_x.append(read_idx(EMNIST / "partial" / f"emnist-balanced-{split}-images-idx3-ubyte.slice-{span}.gz"))
        extra_y.append(read_idx(EMNIST / "partial" / f"emnist-balanced-{split}-labels-idx1-ubyte.slice-{span}.gz"))
    train_x = np.concatenate([x[:-HELD_OUT], *extra_x])
    train_y = np.concatenate([y[:-HELD_OUT], *extra_y])
    return train_x, train_y, x[-HELD_OUT:], y[-HELD_OUT:]


def build(seed: int):  # type: ignore[no-untyped-def]
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for filters, stride in ((64, 1), (64, 2), (128, 1), (128, 2), (192, 1)):
        x = layers.SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="sepcnn_transfer")
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def export_tflite(keras_file: Path, split: Path | None) -> Path:
    """The saved network as a float32 LiteRT model (`drcaptcha simulate --bot-model` reads it), next to it; its
    held-out accuracy in inference mode (moving BatchNorm statistics) is printed, to show it reads as trained."""
    import keras

    from drcaptcha.ensembles import LiteModel
    from drcaptcha_train.export import tflite_model

    content = tflite_model(keras.models.load_model(keras_file))
    target = keras_file.with_suffix(".tflite")
    target.write_bytes(content)
    if split is not None:
        with np.load(split) as data:
            held_x, held_y = data["x_test"], data["y_test"]
        accuracy = float((LiteModel(content).predict(held_x).argmax(axis=1) == held_y).mean())
        print(f"{target}: LiteRT held-out accuracy {accuracy:.4f}")
    return target


def main(argv: list[str] | None = None) -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--split", type=Path, default=None, help="train on this split's training part (an .npz)")
    parser.add_argument("--epochs", type=int, default=20, help="at most this many epochs (the budget may stop it)")
    parser.add_argument("--export-only", action="store_true", help="only write the saved network's .tflite")
    args = parser.parse_args(argv)
    if args.export_only:
        export_tflite(OUT_DIR / "transfer.keras", args.split)
        return
    if args.split is None:
        train_x, train_y, held_x, held_y = public_images()
        trained_on = f"bymerge test images but the last {HELD_OUT}, balanced train and test slices"
        held_out = f"the last {HELD_OUT} images of emnist-bymerge-test"
    else:
        with np.load(args.split) as split:
            train_x, train_y, held_x, held_y = (split[name] for name in ("x_train", "y_train", "x_test", "y_test"))
        trained_on = f"the training part of {args.split.name} ({len(train_y):,} images: the glyphs the service scores)"
        held_out = f"the test part of {args.split.name} ({len(held_y):,} images)"
    model = build(args.seed)
    started = time.monotonic()

    class Budget(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            if time.monotonic() - started > args.seconds:
                self.model.stop_training = True

    model.fit(train_x[..., None], train_y, batch_size=256, epochs=args.epochs, callbacks=[Budget()], verbose=2)
    # Batch statistics: after one epoch the BatchNorm moving averages read 0.99% here (one class for everything).
    predicted = np.concatenate(
        [
            model(held_x[start : start + 1000, ..., None].astype("float32"), training=True).numpy().argmax(axis=1)
            for start in range(0, len(held_x), 1000)
        ]
    )
    counts = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(counts, (held_y.astype(np.int64), predicted), 1)
    accuracy = float(np.trace(counts) / counts.sum())
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    model.save(OUT_DIR / "transfer.keras")
    CONFUSION_FILE.write_text(
        json.dumps(
            {
                "network": f"sepcnn_transfer (depthwise-separable CNN, seed {args.seed})",
                "trained_on": trained_on,
                "held_out": held_out,
                "train_seconds": round(time.monotonic() - started),
                "accuracy": round(accuracy, 4),
                "read_with": "batch statistics (training=True, batches of 1000 held-out glyphs)",
                "counts": counts.tolist(),
            }
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"held-out accuracy {accuracy:.4f}")
    export_tflite(OUT_DIR / "transfer.keras", args.split)


if __name__ == "__main__":
    main()
