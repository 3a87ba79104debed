"""Benchmark: training throughput of every network on this machine's CPU, and LiteRT inference of each export.

    .venv/bin/python -m bench.bench_training [--images N] [--networks resnet cnn2 ...] [--emnist PATH]
    .venv/bin/python -m bench.bench_training --write-npz .gpu/split.npz      # the split for bench/gpu_train.py

The data is the balanced-equivalent split exactly as `drcaptcha import-emnist` builds it (the importer's own
functions, seed 0). Each network trains one warm-up epoch (it pays for tracing) and one timed epoch on the
same N images; the timed one gives images/s, and a full epoch of the 197,368 training images is estimated from
it. Full training runs on a GPU: bench/gpu_train.py. Results go in docs/BENCHMARKS.md, section "Training".
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import Cell, Table, record, this_command
from drcaptcha_ops.emnist import load_emnist

DEFAULT_EMNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"


def load_split(emnist: Path) -> dict[str, np.ndarray]:
    split = load_emnist(emnist, seed=0)
    return {
        "x_train": split.train.images,
        "y_train": split.train.labels.astype(np.int64),
        "x_test": split.test.images,
        "y_test": split.test.labels.astype(np.int64),
    }


def bench_network(name: str, data: dict[str, np.ndarray], images: int, batch_size: int) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter  # noqa: F401 - loaded before timing

    from drcaptcha.ensembles import LiteModel
    from drcaptcha_train.export import tflite_model
    from drcaptcha_train.networks import build_network
    from drcaptcha_train.train import fit_network

    x, y = data["x_train"][:images], data["y_train"][:images]
    model = build_network(name, math.ceil(images / batch_size), 2)
    fit = fit_network(model, x, y, epochs=2, batch_size=batch_size, verbose=0)
    lite = LiteModel(tflite_model(model))
    test = data["x_test"][:2000]
    lite.predict(test[:256])
    started = time.perf_counter()
    lite.predict(test)
    lite_ms = 1000 * (time.perf_counter() - started) / len(test)
    per_second = images / fit.epoch_seconds[-1]
    return {
        "network": name,
        "parameters": model.count_params(),
        "train_images_per_s": round(per_second, 1),
        "full_epoch_minutes": round(len(data["y_train"]) / per_second / 60, 1),
        "litert_ms_per_image": round(lite_ms, 3),
    }


ROW_KEYS = ("network", "parameters", "train_images_per_s", "full_epoch_minutes", "litert_ms_per_image")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--emnist", type=Path, default=DEFAULT_EMNIST)
    parser.add_argument("--images", type=int, default=1024, help="images in each of the two epochs")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--networks", nargs="*", default=["nn", "dnn", "cnn1", "cnn2", "resnet", "vgg"])
    parser.add_argument("--write-npz", type=Path, help="write the split as a compressed .npz and stop")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    data = load_split(args.emnist)
    if args.write_npz:
        args.write_npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            args.write_npz,
            x_train=data["x_train"],
            y_train=data["y_train"],
            x_test=data["x_test"],
            y_test=data["y_test"],
        )
        print(f"wrote {args.write_npz}: train {len(data['y_train'])}, test {len(data['y_test'])}")
        return
    print(f"CPU: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| network | parameters | train images/s | one full epoch (min) | LiteRT ms/image |")
    print("| --- | --- | --- | --- | --- |")
    rows: list[list[Cell]] = []
    for name in args.networks:
        row = bench_network(name, data, args.images, args.batch_size)
        print(
            f"| {row['network']} | {row['parameters']:,} | {row['train_images_per_s']} | "
            f"{row['full_epoch_minutes']} | {row['litert_ms_per_image']} |",
            flush=True,
        )
        rows.append([row[key] for key in ROW_KEYS])
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    record(
        "training",
        command=this_command("bench.bench_training", argv),
        title="Training throughput of every network on this machine, and LiteRT inference of each export",
        tables=[
            Table(
                caption=f"one warm-up and one timed epoch of {args.images:,} images, batch {args.batch_size}",
                columns=["network", "parameters", "train images/s", "one full epoch (min)", "LiteRT ms/image"],
                rows=rows,
            )
        ],
        notes=["a full epoch is the 197,368 training images, extrapolated from the timed epoch"],
    )


if __name__ == "__main__":
    main()
