"""Ensemble manifests, weight normalisation and evaluation: pure logic, with an in-memory object store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from botocore.exceptions import ClientError

from drcaptcha.ensembles import (
    build_manifest,
    evaluate_predictions,
    load_model,
    normalise_weights,
    parse_manifest,
    read_manifest,
    sha256_hex,
    weighted_probabilities,
    write_manifest,
)
from drcaptcha.errors import BadRequest, DataError
from drcaptcha_train.ensemble_fit import fit_weights
from drcaptcha_train.options import NETWORK_NAMES


class MemoryStore:
    """The two methods of GlyphStore that ensembles.py uses, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_bytes(self, key: str) -> bytes:
        if key not in self.objects:  # as S3 answers for a missing key
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": key}}, "GetObject")
        return self.objects[key]

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.objects[key] = data


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    memory.objects["networks/a/model.tflite"] = b"model a"
    memory.objects["networks/b/model.tflite"] = b"model b"
    return memory


def test_weights_are_scaled_to_sum_to_one() -> None:
    assert normalise_weights([1, 3]) == [0.25, 0.75]
    assert normalise_weights([0, 2, 2]) == [0.0, 0.5, 0.5]


def test_a_single_member_gets_the_whole_weight() -> None:
    assert normalise_weights([0.2]) == [1.0]


@pytest.mark.parametrize(
    ("weights", "complaint"),
    [([0, 0], "sum to zero"), ([1, -0.5], "negative"), ([], "at least one member"), ([float("nan")], "finite")],
)
def test_weights_that_cannot_be_normalised_are_refused(weights: list[float], complaint: str) -> None:
    with pytest.raises(BadRequest, match=complaint):
        normalise_weights(weights)


def test_a_manifest_survives_a_round_trip_through_the_store(store: MemoryStore) -> None:
    # Given a manifest built from two stored models with raw weights 1 and 3
    manifest = build_manifest(store, "e1", "pair", [("a", 1.0), ("b", 3.0)], accuracy=0.9)

    # When it is written and read back
    key = write_manifest(store, manifest)
    again = read_manifest(store, "e1")

    # Then it is the same manifest, at the documented key, with normalised weights and the models' digests
    assert key == "ensembles/e1/manifest.json"
    assert again == manifest
    assert again.weights == [0.25, 0.75]
    assert again.members[1].sha256 == sha256_hex(b"model b")
    assert again.status == "draft"


def test_a_manifest_whose_weights_do_not_sum_to_one_is_refused(store: MemoryStore) -> None:
    manifest = build_manifest(store, "e1", "pair", [("a", 1.0), ("b", 1.0)])
    data = manifest.model_dump()
    data["members"][0]["weight"] = 0.9

    with pytest.raises(DataError, match="sum to"):
        parse_manifest(json.dumps(data))


def test_a_network_listed_twice_is_refused(store: MemoryStore) -> None:
    with pytest.raises(BadRequest, match="twice"):
        build_manifest(store, "e1", "twice", [("a", 1.0), ("a", 1.0)])


def test_a_model_whose_bytes_changed_since_the_manifest_is_refused(store: MemoryStore) -> None:
    # Given a manifest, and then the model file of one member replaced
    manifest = build_manifest(store, "e1", "pair", [("a", 1.0), ("b", 1.0)])
    store.objects["networks/b/model.tflite"] = b"another model"

    # When that member's model is loaded, Then the wrong digest is refused before the model is run
    with pytest.raises(DataError, match="SHA-256"):
        load_model(store, manifest.members[1])


def test_the_ensemble_output_is_the_weighted_sum_of_member_outputs() -> None:
    first = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    second = np.array([[0.1, 0.9], [0.6, 0.4]], dtype=np.float32)

    combined = weighted_probabilities([first, second], [0.25, 0.75])

    np.testing.assert_allclose(combined, [[0.3, 0.7], [0.5, 0.5]], rtol=1e-6)


def test_evaluation_counts_per_class_accuracy_and_confusion() -> None:
    probabilities = np.zeros((4, 47), dtype=np.float32)
    probabilities[[0, 1, 2, 3], [3, 3, 5, 3]] = 1.0

    evaluation = evaluate_predictions(probabilities, np.array([3, 3, 5, 5]))

    assert evaluation.accuracy == 0.75
    assert evaluation.per_class_accuracy[3] == 1.0
    assert evaluation.per_class_accuracy[5] == 0.5
    assert evaluation.confusion[5, 3] == 1
    assert evaluation.confusion.sum() == 4


def test_fitted_weights_favour_the_member_that_is_right_on_validation() -> None:
    # Given a member that is right on every validation glyph and one that is confidently wrong on most
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 47, 200)
    right = np.full((200, 47), 0.5 / 46, dtype=np.float32)
    right[np.arange(200), labels] = 0.5
    wrong = np.full((200, 47), 0.01 / 46, dtype=np.float32)
    wrong[np.arange(200), (labels + 1) % 47] = 0.99
    wrong[:40] = right[:40]

    # When weights are fitted
    weights = fit_weights([right, wrong], labels)

    # Then they sum to 1 and the ensemble they give is right on every glyph
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] > weights[1]
    assert (weighted_probabilities([right, wrong], weights).argmax(axis=1) == labels).all()


def test_the_cli_lists_exactly_the_networks_the_trainer_defines() -> None:
    from drcaptcha_train.networks import NETWORKS

    assert tuple(NETWORKS) == NETWORK_NAMES


def test_a_network_with_an_int8_model_is_served_int8_and_one_without_keeps_its_float_model(
    store: MemoryStore,
) -> None:
    # Given network a, whose trainer kept an int8 export, and network b, which has only its float model
    store.objects["networks/a/model.int8.tflite"] = b"model a, int8"

    # When an ensemble of both is built
    manifest = build_manifest(store, "e1", "pair", [("a", 1.0), ("b", 1.0)])

    # Then a's member is the int8 model, with that model's digest, and b's is its float model
    a, b = manifest.members
    assert (a.model_key, a.sha256) == ("networks/a/model.int8.tflite", sha256_hex(b"model a, int8"))
    assert (b.model_key, b.sha256) == ("networks/b/model.tflite", sha256_hex(b"model b"))


def test_a_network_with_no_model_at_all_is_a_clear_error(store: MemoryStore) -> None:
    with pytest.raises(DataError, match="model of network c"):
        build_manifest(store, "e1", "ghost", [("c", 1.0)])
