"""bench_ensemble's arithmetic on synthetic predictions: equal-weight subsets, cross-fitted weights, the record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.bench_ensemble import cross_fitted, ensemble_rows, record_results, training_runs


def one_hot(labels: np.ndarray, classes: int = 47) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def test_two_networks_that_err_on_different_images_make_an_ensemble_better_than_either() -> None:
    # Given 100 images, network a right on the first 70 (and unsure elsewhere), b right on the last 70
    labels = np.arange(100) % 47
    wrong = (labels + 1) % 47
    a = np.where(np.arange(100)[:, None] < 70, one_hot(labels), 0.4 * one_hot(wrong) + 0.3 * one_hot(labels))
    b = np.where(np.arange(100)[:, None] >= 30, one_hot(labels), 0.4 * one_hot(wrong) + 0.3 * one_hot(labels))
    c = np.full((100, 47), 1 / 47, dtype=np.float32)

    # When every subset of two or more is scored with equal weights
    rows = ensemble_rows({"a": a.astype(np.float32), "b": b.astype(np.float32), "c": c}, labels)

    # Then a+b is right everywhere and comes first; all four subsets are there, best first
    assert rows[0] == {"members": "a+b", "weights": "equal", "accuracy": 1.0}
    assert {row["members"] for row in rows} == {"a+b", "a+c", "b+c", "a+b+c"}
    assert [row["accuracy"] for row in rows] == sorted((row["accuracy"] for row in rows), reverse=True)


def test_cross_fitted_weights_are_fitted_on_one_half_and_scored_on_the_other() -> None:
    # Given a perfect network and a useless one
    labels = np.arange(200) % 47
    probabilities = {"good": one_hot(labels), "noise": np.random.default_rng(0).random((200, 47)).astype(np.float32)}

    # When weights are cross-fitted
    fitted = cross_fitted(probabilities, labels)

    # Then both halves' fits keep the good network, and the held-out score is perfect
    assert fitted["accuracy"] == pytest.approx(1.0)
    assert len(fitted["weights"]) == 2 and all(weights["good"] > 0 for weights in fitted["weights"])


def test_the_record_joins_each_networks_training_run_and_ranks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two training runs' results files and the evaluation of two networks
    runs = tmp_path / "models"
    runs.mkdir()
    for name, row in (("results.json", {"network": "vgg", "epochs": 15, "wall_s": 600.0}),):
        (runs / name).write_text(json.dumps({"device": "cpu", "results": [row]}), encoding="utf-8")
    (runs / "results-originals.json").write_text(
        json.dumps({"device": "cpu", "results": [{"network": "cnn2", "epochs": 2, "wall_s": 120.0}]}), encoding="utf-8"
    )
    evaluated = {"keras_accuracy": 0.9, "litert_accuracy": 0.9, "int8_accuracy": 0.85, "int8_kept": False}
    networks = [
        {
            **evaluated,
            "network": "cnn2",
            "litert_accuracy": 0.85,
            "litert_agreement": 1.0,
            "litert_ms_per_image": 0.2,
            "parameters": 10,
        },
        {**evaluated, "network": "vgg", "litert_agreement": 1.0, "litert_ms_per_image": 0.4, "parameters": 20},
    ]
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))

    # When the results are recorded
    trained = training_runs(runs)
    record_results(
        [],
        networks,
        trained,
        [{"members": "cnn2+vgg", "accuracy": 0.91}],
        {"members": "cnn2+vgg", "accuracy": 0.905},
        100,
    )

    # Then the network table starts with the anchor, ranks vgg above cnn2 with its epochs and minutes
    saved = json.loads((tmp_path / "results" / "ensemble.json").read_text(encoding="utf-8"))
    rows = saved["tables"][0]["rows"]
    assert rows[0][0].startswith("EMNIST Balanced") and [row[0] for row in rows[1:]] == ["vgg", "cnn2"]
    assert rows[1][1:4] == [15, None, 10.0] and rows[2][3] == 2.0
    assert "(not kept)" in rows[1][6]
    # And the ensembles table gives each ensemble's gain on the best single network, in points
    assert saved["tables"][1]["rows"][0][-1] == "+1.00"
