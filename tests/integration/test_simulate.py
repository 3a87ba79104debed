"""The crowd simulation end to end: simulated people answer real captchas, the stream is drained into the labels
function, and the report is checked against truth/ (drcaptcha_ops/simulation/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drcaptcha.config import reset_settings
from drcaptcha.models.tables.votes import VoteItem
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_ops.simulation.report import SimulationReport
from drcaptcha_ops.simulation.run import SimulationConfig
from drcaptcha_ops.simulation.stack import simulate

LIMIT = 5000
REMOVED = 120


@pytest.fixture
def removed_labels(emulator: Emulator, emnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("TOKEN_SIGNING_KEY", "simulation-test-key-0123456789abcdef")
    # simulate() quietens the functions' logs process-wide; monkeypatch puts the level back afterwards.
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    # 60 challenges show 120 unlabelled glyphs: spread over the service's 500 candidates (all 120 here), each gets
    # one vote and none a label. A crowd this small labels with a narrow window, as it did before issue 19.
    monkeypatch.setenv("UNLABELLED_CANDIDATES", "50")
    reset_settings()
    import_emnist(emnist_dir, limit=LIMIT, progress=False)
    return remove_labels(REMOVED, seed=3, progress=False).removed


def assert_votes_add_up(report: SimulationReport) -> None:
    assert report.votes_recorded == report.votes_sent > 0
    assert report.votes_counted + report.late_votes == report.votes_recorded


def test_humans_and_colluders_label_glyphs_that_are_checked_against_truth(removed_labels: int) -> None:
    # Given 20 humans and 4 informed colluders
    config = SimulationConfig(humans=20, colluders=4, challenges=60, seed=4)

    # When they take 60 captchas through the library the handlers call, and the stream is drained
    report = simulate(config, removed_labels)

    # Then humans mostly pass, colluders always do (they know the scored positions)
    humans, colluders = report.pass_rates["human"], report.pass_rates["colluder"]
    assert humans["attempts"] + colluders["attempts"] == 60
    assert humans["pass_rate"] >= 0.7
    assert colluders["pass_rate"] == 1.0
    # And every vote sent on a pass reached the labels function, once
    assert_votes_add_up(report)
    stored = list(VoteItem.scan())
    assert len(stored) == report.votes_sent
    # And labels were accepted, and their accuracy was measured against truth/ (not taken on trust)
    assert report.labels_accepted > 5
    assert report.removed_labels == REMOVED
    assert report.coverage == pytest.approx(report.labels_accepted / REMOVED)
    # (a loose bound: 60 challenges are too few for the reliability model to learn the colluders)
    assert report.label_accuracy is not None and report.label_accuracy >= 0.8
    assert report.votes_per_label is not None and report.votes_per_label >= 2.5
    wrong = sum(mistake["count"] for mistake in report.mistakes)
    assert report.label_accuracy == pytest.approx(1 - wrong / report.labels_accepted)
    # And both offline models were run on the same recorded votes
    assert report.glyphs_voted == len({vote.glyph_id for vote in stored})
    assert report.majority_accuracy is not None and report.dawid_skene_accuracy is not None


def test_through_the_gateway_each_agent_keeps_its_own_source(removed_labels: int) -> None:
    # Given a few humans and a blind spammer who answer over HTTP, each from its own loopback address
    config = SimulationConfig(humans=4, spammers=1, challenges=15, seed=1, through_gateway=True)

    # When they take 15 captchas through the local gateway
    report = simulate(config, removed_labels)

    # Then the votes add up, and the captcha function saw several clients, not one gateway address
    assert_votes_add_up(report)
    sources = {vote.source for vote in VoteItem.scan()}
    assert len(sources) >= 3


def test_fully_trained_networks_exported_by_the_bench_become_the_simulations_active_ensemble(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The bench's export (bench_ensemble.export_cached_network) and the simulation's restore agree on the format."""
    from bench.bench_ensemble import export_cached_network
    from drcaptcha import ensemble_admin
    from drcaptcha.glyphs import GlyphStore
    from drcaptcha.models.tables.ensembles import NetworkItem
    from drcaptcha_ops.simulation.stack import best_network
    from tests.fixtures.tiny_networks import tiny_networks

    # Given a trained network's LiteRT model exported in the demo's cache format, as the bench writes it
    tiny_networks()
    store = GlyphStore()
    tflite = store.get_bytes(NetworkItem.get("tiny-cnn2").artifact_keys()["model.tflite"])
    row = {"network": "cnn2", "keras_accuracy": 0.5, "litert_agreement": 1.0, "litert_accuracy": 0.5}
    export_cached_network(tmp_path, {**row, "int8_accuracy": 0.4}, {"model.tflite": tflite}, {"epochs": 3})

    # When the simulation asks for its network with no ensemble active
    assert ensemble_admin.read_pointer() is None
    ensemble, name = best_network(lambda text: None, [tmp_path / "cnn2"])

    # Then the exported network is registered, made into an ensemble and activated, and that ensemble classifies
    assert NetworkItem.get("cnn2-full").epochs == 3
    pointer = ensemble_admin.read_pointer()
    assert pointer is not None and pointer.active_id in name and "cnn2-full" in name
    images, _ = store.load_split("test")
    assert ensemble.predict(images[:6]).shape == (6, 47)


def test_a_folder_without_a_cached_network_is_a_clear_error(emulator: Emulator, tmp_path: Path) -> None:
    from drcaptcha.errors import DataError
    from drcaptcha_ops.simulation.stack import best_network
    from tests.fixtures.glyph_data import seed_glyph_store

    seed_glyph_store(train=200, test=50)
    with pytest.raises(DataError, match="no cached network"):
        best_network(lambda text: None, [tmp_path])


def test_the_committed_fully_trained_networks_are_the_default_ensemble_and_read_real_glyphs(
    emulator: Emulator, emnist_dir: Path
) -> None:
    """Issue 15, item 4: networks/ holds the fully trained int8 exports and their weights (networks/ensemble.json),
    and the simulation (like the demo) makes its ensemble of them when it is given no other network."""
    from drcaptcha.ensembles import read_manifest
    from drcaptcha.glyphs import GlyphStore
    from drcaptcha_ops.demo import committed_ensemble
    from drcaptcha_ops.simulation.stack import best_network

    # Given a stack with real EMNIST glyphs and no ensemble, and the networks committed with the code
    import_emnist(emnist_dir, limit=3000, progress=False)
    committed = committed_ensemble()
    assert committed, "networks/ensemble.json names the committed networks"

    # When the simulation asks for its network without naming one
    ensemble, _ = best_network(lambda text: None)

    # Then its ensemble is the committed networks, with their weights, served from their int8 models
    manifest = ensemble.manifest
    assert read_manifest(GlyphStore(), manifest.ensemble_id) == manifest
    total = sum(weight for _, weight in committed)
    expected = {f"{folder.name}-full": weight / total for folder, weight in committed}
    assert {member.network_id: member.weight for member in manifest.members} == pytest.approx(expected)
    assert all(member.model_key.endswith("model.int8.tflite") for member in manifest.members)
    # And it reads real handwritten glyphs as a fully trained network does (89.8% on the whole test split; 0.83
    # is three standard errors under that for these ~235 glyphs), not as the quick one (55% on a small import)
    images, labels = GlyphStore().load_split("test")
    accuracy = float((ensemble.predict(images).argmax(axis=1) == labels).mean())
    assert accuracy >= 0.83, f"{accuracy:.1%} on {len(labels)} test glyphs"
