"""Benchmark: the fully trained networks and their ensembles on the balanced-equivalent test split, with LiteRT.

    .venv/bin/python -m bench.bench_ensemble [--models .drcaptcha/trained] [--data .gpu/split.npz] [--export DIR]

The models folder holds `<network>.keras` files and the `results*.json` of the runs that trained them, as
bench/gpu_train.py writes them (`--save-originals` keeps the original four too); a full CPU run:

    KERAS_BACKEND=tensorflow PYTHONPATH=training_job:layers/drcaptcha/python .venv/bin/python bench/gpu_train.py \
        --data .gpu/split.npz --out .drcaptcha/trained --modern vgg --modern-epochs 15 --original-epochs 2 \
        --save-originals --batch-size 256 --budget 100000
 For each network: the float32 `.tflite` export and the int8 one (calibrated on 200 training images),
their test accuracy with LiteRT, their top-1 agreement with Keras, and LiteRT's time per image. Then every
ensemble of two or more networks with equal weights, and the whole set with weights fitted by
`drcaptcha_train.ensemble_fit.fit_weights` (the job's `--ensemble auto`).

The networks were trained on the whole training split, so no validation split is left to fit weights on; fitting
them on the test split would grade the ensemble on its own answers. The fitted figure is therefore cross-fitted:
weights fitted on one half of the test split are scored on the other half, and the two halves' scores are
averaged. The equal-weight figures need no fitting. `--export` writes each network as a cached network
(`item.json` + `files/`, the demo's cache format) that `drcaptcha simulate --network-dir` and the demo register.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.results import Cell

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAINED = REPO_ROOT / ".drcaptcha" / "trained"
TRAINED_EXPORT = TRAINED / "export"  # what --export is given by convention; other benches read it
ANCHOR = 0.91  # the published state of the art on EMNIST Balanced, about 91%


def load_test_split(path: Path) -> dict[str, NDArray[Any]]:
    with np.load(path) as stored:
        return {
            "x_train": stored["x_train"][:2000],
            "x_test": stored["x_test"],
            "y_test": stored["y_test"].astype(np.int64),
        }


def accuracy(probabilities: NDArray[np.float32], labels: NDArray[np.int64]) -> float:
    return float((probabilities.argmax(axis=1) == labels).mean())


def evaluate_network(
    path: Path, data: dict[str, NDArray[Any]]
) -> tuple[dict[str, Any], dict[str, bytes], NDArray[np.float32]]:
    import keras

    import drcaptcha_train.networks  # noqa: F401 - registers RandomAffine, which the modern networks hold
    from drcaptcha.ensembles import LiteModel
    from drcaptcha_train import export
    from drcaptcha_train.train import predict

    model = keras.saving.load_model(path, compile=False)
    keras_probabilities = predict(model, data["x_test"])
    tflite = export.tflite_model(model)
    lite = LiteModel(tflite)
    lite.predict(data["x_test"][:256])
    started = time.perf_counter()
    lite_probabilities = lite.predict(data["x_test"])
    lite_ms = 1000 * (time.perf_counter() - started) / len(data["y_test"])
    int8 = export.int8_tflite_model(model, data["x_train"])
    int8_probabilities = LiteModel(int8).predict(data["x_test"])
    keras_accuracy = accuracy(keras_probabilities, data["y_test"])
    int8_accuracy = accuracy(int8_probabilities, data["y_test"])
    row: dict[str, Any] = {
        "network": path.stem,
        "parameters": int(model.count_params()),
        "keras_accuracy": keras_accuracy,
        "litert_accuracy": accuracy(lite_probabilities, data["y_test"]),
        "litert_agreement": export.top1_agreement(keras_probabilities, lite_probabilities),
        "int8_accuracy": int8_accuracy,
        "litert_ms_per_image": round(lite_ms, 4),
        "tflite_mb": round(len(tflite) / 1e6, 2),
        "int8_mb": round(len(int8) / 1e6, 2),
    }
    row["int8_kept"] = keras_accuracy - int8_accuracy <= export.INT8_MAX_ACCURACY_DROP
    files = {"model.tflite": tflite}
    if row["int8_kept"]:
        files["model.int8.tflite"] = int8
    return row, files, lite_probabilities


def ensemble_rows(probabilities: dict[str, NDArray[np.float32]], labels: NDArray[np.int64]) -> list[dict[str, Any]]:
    """Every subset of two or more members with equal weights, best first."""
    from drcaptcha.ensembles import normalise_weights, weighted_probabilities

    rows = []
    names = sorted(probabilities)
    for size in range(2, len(names) + 1):
        for members in itertools.combinations(names, size):
            weights = normalise_weights([1.0] * size)
            combined = weighted_probabilities([probabilities[name] for name in members], weights)
            rows.append({"members": "+".join(members), "weights": "equal", "accuracy": accuracy(combined, labels)})
    return sorted(rows, key=lambda row: row["accuracy"], reverse=True)


def cross_fitted(
    probabilities: dict[str, NDArray[np.float32]], labels: NDArray[np.int64], seed: int = 0
) -> dict[str, Any]:
    """Weights fitted on one half of the test split, scored on the other, both ways round."""
    from drcaptcha.ensembles import weighted_probabilities
    from drcaptcha_train.ensemble_fit import fit_weights

    names = sorted(probabilities)
    order = np.random.default_rng(seed).permutation(len(labels))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    scores, fitted = [], []
    for fit_on, score_on in (halves, halves[::-1]):
        weights = fit_weights([probabilities[name][fit_on] for name in names], labels[fit_on])
        combined = weighted_probabilities([probabilities[name][score_on] for name in names], weights)
        scores.append(accuracy(combined, labels[score_on]))
        fitted.append({name: round(weight, 3) for name, weight in zip(names, weights, strict=True)})
    return {"members": "+".join(names), "weights": fitted, "accuracy": float(np.mean(scores))}


def export_cached_network(folder: Path, row: dict[str, Any], files: dict[str, bytes], trained: dict[str, Any]) -> None:
    """The demo's cache format (drcaptcha_ops.demo.restore_cached_network registers it in a stack)."""
    from drcaptcha_ops.demo import write_cached_network

    network_id = f"{row['network']}-full"
    metrics = {
        "accuracy": row["keras_accuracy"],
        "loss": trained.get("test_loss", 0.0),
        "litert_agreement": row["litert_agreement"],
        "litert_accuracy": row["litert_accuracy"],
        "int8_accuracy": row["int8_accuracy"],
        "epochs": trained.get("epochs", 0),
        "batch_size": trained.get("batch_size", 0),
        "train_size": trained.get("train_size", 0),
        "test_size": trained.get("test_size", 0),
        "images_per_second": trained.get("train_images_per_s", 0.0),
        "wall_seconds": trained.get("wall_s", 0.0),
        "device": trained.get("device", "unknown"),
        "created_at": time.time(),
    }
    exported = {**files, "metrics.json": json.dumps({**metrics, **row}, indent=2).encode()}
    write_cached_network(folder / row["network"], network_id, row["network"], metrics, exported)


def commit_networks(folder: Path, exported: Path, fitted: dict[str, Any]) -> None:
    """The networks to commit with the code (issue 15, item 4): each one's serving model alone (int8 where kept)
    with its item.json and metrics.json, from the `--export` folder, and ensemble.json with the cross-fitted
    weights (the mean of the two halves' fits; equal for one network)."""
    from drcaptcha.ensembles import FLOAT_MODEL, INT8_MODEL

    names = fitted["members"].split("+")
    halves = fitted["weights"]
    weights = {name: round(float(np.mean([half[name] for half in halves])), 3) for name in names}
    members = {name: weight for name, weight in weights.items() if weight > 0}
    for name in members:
        source, target = exported / name, folder / name
        (target / "files").mkdir(parents=True, exist_ok=True)
        (target / "item.json").write_bytes((source / "item.json").read_bytes())
        model = INT8_MODEL if (source / "files" / INT8_MODEL).is_file() else FLOAT_MODEL
        for file_name in (model, "metrics.json"):
            (target / "files" / file_name).write_bytes((source / "files" / file_name).read_bytes())
    index = {"members": members, "cross_fitted_accuracy": round(fitted["accuracy"], 5), "fitted": halves}
    (folder / "ensemble.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--models", type=Path, default=TRAINED, help="folder of <network>.keras files")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / ".gpu" / "split.npz")
    parser.add_argument("--export", type=Path, default=None, help="write each network in the demo's cache format")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument(
        "--commit", type=Path, default=None, help="with --export: write the serving models to commit (networks/)"
    )
    args = parser.parse_args(argv)
    paths = sorted(args.models.glob("*.keras"))
    if not paths:
        print(f"bench_ensemble: no .keras files in {args.models}: train them first (see --help)", file=sys.stderr)
        return 2
    if not args.data.is_file():
        print(f"bench_ensemble: no split at {args.data}: python -m bench.bench_training --write-npz", file=sys.stderr)
        return 2
    data = load_test_split(args.data)
    trained = training_runs(args.models)

    networks, probabilities = [], {}
    for path in paths:
        row, files, probabilities[path.stem] = evaluate_network(path, data)
        networks.append(row)
        print(json.dumps(row), flush=True)
        if args.export:
            export_cached_network(args.export, row, files, trained.get(row["network"], {}))
    ensembles = ensemble_rows(probabilities, data["y_test"])
    fitted = cross_fitted(probabilities, data["y_test"])
    best_single = max(row["litert_accuracy"] for row in networks)
    print(f"\ntest split: {len(data['y_test'])} images; anchor (EMNIST Balanced state of the art) {ANCHOR:.0%}")
    print(f"{'network':>8}  {'LiteRT acc':>10}  {'int8 acc':>8}  {'agree':>7}  {'ms/img':>7}  params")
    for row in networks:
        print(
            f"{row['network']:>8}  {row['litert_accuracy']:>10.2%}  {row['int8_accuracy']:>8.2%}  "
            f"{row['litert_agreement']:>7.2%}  {row['litert_ms_per_image']:>7.3f}  {row['parameters']:,}"
        )
    print("\nensembles, equal weights (best first):")
    for row in ensembles:
        gain = row["accuracy"] - best_single
        print(f"  {row['members']:<28} {row['accuracy']:.2%}  ({gain * 100:+.2f} points on the best single network)")
    print(f"\nall members, weights cross-fitted on test halves: {fitted['accuracy']:.2%}, weights {fitted['weights']}")
    if args.commit and args.export:
        commit_networks(args.commit, args.export, fitted)
    if args.out:
        result = {"networks": networks, "ensembles": ensembles, "cross_fitted": fitted, "anchor": ANCHOR}
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    record_results(argv, networks, trained, ensembles, fitted, len(data["y_test"]))
    return 0


def training_runs(folder: Path) -> dict[str, dict[str, Any]]:
    """network -> its row in the gpu_train runs' results*.json (epochs, images/s, wall time), with the device."""
    trained: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("results*.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        for row in summary["results"]:
            trained[row["network"]] = {**row, "device": summary.get("device")}
    return trained


def record_results(
    argv: list[str],
    networks: list[dict[str, Any]],
    trained: dict[str, dict[str, Any]],
    ensembles: list[dict[str, Any]],
    fitted: dict[str, Any],
    test_size: int,
) -> None:
    from bench.results import Table, record, this_command

    anchor_row: list[Cell] = ["EMNIST Balanced state of the art (anchor)", None, None, None, f"≈ {ANCHOR:.0%}"]
    anchor_row += [None] * 5
    network_rows: list[list[Cell]] = [anchor_row]
    for row in sorted(networks, key=lambda row: row["litert_accuracy"], reverse=True):
        run = trained.get(row["network"], {})
        network_rows.append(
            [
                row["network"],
                run.get("epochs"),
                run.get("train_images_per_s"),
                None if run.get("wall_s") is None else round(run["wall_s"] / 60, 1),
                f"{row['keras_accuracy']:.2%}",
                f"{row['litert_accuracy']:.2%}",
                f"{row['int8_accuracy']:.2%}" + ("" if row["int8_kept"] else " (not kept)"),
                f"{row['litert_agreement']:.2%}",
                row["litert_ms_per_image"],
                row["parameters"],
            ]
        )
    best_single = max(row["litert_accuracy"] for row in networks)
    ensemble_rows: list[list[Cell]] = [
        [row["members"], "equal", f"{row['accuracy']:.2%}", f"{(row['accuracy'] - best_single) * 100:+.2f}"]
        for row in ensembles[:8]
    ]
    ensemble_rows.append(
        [
            fitted["members"],
            "cross-fitted on test halves",
            f"{fitted['accuracy']:.2%}",
            f"{(fitted['accuracy'] - best_single) * 100:+.2f}",
        ]
    )
    devices = sorted({str(run.get("device")) for run in trained.values()})
    record(
        "ensemble",
        command=this_command("bench.bench_ensemble", argv),
        title="Fully trained networks and their ensembles on the balanced-equivalent test split",
        tables=[
            Table(
                caption=f"each network ({test_size:,} test images; trained on {', '.join(devices) or 'unknown'})",
                columns=[
                    "network",
                    "epochs",
                    "train images/s",
                    "wall time (min)",
                    "Keras accuracy",
                    "LiteRT accuracy",
                    "int8 accuracy",
                    "LiteRT = Keras top-1",
                    "LiteRT ms/image (batch 256)",
                    "parameters",
                ],
                rows=network_rows,
            ),
            Table(
                caption="ensembles (the best eight with equal weights, and all members with fitted weights)",
                columns=["members", "weights", "accuracy", "points on the best single network"],
                rows=ensemble_rows,
            ),
        ],
        notes=[
            f"goal (issue 6): an ensemble at ≥ {ANCHOR:.0%}, above every single network",
            "fitted weights: fitted on one half of the test split, scored on the other, both ways, averaged",
        ],
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
