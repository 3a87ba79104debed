"""The training job against the emulator: every network trains, exports, reports and registers; the crowd's
labels are used and truth/ is never read; `--ensemble auto` proposes a valid draft.

Runs are tiny (one epoch on about 2,000 real EMNIST glyphs), so accuracy is not asserted, only what the job
must get right at any accuracy: artifacts, LiteRT agreement, registration, which labels it trains on.
"""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import ANY

import numpy as np
import pytest
from botocore.stub import Stubber

from drcaptcha import aws, warm
from drcaptcha.config import get_settings
from drcaptcha.ensembles import parse_manifest, sha256_hex
from drcaptcha.models.tables.ensembles import EnsembleItem, NetworkItem
from drcaptcha_ops.cli import main as drcaptcha
from drcaptcha_ops.emulator import Emulator
from drcaptcha_train.__main__ import main as train_main
from drcaptcha_train.data import load_training_data
from drcaptcha_train.job import TrainingOptions, run_training
from drcaptcha_train.options import NETWORK_NAMES
from tests.fixtures.glyph_data import crowd_label, seed_glyph_store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVERY_ARTIFACT = {"model.keras", "model.tflite", "metrics.json", "curves.png", "confusion.png", "architecture.png"}

pytestmark = pytest.mark.usefixtures("emnist_dir")


def stored_keys(prefix: str) -> set[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=_bucket(), Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


def _bucket() -> str:
    return get_settings().bucket_name


@pytest.mark.slow
@pytest.mark.parametrize("network", NETWORK_NAMES)
def test_a_one_epoch_run_of_each_network_writes_every_artifact_and_registers_it(
    emulator: Emulator, network: str
) -> None:
    # Given 2,000 training and 400 test glyphs in the store
    seeded = seed_glyph_store(train=2000, test=400)

    # When one epoch of the network is trained
    result = run_training(TrainingOptions(network, epochs=1, network_id=f"tiny-{network}", verbose=0))

    # Then every artifact is in networks/<id>/, the plots are PNGs, and the metrics say what was trained
    keys = stored_keys(f"networks/tiny-{network}/")
    assert {key.rsplit("/", 1)[1] for key in keys} >= EVERY_ARTIFACT
    for name in ("curves.png", "confusion.png", "architecture.png"):
        assert seeded.store.get_bytes(f"networks/tiny-{network}/{name}").startswith(PNG_MAGIC)
    metrics = json.loads(seeded.store.get_bytes(f"networks/tiny-{network}/metrics.json"))
    assert metrics["epochs"] == 1
    assert metrics["batch_size"] == 256
    assert metrics["train_size"] + metrics["validation_size"] == 2000
    assert metrics["test_size"] == 400
    assert len(metrics["per_class_accuracy"]) == 47
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["images_per_second"] > 0
    # And the LiteRT export picks the same class as Keras on at least 99% of the test glyphs
    assert metrics["litert_agreement"] >= 0.99
    # And the network is registered with the same figures and artifact keys
    item = NetworkItem.get(f"tiny-{network}")
    assert item.name == network
    assert item.accuracy == pytest.approx(metrics["accuracy"])
    assert item.artifacts["model.tflite"] == f"networks/tiny-{network}/model.tflite"
    assert set(item.artifact_keys().values()) == keys
    assert result.ensemble_key is None


@pytest.mark.slow
def test_training_uses_the_crowds_labels_and_never_reads_truth(emulator: Emulator) -> None:
    # Given 300 training glyphs without labels (truth/ holds them), 120 of them labelled by the crowd with a
    # label that differs from the truth, so that the labels trained on tell which source they came from
    seeded = seed_glyph_store(train=2000, test=400, unlabelled=300)
    crowd = {ref: (int(seeded.train_truth[ref.shard * 1000 + ref.offset]) + 1) % 47 for ref in seeded.unlabelled[:120]}
    crowd_label(crowd)
    requested: list[str] = []

    def record_key(params: dict[str, Any], **_: Any) -> None:
        requested.append(params["Key"])

    aws.client("s3").meta.events.register("before-parameter-build.s3.GetObject", record_key)
    try:
        # When the data is loaded and a network is trained on it
        data = load_training_data(seeded.store)
        result = run_training(TrainingOptions("cnn2", epochs=1, network_id="crowd", verbose=0), seeded.store)
    finally:
        aws.client("s3").meta.events.unregister("before-parameter-build.s3.GetObject", record_key)

    # Then the 120 crowd labels are used, the 180 still unlabelled glyphs are not, and truth/ was never read
    assert data.crowd_labelled == 120
    assert len(data.train) + len(data.validation) == 2000 - 300 + 120
    trained_on = np.concatenate([data.train.images, data.validation.images])
    trained_labels = np.concatenate([data.train.labels, data.validation.labels])
    images = np.concatenate([seeded.store.images("train", 0), seeded.store.images("train", 1)])
    for ref, label in list(crowd.items())[:20]:
        image = images[ref.shard * 1000 + ref.offset]
        matches = np.flatnonzero((trained_on == image).all(axis=(1, 2)))
        assert label in trained_labels[matches].tolist()
    assert requested, "the S3 hook saw no reads"
    assert not [key for key in requested if key.startswith("truth/")]
    assert result.metrics["crowd_labelled"] == 120
    assert result.metrics["unlabelled"] == 180


@pytest.mark.slow
def test_ensemble_auto_writes_a_draft_manifest_with_fitted_weights_and_digests(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a store with data and one network registered by the container's entry point
    seeded = seed_glyph_store(train=2000, test=400)
    assert train_main(["--network", "cnn2", "--epochs", "1", "--network-id", "first"]) == 0
    assert "trained first" in capsys.readouterr().out

    # When a second network is trained with --ensemble auto
    result = run_training(TrainingOptions("nn", epochs=1, network_id="second", ensemble="auto", verbose=0))

    # Then a valid draft manifest names registered networks, weights summing to 1 and the models' digests
    assert result.ensemble_key is not None
    manifest = parse_manifest(seeded.store.get_bytes(result.ensemble_key))
    assert manifest.status == "draft"
    assert {member.network_id for member in manifest.members} <= {"first", "second"}
    assert sum(manifest.weights) == pytest.approx(1.0)
    for member in manifest.members:
        assert member.sha256 == sha256_hex(seeded.store.get_bytes(member.model_key))
    assert manifest.accuracy is not None and manifest.test_size == 400
    assert EnsembleItem.get(manifest.ensemble_id).manifest_key == result.ensemble_key


def test_an_unknown_network_is_refused_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        drcaptcha(["train", "--network", "alexnet"])

    assert exit_info.value.code == 2
    assert "invalid choice: 'alexnet'" in capsys.readouterr().err


def test_training_without_imported_glyphs_is_a_clear_cli_error(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status = drcaptcha(["train", "--network", "cnn2", "--epochs", "1"])

    assert status == 2
    assert "not-imported" in capsys.readouterr().err


def test_training_with_every_label_removed_is_a_clear_cli_error(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_glyph_store(train=300, test=50, unlabelled=300)

    status = drcaptcha(["train", "--network", "cnn2", "--epochs", "1"])

    assert status == 2
    assert "no-labelled-data" in capsys.readouterr().err


def test_an_unreachable_store_is_a_clear_cli_error(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    warm.reset()

    status = drcaptcha(["train", "--network", "cnn2", "--epochs", "1"])

    assert status == 2
    assert "cannot reach" in capsys.readouterr().err


def test_the_batch_runner_submits_the_job_with_the_same_arguments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS Batch cannot run here: botocore's Stubber stands in for it and checks the SubmitJob request."""
    # Given the queue and job definition that template.yaml's Globals hand to the functions
    monkeypatch.setenv("TRAINING_JOB_QUEUE", "drcaptcha-training")
    monkeypatch.setenv("TRAINING_JOB_DEFINITION", "drcaptcha-train:3")
    warm.reset()
    expected = {
        "jobName": ANY,
        "jobQueue": "drcaptcha-training",
        "jobDefinition": "drcaptcha-train:3",
        "containerOverrides": {
            "command": ["--network", "resnet", "--batch-size", "256", "--epochs", "30", "--ensemble", "auto"]
        },
    }

    # When training is submitted with the batch runner
    with Stubber(aws.client("batch")) as batch:
        batch.add_response("submit_job", {"jobId": "job-42", "jobName": "drcaptcha-train-resnet"}, expected)
        status = drcaptcha(
            ["train", "--network", "resnet", "--epochs", "30", "--ensemble", "auto", "--runner", "batch"]
        )
        batch.assert_no_pending_responses()

    # Then the job's entry point gets the same options, and the job id is printed
    assert status == 0
    assert "job-42" in capsys.readouterr().out


def test_the_batch_runner_without_a_queue_is_a_clear_cli_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRAINING_JOB_QUEUE", "")
    warm.reset()

    status = drcaptcha(["train", "--network", "cnn2", "--runner", "batch"])

    assert status == 2
    assert "TRAINING_JOB_QUEUE" in capsys.readouterr().err
