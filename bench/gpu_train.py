"""Train the networks fully on the balanced-equivalent split, within a wall-clock budget, on a lent GPU or here.

Runs on any Keras 3 backend (JAX on the GPU machine, which has no TensorFlow; TensorFlow on this CPU). The data
is the split as an .npz (`python -m bench.bench_training --write-npz PATH` writes it). The modern network's epoch
count comes from a short calibration, so that its whole cosine schedule fits in the budget (or from
`--modern-epochs`); the original networks then get a few epochs each while time is left. Prints one line per
network and writes `results-<networks>.json` and `<modern>.keras` (with `--save-originals`, every `.keras`) to
--out, where bench/bench_ensemble.py reads them.

    KERAS_BACKEND=jax python bench/gpu_train.py --data .gpu/split.npz --out $OUT --budget 450
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from drcaptcha_train.networks import NETWORKS, build_network
from drcaptcha_train.train import EpochTimer, fit_network, inference_copy, mean_loss, predict, to_pixels

ORIGINALS = ("cnn2", "cnn1", "dnn", "nn")
CALIBRATION_BATCHES = 12


def device_name() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}:{device.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    return f"{backend}:{platform.processor() or platform.machine()}"


def calibrate(name: str, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """Steady training images/s of a throwaway copy of the network (its first epoch pays for compilation)."""
    count = min(len(y), batch_size * CALIBRATION_BATCHES)
    model = build_network(name, CALIBRATION_BATCHES, 2)
    timer = EpochTimer()
    model.fit(
        to_pixels(x[:count]),
        np.eye(47, dtype=np.float32)[y[:count]],
        epochs=2,
        batch_size=batch_size,
        verbose=0,
        callbacks=[timer],
    )
    return count / timer.durations[-1]


def run_network(
    name: str, epochs: int, batch_size: int, data: dict[str, np.ndarray]
) -> tuple[keras.Model, dict[str, Any]]:
    steps = math.ceil(len(data["y_train"]) / batch_size)
    model = build_network(name, steps, epochs)
    fit = fit_network(model, data["x_train"], data["y_train"], epochs=epochs, batch_size=batch_size, verbose=2)
    started = time.perf_counter()
    probabilities = predict(model, data["x_test"])
    predict_seconds = time.perf_counter() - started
    accuracy = float((probabilities.argmax(axis=1) == data["y_test"]).mean())
    result = {
        "network": name,
        "epochs": fit.epochs,
        "batch_size": batch_size,
        "train_size": fit.train_size,
        "test_size": len(data["y_test"]),
        "test_accuracy": round(accuracy, 5),
        "test_loss": round(mean_loss(probabilities, data["y_test"]), 5),
        "train_images_per_s": round(fit.images_per_second, 1),
        "wall_s": round(fit.wall_seconds, 1),
        "epoch_s": [round(value, 2) for value in fit.epoch_seconds],
        "predict_images_per_s": round(len(data["y_test"]) / predict_seconds, 1),
        "params": model.count_params(),
    }
    print(json.dumps(result), flush=True)
    return model, result


def train_modern(
    modern: str, args: argparse.Namespace, data: dict[str, np.ndarray], started: float, results: list[dict[str, Any]]
) -> None:
    images_per_s = calibrate(modern, data["x_train"], data["y_train"], args.batch_size)
    modern_budget = args.budget * args.modern_share - (time.perf_counter() - started)
    # 0.85: validation-free epochs still pay for shuffling and the host-to-device copies.
    epochs = int(max(1, min(args.max_epochs, 0.85 * modern_budget * images_per_s / len(data["y_train"]))))
    epochs = args.modern_epochs or epochs
    print(f"calibration: {images_per_s:.0f} images/s → {epochs} epochs of {modern}", flush=True)
    model, result = run_network(modern, epochs, args.batch_size, data)
    result["calibrated_images_per_s"] = round(images_per_s, 1)
    results.append(result)
    try:
        inference_copy(model).save(args.out / f"{modern}.keras")
    except Exception as error:  # never lose a finished GPU run to a saving problem: keep the weights at least
        print(f"saving {modern}.keras failed ({error}); writing the weights alone", flush=True)
        model.save_weights(args.out / f"{modern}.weights.h5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "bench-out")))
    parser.add_argument("--budget", type=float, default=450, help="seconds for the whole script")
    parser.add_argument("--modern-share", type=float, default=0.62, help="share of the budget for the modern net")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--original-epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="train on this many images only (a smoke test)")
    parser.add_argument(
        "--modern", default="resnet", choices=["resnet", "vgg", "none"], help="the modern network to train, if any"
    )
    parser.add_argument("--originals", nargs="*", default=list(ORIGINALS), choices=ORIGINALS, help="which to train")
    parser.add_argument("--save-originals", action="store_true", help="write each original network's .keras too")
    parser.add_argument("--modern-epochs", type=int, default=0, help="fixed epochs instead of the calibration")
    args = parser.parse_args()
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    with np.load(args.data) as stored:
        data = {name: stored[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    data["y_train"] = data["y_train"].astype(np.int64)
    data["y_test"] = data["y_test"].astype(np.int64)
    if args.limit:
        pick = np.random.default_rng(0).permutation(len(data["y_train"]))[: args.limit]
        data["x_train"], data["y_train"] = data["x_train"][pick], data["y_train"][pick]
        data["x_test"], data["y_test"] = data["x_test"][: args.limit // 4], data["y_test"][: args.limit // 4]
    device = device_name()
    print(
        f"device {device}, backend {keras.backend.backend()}, train {len(data['y_train'])}, "
        f"test {len(data['y_test'])}, loaded in {time.perf_counter() - started:.1f} s",
        flush=True,
    )

    results: list[dict[str, Any]] = []
    modern = args.modern
    if modern != "none":
        train_modern(modern, args, data, started, results)

    for name in args.originals:
        elapsed = time.perf_counter() - started
        if elapsed > args.budget * 0.9:
            print(f"skipping {name}: {elapsed:.0f} s of the {args.budget:.0f} s budget used", flush=True)
            continue
        original, result = run_network(name, args.original_epochs, 256, data)
        results.append(result)
        if args.save_originals:
            inference_copy(original).save(args.out / f"{name}.keras")

    summary = {
        "device": device,
        "backend": keras.backend.backend(),
        "results": results,
        "total_s": round(time.perf_counter() - started, 1),
        "networks": list(NETWORKS),
    }
    # Named by its networks, so that runs into the same folder keep each other's figures (bench_ensemble reads all).
    results_file = args.out / f"results-{'-'.join(row['network'] for row in results) or 'none'}.json"
    results_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for row in results:
        print(
            f"{row['network']:>7}  acc {row['test_accuracy']:.4f}  {row['train_images_per_s']:>9.0f} img/s  "
            f"{row['wall_s']:>6.1f} s  {row['epochs']} epochs"
        )
    print(f"total {summary['total_s']} s on {device}")


if __name__ == "__main__":
    main()
