"""The local stream poller, against the moto server: real Kinesis records, real batches, partial failures.

A fixture template (tests/fixtures/local_functions) declares a stream, an on-failure queue and a consumer
whose handler records each batch and fails the records that ask for it.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent

from drcaptcha import aws, warm
from drcaptcha_ops.bootstrap import bootstrap, delete_resources
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.poller import StreamPoller, create_poller
from drcaptcha_ops.template import LocalStack, local_stack

TESTS_DIR = Path(__file__).resolve().parents[1]
FIXTURE_TEMPLATE = TESTS_DIR / "fixtures" / "local_functions" / "template.yaml"
REFERENCE_EVENT = TESTS_DIR / "events" / "kinesis_reference.json"


@pytest.fixture
def fixture_stack(emulator: Emulator) -> LocalStack:
    stack = local_stack(FIXTURE_TEMPLATE)
    delete_resources(stack)  # the emulator's reset knows only template.yaml's resources (matters on LocalStack)
    bootstrap(stack)
    return stack


@pytest.fixture
def poller(fixture_stack: LocalStack) -> Iterator[StreamPoller]:
    with patch.dict(os.environ):  # the poller sets the functions' environment; give it back afterwards
        poller = create_poller(FIXTURE_TEMPLATE, stack=fixture_stack, interval_s=0.05)
        consumer(poller).reset()
        try:
            yield poller
        finally:
            poller.stop()
    warm.reset()


def consumer(poller: StreamPoller) -> Any:
    """The fixture handler's module, as the poller imported it: it holds the batches the handler saw."""
    return poller.functions["ConsumerFunction"].module


def put(stack: LocalStack, payload: dict[str, Any]) -> str:
    response = aws.client("kinesis").put_record(
        StreamName=stack.physical_name("FixtureStream"), Data=json.dumps(payload).encode(), PartitionKey="glyph-1"
    )
    sequence: str = response["SequenceNumber"]
    return sequence


def payloads(batch: list[dict[str, Any]]) -> list[int]:
    return [json.loads(base64.b64decode(record["kinesis"]["data"]))["n"] for record in batch]


def test_records_reach_the_consumer_in_order_as_a_kinesis_event(
    fixture_stack: LocalStack, poller: StreamPoller
) -> None:
    # Given three records on the stream
    sequences = [put(fixture_stack, {"n": n}) for n in (1, 2, 3)]

    # When the poller polls once
    delivered = poller.poll_once()

    # Then the handler got one batch, in order, shaped as Lambda shapes it
    assert delivered == 3
    (batch,) = consumer(poller).BATCHES
    assert payloads(batch) == [1, 2, 3]
    first = batch[0]
    assert first["eventSource"] == "aws:kinesis"
    assert first["eventName"] == "aws:kinesis:record"
    assert first["eventSourceARN"] == fixture_stack.arn("FixtureStream")
    assert first["awsRegion"] == "us-east-1"
    assert first["eventID"] == f"shardId-000000000000:{sequences[0]}"
    assert first["kinesis"]["sequenceNumber"] == sequences[0]
    assert first["kinesis"]["partitionKey"] == "glyph-1"
    assert first["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert abs(first["kinesis"]["approximateArrivalTimestamp"] - time.time()) < 60


def test_a_batch_has_the_shape_of_lambdas_own_and_powertools_reads_it(
    fixture_stack: LocalStack, poller: StreamPoller
) -> None:
    # Given Lambda's event for a Kinesis batch
    (reference,) = json.loads(REFERENCE_EVENT.read_text())["Records"]

    # When the poller delivers a record
    put(fixture_stack, {"n": 5})
    poller.poll_once()

    # Then its record has the same keys, and powertools decodes it
    (record,) = consumer(poller).BATCHES[0]
    assert record.keys() == reference.keys()
    assert record["kinesis"].keys() == reference["kinesis"].keys()
    parsed = next(KinesisStreamEvent({"Records": [record]}).records)
    assert parsed.kinesis.data_as_json() == {"n": 5}


def test_a_poll_with_nothing_new_invokes_nothing(fixture_stack: LocalStack, poller: StreamPoller) -> None:
    # Given a record that was delivered already
    put(fixture_stack, {"n": 1})
    poller.poll_once()

    # When the poller polls again
    delivered = poller.poll_once()

    # Then nothing is delivered twice
    assert delivered == 0
    assert len(consumer(poller).BATCHES) == 1


def test_a_reported_item_failure_redelivers_from_that_record_on(
    fixture_stack: LocalStack, poller: StreamPoller
) -> None:
    # Given a batch whose second record fails on its first delivery
    put(fixture_stack, {"n": 1})
    put(fixture_stack, {"n": 2, "fail_times": 1})
    put(fixture_stack, {"n": 3})

    # When the poller polls until the stream is drained
    for _ in range(3):
        poller.poll_once()

    # Then the failed record and the ones after it came again, and the one before did not
    assert [payloads(batch) for batch in consumer(poller).BATCHES] == [[1, 2, 3], [2, 3]]


def test_a_record_that_keeps_failing_goes_to_the_on_failure_queue(
    fixture_stack: LocalStack, poller: StreamPoller
) -> None:
    # Given a poison record between two good ones, and MaximumRetryAttempts 2 in the template
    put(fixture_stack, {"n": 1})
    poison = put(fixture_stack, {"n": 2, "poison": True})
    last = put(fixture_stack, {"n": 3})

    # When the poller polls past the retries
    for _ in range(4):
        poller.poll_once()
    put(fixture_stack, {"n": 4})
    poller.poll_once()

    # Then the batch was tried once and retried twice, then given up to the queue, and the shard moved on
    assert [payloads(batch) for batch in consumer(poller).BATCHES] == [[1, 2, 3], [2, 3], [2, 3], [4]]
    sqs = aws.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=fixture_stack.physical_name("FixtureFailures"))["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    report = json.loads(messages[0]["Body"])
    assert report["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert report["requestContext"]["approximateInvokeCount"] == 3
    assert report["KinesisBatchInfo"]["startSequenceNumber"] == poison
    assert report["KinesisBatchInfo"]["endSequenceNumber"] == last
    assert report["KinesisBatchInfo"]["batchSize"] == 2
    assert report["KinesisBatchInfo"]["streamArn"] == fixture_stack.arn("FixtureStream")


def test_the_background_thread_delivers_records_as_they_arrive(fixture_stack: LocalStack, poller: StreamPoller) -> None:
    # Given a running poller
    poller.start()

    # When a record is put on the stream
    put(fixture_stack, {"n": 7})

    # Then the handler sees it soon, and stop() ends the thread
    deadline = time.monotonic() + 10
    while not consumer(poller).BATCHES and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop()
    assert [payloads(batch) for batch in consumer(poller).BATCHES] == [[7]]


def test_a_batch_that_raises_is_bisected_until_the_bad_record_is_alone(
    fixture_stack: LocalStack, poller: StreamPoller
) -> None:
    # Given a record that makes the handler raise, among good ones, and BisectBatchOnFunctionError in the template
    put(fixture_stack, {"n": 1})
    put(fixture_stack, {"n": 2})
    bad = put(fixture_stack, {"n": 3, "explode": True})
    put(fixture_stack, {"n": 4})

    # When the poller polls until the stream is drained
    for _ in range(8):
        poller.poll_once()

    # Then the batch was halved until the bad record stood alone, retried alone, then given up; the rest passed
    assert [payloads(batch) for batch in consumer(poller).BATCHES] == [
        [1, 2, 3, 4],
        [1, 2],
        [3, 4],
        [3],
        [3],
        [3],
        [4],
    ]
    sqs = aws.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=fixture_stack.physical_name("FixtureFailures"))["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    batch_info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert (batch_info["startSequenceNumber"], batch_info["batchSize"]) == (bad, 1)


def test_after_its_iterator_is_lost_the_poller_resumes_after_the_last_delivered_record(
    fixture_stack: LocalStack, poller: StreamPoller
) -> None:
    # Given two records delivered, then every shard iterator lost (as when one expires after 5 minutes)
    put(fixture_stack, {"n": 1})
    put(fixture_stack, {"n": 2})
    poller.poll_once()
    for cursor in poller.cursors.values():
        cursor.iterator = None

    # When a new record arrives and the poller polls
    put(fixture_stack, {"n": 3})
    poller.poll_once()

    # Then only the new record is delivered: the poller did not go back to TRIM_HORIZON
    assert [payloads(batch) for batch in consumer(poller).BATCHES] == [[1, 2], [3]]
