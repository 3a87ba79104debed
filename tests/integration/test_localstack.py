"""The same bootstrap and stream poller against LocalStack, when one is running (see docs/LOCALSTACK.md).

Every test here skips, with the reason, when LocalStack's health endpoint does not answer: machines without
Docker (CI included) run the embedded moto server instead. `make localstack-test` runs them for real.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from drcaptcha import aws, warm
from drcaptcha_ops.bootstrap import bootstrap
from drcaptcha_ops.emulator import point_at
from drcaptcha_ops.poller import create_poller
from drcaptcha_ops.template import LocalStack, local_stack

pytestmark = pytest.mark.localstack

LOCALSTACK_URL = os.environ.get("LOCALSTACK_URL", "http://localhost:4566")
FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "local_functions" / "template.yaml"
NEEDED_SERVICES = ("dynamodb", "s3", "kinesis", "sqs")
START_HINT = "start it with `docker compose -f infra/localstack/compose.yaml up -d --wait`"


def localstack_health() -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{LOCALSTACK_URL}/_localstack/health", timeout=2) as response:
            health: dict[str, Any] = json.loads(response.read())
            return health
    except (urllib.error.URLError, OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def localstack() -> Iterator[str]:
    """This process pointed at LocalStack, for this module only; skips when there is none."""
    health = localstack_health()
    if health is None:
        pytest.skip(f"LocalStack is not reachable at {LOCALSTACK_URL}/_localstack/health; {START_HINT}")
    services = health.get("services", {})
    missing = [name for name in NEEDED_SERVICES if services.get(name) not in {"available", "running"}]
    if missing:
        pytest.skip(
            f"LocalStack at {LOCALSTACK_URL} lacks {', '.join(missing)}; infra/localstack/compose.yaml has them"
        )
    with patch.dict(os.environ):
        point_at(LOCALSTACK_URL)
        yield LOCALSTACK_URL
    warm.reset()


@pytest.fixture(scope="module")
def project_stack(localstack: str) -> LocalStack:
    stack = local_stack()
    bootstrap(stack)
    return stack


def test_bootstrap_creates_the_templates_tables_bucket_stream_and_queues(project_stack: LocalStack) -> None:
    # Given a bootstrap at LocalStack (the fixture)
    stack = project_stack

    # Then every data resource of the template exists there
    tables = set(aws.client("dynamodb").list_tables()["TableNames"])
    buckets = {bucket["Name"] for bucket in aws.client("s3").list_buckets()["Buckets"]}
    streams = set(aws.client("kinesis").list_streams()["StreamNames"])
    assert {stack.physical_name(i) for i in stack.resources_of_type("AWS::DynamoDB::Table")} <= tables
    assert {stack.physical_name(i) for i in stack.resources_of_type("AWS::S3::Bucket")} <= buckets
    assert {stack.physical_name(i) for i in stack.resources_of_type("AWS::Kinesis::Stream")} <= streams
    for queue_id in stack.resources_of_type("AWS::SQS::Queue"):
        assert aws.client("sqs").get_queue_url(QueueName=stack.physical_name(queue_id))["QueueUrl"]


def test_a_second_bootstrap_at_localstack_creates_nothing(project_stack: LocalStack) -> None:
    # When the bootstrap runs again
    report = bootstrap(project_stack)

    # Then everything was there already
    assert report.created == []
    assert report.existing


def test_the_poller_delivers_localstack_stream_records_to_a_consumer(localstack: str) -> None:
    # Given the fixture consumer's stream at LocalStack, under a stack name of its own (LocalStack keeps state)
    stack = local_stack(FIXTURE_TEMPLATE, stack_name=f"drcaptcha-lstest-{uuid.uuid4().hex[:8]}")
    bootstrap(stack)
    stream_name = stack.physical_name("FixtureStream")
    try:
        with patch.dict(os.environ):
            poller = create_poller(FIXTURE_TEMPLATE, stack=stack)
            consumer = poller.functions["ConsumerFunction"].module
            consumer.reset()

            # When two records are put and the poller polls
            for n in (1, 2):
                aws.client("kinesis").put_record(
                    StreamName=stream_name, Data=json.dumps({"n": n}).encode(), PartitionKey="k"
                )
            deadline = time.monotonic() + 10
            while not poller.poll_once() and time.monotonic() < deadline:
                time.sleep(0.2)

            # Then the consumer got them, in order
            batch = consumer.BATCHES[0]
            assert [record["kinesis"]["partitionKey"] for record in batch] == ["k", "k"]
            assert [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in batch] == [1, 2]
    finally:
        aws.client("kinesis").delete_stream(StreamName=stream_name, EnforceConsumerDeletion=True)
        queue_url = aws.client("sqs").get_queue_url(QueueName=stack.physical_name("FixtureFailures"))["QueueUrl"]
        aws.client("sqs").delete_queue(QueueUrl=queue_url)
