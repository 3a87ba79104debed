"""The admin function against the emulator: keys, networks, ensembles (create, edit, activate, delete, races),
training jobs and stats, with tiny networks trained once (tests/fixtures/tiny_networks.py)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import ANY

import pytest
from botocore.stub import Stubber

from drcaptcha import admins, aws, ensemble_admin
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.ensembles import network_model_key, parse_manifest, sha256_hex
from drcaptcha.errors import Conflict
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.tables.admins import AdminItem
from drcaptcha.models.tables.challenges import FAILED, PASSED, ChallengeItem
from drcaptcha.models.tables.ensembles import EnsembleItem
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import VoteItem
from drcaptcha_ops.cli import main as drcaptcha
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.gateway.app import running_gateway
from functions.admin import app as admin_app
from tests.fixtures.tiny_networks import Snapshot, tiny_networks
from tests.integration.captcha_support import Reply, api_event, invoke

CNN2, NN, DNN = "tiny-cnn2", "tiny-nn", "tiny-dnn"


@pytest.fixture
def networks(emulator: Emulator, emnist_dir: Path) -> Iterator[Snapshot]:
    yield tiny_networks()


@pytest.fixture
def key(emulator: Emulator) -> str:
    return admins.create_admin("tester").key


def call(method: str, path: str, key: str | None, json_body: Any = None, authorization: str | None = None) -> Reply:
    event = api_event(method, path, json_body=json_body)
    header = authorization if authorization is not None else (f"Bearer {key}" if key else None)
    if header is not None:
        event["headers"]["authorization"] = header
    return invoke(admin_app.handler, event)


def separate_admin_instance() -> ModuleType:
    """A second copy of the admin function's module, as another warm Lambda instance would hold it."""
    spec = importlib.util.spec_from_file_location(f"admin_instance_{uuid.uuid4().hex}", admin_app.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def create(key: str, name: str, members: dict[str, float]) -> Reply:
    body = {"name": name, "members": [{"network_id": n, "weight": w} for n, w in members.items()]}
    return call("POST", "/admin/ensembles", key, body)


def active_pointer() -> tuple[str, int] | None:
    pointer = ensemble_admin.read_pointer()
    return None if pointer is None else (pointer.active_id, int(pointer.manifest_version))


# --- keys and auth ----------------------------------------------------------------------------------------------
REFUSED_AUTHORIZATIONS = [
    (None, 401, "unauthorized"),
    ("", 401, "unauthorized"),
    ("Basic dXNlcjpwYXNz", 401, "unauthorized"),
    ("Bearer", 401, "unauthorized"),
    ("Bearer not a key at all!", 401, "unauthorized"),
    ("Bearer dca_" + "x" * 43, 403, "forbidden"),
]
ADMIN_ROUTES = [
    ("GET", "/admin/stats", None),
    ("GET", "/admin/networks", None),
    ("GET", "/admin/ensembles", None),
    ("POST", "/admin/ensembles/abc/activate", None),
    ("DELETE", "/admin/ensembles/abc", None),
    ("POST", "/admin/training-jobs", {"network": "cnn2"}),
]


def test_every_admin_route_refuses_a_missing_malformed_or_wrong_key(key: str) -> None:
    # Given a valid admin key exists, but each request carries something else
    for authorization, status, code in REFUSED_AUTHORIZATIONS:
        for method, path, body in ADMIN_ROUTES:
            # When the route is called
            event = api_event(method, path, json_body=body)
            if authorization is not None:
                event["headers"]["authorization"] = authorization
            reply = invoke(admin_app.handler, event)

            # Then it is refused with the right status, in the JSON error shape
            assert (reply.status, reply.body["error"]["code"]) == (status, code), (authorization, method, path)


def test_a_cors_preflight_needs_no_key_but_says_which_headers_may_follow(emulator: Emulator) -> None:
    event = api_event("OPTIONS", "/admin/ensembles")
    event["headers"] = {"origin": "https://admin.example", "access-control-request-method": "POST"}

    reply = invoke(admin_app.handler, event)

    assert reply.status == 204
    assert "Authorization" in reply.headers["access-control-allow-headers"]


def test_create_admin_prints_a_key_once_and_stores_only_its_hash(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # When an admin is created from the CLI
    assert drcaptcha(["create-admin", "--name", "ops"]) == 0
    printed = capsys.readouterr().out
    new_key = next(line.split()[-1] for line in printed.splitlines() if line.startswith("key:"))

    # Then the printed key works, and the table holds its hash, not the key
    scanned = [item.attribute_values for item in AdminItem.scan()]
    assert len(scanned) == 1
    assert scanned[0]["key_hash"] == sha256_hex(new_key.encode())
    assert new_key not in json.dumps(scanned, default=str)
    assert call("GET", "/admin/stats", new_key).status == 200


# --- networks ---------------------------------------------------------------------------------------------------
def test_networks_are_listed_with_metrics_and_presigned_plot_urls(networks: Snapshot, key: str) -> None:
    # When the networks are listed
    reply = call("GET", "/admin/networks", key)

    # Then each tiny network is there with its accuracy and a presigned URL for each of its plots
    assert reply.status == 200
    listed = {network["network_id"]: network for network in reply.body["networks"]}
    assert set(listed) == set(networks.network_ids)
    for network in listed.values():
        assert 0 <= network["accuracy"] <= 1
        assert set(network["plots"]) == {"architecture.png", "confusion.png", "curves.png"}
        url = urllib.parse.urlparse(network["plots"]["curves.png"])
        assert url.path.endswith(f"networks/{network['network_id']}/curves.png")
        assert "Signature" in url.query or "X-Amz-Signature" in url.query


def test_one_network_comes_with_its_metrics_file_and_an_unknown_one_is_404(networks: Snapshot, key: str) -> None:
    reply = call("GET", f"/admin/networks/{CNN2}", key)
    missing = call("GET", "/admin/networks/no-such-network", key)

    assert reply.status == 200
    assert len(reply.body["details"]["per_class_accuracy"]) == 47
    assert reply.body["details"]["accuracy"] == pytest.approx(reply.body["accuracy"])
    assert missing.status == 404


# --- ensembles --------------------------------------------------------------------------------------------------
def test_creating_an_ensemble_normalises_evaluates_and_writes_a_manifest_with_digests(
    networks: Snapshot, key: str
) -> None:
    # When an ensemble of the three tiny networks is created with weights 2:1:1
    reply = create(key, "three tiny", {CNN2: 2, NN: 1, DNN: 1})

    # Then the weights are normalised and the ensemble evaluated on the 400 test glyphs
    assert reply.status == 201, reply.body
    detail = reply.body
    assert detail["weights"] == {CNN2: 0.5, NN: 0.25, DNN: 0.25}
    assert 0 <= detail["accuracy"] <= 1 and detail["test_size"] == 400
    assert sum(map(sum, detail["confusion"])) == 400
    assert len(detail["per_class_accuracy"]) == 47
    # And the manifest names each model with the SHA-256 of the stored bytes
    store = GlyphStore()
    manifest = parse_manifest(store.get_bytes(f"ensembles/{detail['ensemble_id']}/manifest.json"))
    assert manifest.version == 1 and manifest.accuracy == pytest.approx(detail["accuracy"])
    for member in manifest.members:
        assert member.sha256 == sha256_hex(store.get_bytes(network_model_key(member.network_id)))
    # And it is listed, not active yet
    listing = call("GET", "/admin/ensembles", key).body
    assert [e["ensemble_id"] for e in listing["ensembles"]] == [detail["ensemble_id"]]
    assert listing["active_id"] is None


@pytest.mark.parametrize(
    ("members", "status"),
    [
        ({CNN2: 0, NN: 0}, 400),
        ({CNN2: 1, "tiny-unknown": 1}, 400),
    ],
)
def test_an_ensemble_with_zero_weights_or_an_unknown_network_is_refused(
    networks: Snapshot, key: str, members: dict[str, float], status: int
) -> None:
    reply = create(key, "bad", members)

    assert reply.status == status
    assert reply.body["error"]["message"]
    assert list(EnsembleItem.scan()) == []


def test_patching_weights_renormalises_re_evaluates_and_bumps_the_version(networks: Snapshot, key: str) -> None:
    # Given an ensemble of two networks
    created = create(key, "pair", {CNN2: 1, NN: 1}).body

    # When its weights are changed and a member is added
    members = [{"network_id": CNN2, "weight": 3}, {"network_id": DNN, "weight": 1}]
    reply = call("PATCH", f"/admin/ensembles/{created['ensemble_id']}", key, {"members": members})

    # Then it is version 2, normalised, re-evaluated, and the manifest says so
    assert reply.status == 200, reply.body
    assert reply.body["version"] == 2
    assert reply.body["weights"] == {CNN2: 0.75, DNN: 0.25}
    manifest = parse_manifest(GlyphStore().get_bytes(created["manifest_key"]))
    assert (manifest.version, manifest.weights) == (2, [0.75, 0.25])
    assert manifest.accuracy == pytest.approx(reply.body["accuracy"])


def test_activating_moves_the_pointer_and_the_active_ensemble_cannot_be_deleted(networks: Snapshot, key: str) -> None:
    # Given two ensembles, the first one active
    first = create(key, "first", {CNN2: 1}).body["ensemble_id"]
    second = create(key, "second", {NN: 1}).body["ensemble_id"]
    assert call("POST", f"/admin/ensembles/{first}/activate", key).status == 200

    # When the active one is deleted, then the other one
    refused = call("DELETE", f"/admin/ensembles/{first}", key)
    deleted = call("DELETE", f"/admin/ensembles/{second}", key)

    # Then the active one is refused (409) and stays; the other is gone with its manifest
    assert refused.status == 409
    assert deleted.status == 200
    assert active_pointer() == (first, 1)
    listing = call("GET", "/admin/ensembles", key).body
    assert [(e["ensemble_id"], e["active"]) for e in listing["ensembles"]] == [(first, True)]
    assert call("DELETE", f"/admin/ensembles/{second}", key).status == 404
    with pytest.raises(aws.client("s3").exceptions.NoSuchKey):
        aws.client("s3").get_object(Bucket=get_settings().bucket_name, Key=f"ensembles/{second}/manifest.json")


def test_patching_the_active_ensemble_moves_the_pointer_to_its_new_version(networks: Snapshot, key: str) -> None:
    ensemble_id = create(key, "live", {CNN2: 1, NN: 1}).body["ensemble_id"]
    call("POST", f"/admin/ensembles/{ensemble_id}/activate", key)

    reply = call("PATCH", f"/admin/ensembles/{ensemble_id}", key, {"name": "live, renamed"})

    assert reply.status == 200 and reply.body["active"] is True
    assert active_pointer() == (ensemble_id, 2)


def test_two_admins_racing_to_activate_leave_one_whole_pointer(networks: Snapshot, key: str) -> None:
    # Given two ensembles and no active one
    first = create(key, "first", {CNN2: 1}).body["ensemble_id"]
    second = create(key, "second", {NN: 1, DNN: 1}).body["ensemble_id"]
    replies: dict[str, Reply] = {}
    start = threading.Barrier(2)
    # Two warm Lambda instances: one resolver each, since a resolver serves one event at a time.
    instances = {first: separate_admin_instance(), second: separate_admin_instance()}

    def activate(ensemble_id: str) -> None:
        event = api_event("POST", f"/admin/ensembles/{ensemble_id}/activate")
        event["headers"]["authorization"] = f"Bearer {key}"
        start.wait()
        replies[ensemble_id] = invoke(instances[ensemble_id].handler, event)

    # When both are activated at the same moment, on two instances
    threads = [threading.Thread(target=activate, args=(e,)) for e in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each call either won or got 409, at least one won, and the pointer names one whole ensemble
    statuses = sorted(reply.status for reply in replies.values())
    assert statuses in ([200, 200], [200, 409])
    pointer = ensemble_admin.read_pointer()
    assert pointer is not None and pointer.active_id in {first, second}
    assert int(pointer.manifest_version) == 1
    assert int(pointer.revision) == statuses.count(200)
    winners = {e for e, reply in replies.items() if reply.status == 200}
    assert pointer.active_id in winners


def test_pointer_moves_from_the_same_revision_have_exactly_one_winner(networks: Snapshot, key: str) -> None:
    # Given two ensembles, and two activations that both read the pointer before either writes
    first = create(key, "first", {CNN2: 1}).body["ensemble_id"]
    second = create(key, "second", {NN: 1}).body["ensemble_id"]
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def move(ensemble_id: str) -> None:
        start.wait()
        try:
            ensemble_admin.move_pointer(ensemble_id, 1, expected_revision=None, by=ensemble_id)
            outcomes[ensemble_id] = "won"
        except Conflict:
            outcomes[ensemble_id] = "conflict"

    # When both write at once
    threads = [threading.Thread(target=move, args=(e,)) for e in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one won, and the pointer is all of the winner's write
    assert sorted(outcomes.values()) == ["conflict", "won"]
    (winner,) = [e for e, outcome in outcomes.items() if outcome == "won"]
    pointer = ensemble_admin.read_pointer()
    assert pointer is not None
    assert (pointer.active_id, pointer.activated_by, int(pointer.revision)) == (winner, winner, 1)


def test_an_ensemble_whose_model_is_missing_is_refused_at_create_and_at_activate(networks: Snapshot, key: str) -> None:
    # Given an active ensemble, and a second one whose model then disappears from the bucket
    good = create(key, "good", {CNN2: 1}).body["ensemble_id"]
    call("POST", f"/admin/ensembles/{good}/activate", key)
    doomed = create(key, "doomed", {NN: 1}).body["ensemble_id"]
    aws.client("s3").delete_object(Bucket=get_settings().bucket_name, Key=network_model_key(NN))

    # When an ensemble with that network is created, and the second one is activated
    created = create(key, "needs nn", {CNN2: 1, NN: 1})
    activated = call("POST", f"/admin/ensembles/{doomed}/activate", key)

    # Then both are refused with a message naming the missing model, and the good one stays active
    assert created.status == 422 and network_model_key(NN) in created.body["error"]["message"]
    assert activated.status == 422 and "missing" in activated.body["error"]["message"]
    assert active_pointer() == (good, 1)


# --- training jobs and stats ------------------------------------------------------------------------------------
def test_a_training_job_without_a_batch_queue_is_a_clear_409(
    emulator: Emulator, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINING_JOB_QUEUE", "")
    reset_settings()

    reply = call("POST", "/admin/training-jobs", key, {"network": "cnn2", "epochs": 3})
    listing = call("GET", "/admin/training-jobs", key)

    assert reply.status == 409
    assert "drcaptcha train --network cnn2" in reply.body["error"]["message"]
    assert listing.body == {"runner": "none", "jobs": []}


def test_an_unknown_network_cannot_be_trained(emulator: Emulator, key: str) -> None:
    reply = call("POST", "/admin/training-jobs", key, {"network": "alexnet"})

    assert reply.status == 400
    assert "alexnet" in reply.body["error"]["message"]


def test_a_training_job_is_submitted_to_batch_and_listed(emulator: Emulator, key: str) -> None:
    """AWS Batch cannot run here: botocore's Stubber stands in for it and checks SubmitJob and ListJobs."""
    settings = get_settings()
    submit = {
        "jobName": ANY,
        "jobQueue": settings.training_job_queue,
        "jobDefinition": settings.training_job_definition,
        "containerOverrides": {"command": ["--network", "resnet", "--epochs", "30"]},
    }
    listed = {"jobId": "job-42", "jobName": "drcaptcha-train-resnet-1", "status": "RUNNING", "createdAt": 1_000_000}

    with Stubber(aws.client("batch")) as batch:
        batch.add_response("submit_job", {"jobId": "job-42", "jobName": "drcaptcha-train-resnet-1"}, submit)
        batch.add_response("list_jobs", {"jobSummaryList": [listed]}, {"jobQueue": ANY, "filters": ANY})
        started = call("POST", "/admin/training-jobs", key, {"network": "resnet", "epochs": 30})
        jobs = call("GET", "/admin/training-jobs", key)
        batch.assert_no_pending_responses()

    assert started.status == 202
    assert started.body["job_id"] == "job-42" and started.body["name"].startswith("drcaptcha-train-resnet-")
    assert jobs.body["runner"] == "batch"
    assert jobs.body["jobs"] == [
        {"job_id": "job-42", "name": listed["jobName"], "status": "RUNNING", "created_at": 1000}
    ]


def test_stats_count_glyphs_by_state_votes_and_challenge_outcomes(emulator: Emulator, key: str) -> None:
    # Given 3 unlabelled, 1 ambiguous and 2 crowd-labelled glyphs, 4 votes, and 5 challenges (2 passed, 1 failed,
    # 1 open, 1 expired unanswered)
    for number, state in enumerate([UNLABELLED] * 3 + [AMBIGUOUS] + [CROWD] * 2):
        GlyphItem(f"train:00000:{number:04d}", state=state).save()
    for number in range(4):
        VoteItem("train:00000:0000", f"c{number}:0", source="s", weight=1, ts=0).save()
    now = time.time()
    for number, (outcome, expires) in enumerate(
        [(PASSED, now + 60), (PASSED, now + 60), (FAILED, now + 60), (None, now + 60), (None, now - 1)]
    ):
        ChallengeItem(
            f"challenge-{number:012d}",
            site_key="s",
            glyph_ids=[],
            expected=[],
            client="c",
            created_at=now,
            expires_at=expires,
            used=outcome is not None,
            outcome=outcome,
        ).save()

    # When the stats are read
    reply = call("GET", "/admin/stats", key)

    # Then every count is right, and the pass rate is passes over answers
    assert reply.status == 200
    assert reply.body == {
        "glyphs_unlabelled": 3,
        "glyphs_ambiguous": 1,
        "glyphs_labelled_by_crowd": 2,
        "votes": 4,
        "challenges": 5,
        "challenges_passed": 2,
        "challenges_failed": 1,
        "challenges_open": 1,
        "pass_rate": pytest.approx(2 / 3, abs=1e-4),
        "nothing_left_to_label": False,
        # Nothing is imported in this test, so nothing is said about the scored pool
        "labels_public": None,
        "scored_glyphs": None,
    }


@pytest.mark.parametrize(("states", "nothing_left"), [([CROWD] * 2, True), ([CROWD, AMBIGUOUS], False)])
def test_stats_say_when_nothing_is_left_to_label(
    emulator: Emulator, key: str, states: list[str], nothing_left: bool
) -> None:
    # Given glyphs the crowd has labelled, and perhaps one it keeps disagreeing on (which is still shown)
    for number, state in enumerate(states):
        GlyphItem(f"train:00000:{number:04d}", state=state).save()

    # When the stats are read
    reply = call("GET", "/admin/stats", key)

    # Then they say whether any glyph is left for the crowd
    assert reply.status == 200
    assert reply.body["glyphs_unlabelled"] == 0
    assert reply.body["nothing_left_to_label"] is nothing_left


def test_the_ensemble_cli_creates_activates_and_lists(networks: Snapshot, capsys: pytest.CaptureFixture[str]) -> None:
    # When an ensemble is created and activated through the CLI
    assert drcaptcha(["ensemble", "create", "--name", "cli", "--member", f"{CNN2}=3", "--member", f"{NN}=1"]) == 0
    ensemble_id = capsys.readouterr().out.split()[0]
    assert drcaptcha(["ensemble", "activate", ensemble_id]) == 0
    assert drcaptcha(["ensemble", "list"]) == 0

    # Then the listing marks it active, and a malformed member is a clear usage error
    listing = capsys.readouterr().out
    assert f"* {ensemble_id}" in listing
    with pytest.raises(SystemExit) as exit_info:
        drcaptcha(["ensemble", "create", "--name", "x", "--member", "cnn2"])
    assert exit_info.value.code == 2
    assert "NETWORK_ID=WEIGHT" in capsys.readouterr().err


def test_the_local_gateway_routes_admin_calls_with_their_method_and_header(key: str) -> None:
    # Given the local gateway serving the template's routes
    with running_gateway() as base:

        def status(method: str, path: str, authorization: str | None) -> int:
            headers = {"Content-Type": "application/json"}
            if authorization:
                headers["Authorization"] = authorization
            request = urllib.request.Request(f"{base}{path}", method=method, headers=headers, data=b"{}")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        # When DELETE and PATCH routes are called with and without the key
        # Then the method and the Authorization header reach the function
        assert status("DELETE", "/admin/ensembles/nope", None) == 401
        assert status("DELETE", "/admin/ensembles/nope", f"Bearer {key}") == 404
        assert status("PATCH", "/admin/ensembles/nope", f"Bearer {key}") == 404
        assert status("GET", "/admin/stats", f"Bearer {key}") == 200
