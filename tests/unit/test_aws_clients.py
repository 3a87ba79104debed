"""The client factory parses botocore's service models once per process, whoever makes the session: boto3's
clients across `reset_clients()`, and the sessions pynamodb makes for itself (one per thread and connection)."""

from __future__ import annotations

import threading

import pynamodb.connection.base
import pytest

from drcaptcha import aws


@pytest.fixture(autouse=True)
def emulator_like_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never called: only clients are made
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_a_client_made_after_a_reset_reuses_the_parsed_service_model() -> None:
    # Given a DynamoDB client, then every client and session forgotten
    before = aws.client("dynamodb")
    aws.reset_clients()

    # When the client is made again
    after = aws.client("dynamodb")

    # Then it is a new client over the very same parsed model (a fresh loader would have parsed a new one)
    assert after is not before
    assert after.meta.service_model._service_description is before.meta.service_model._service_description


def test_pynamodbs_own_sessions_read_through_the_same_loader() -> None:
    # When pynamodb makes its sessions, one in this thread and one in another
    sessions = [pynamodb.connection.base.get_session()]
    worker = threading.Thread(target=lambda: sessions.append(pynamodb.connection.base.get_session()))
    worker.start()
    worker.join()

    # Then they are two sessions with one loader, the one boto3's clients use
    assert sessions[0] is not sessions[1]
    loaders = {id(session.get_component("data_loader")) for session in sessions}
    assert loaders == {id(aws.botocore_session().get_component("data_loader"))}


def test_new_sessions_do_not_grow_the_loaders_search_paths() -> None:
    aws.client("s3")
    paths = list(aws.botocore_session().get_component("data_loader").search_paths)

    for _ in range(3):
        aws.reset_clients()
        aws.client("s3")

    assert aws.botocore_session().get_component("data_loader").search_paths == paths
