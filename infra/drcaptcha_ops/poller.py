"""The local stream poller: what Lambda's Kinesis event source mapping does, for the template's consumers.

For each function event of Type Kinesis it reads the stream's shards, builds the Kinesis event batch Lambda
would send, and calls the handler. With `FunctionResponseTypes: [ReportBatchItemFailures]` a reply's
`batchItemFailures` makes the batch re-delivered from the lowest failed sequence number; an exception fails
the whole batch (split in halves first with `BisectBatchOnFunctionError`). After `MaximumRetryAttempts`
retries the batch is given up: its description goes to the `DestinationConfig.OnFailure` SQS queue (the
record Lambda sends there), or to the log when none is declared, and the shard moves on.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drcaptcha import aws
from drcaptcha.errors import DataError
from drcaptcha_ops.lambda_runner import LocalFunction, export_function_environments, local_functions
from drcaptcha_ops.template import ACCOUNT_ID, TEMPLATE_PATH, LocalStack, local_stack

logger = logging.getLogger(__name__)

# Lambda's default (-1) retries until the records expire; locally a poison record would then block its
# shard for the stream's whole retention, so an event without MaximumRetryAttempts gets this many.
DEFAULT_MAX_RETRIES = 3
DEFAULT_BATCH_SIZE = 100
POLL_INTERVAL_S = 0.5
# Event source mapping settings that change which records a function sees, and that this poller lacks.
UNSUPPORTED_EVENT_PROPERTIES = frozenset({"FilterCriteria", "TumblingWindowInSeconds", "ParallelizationFactor"})


@dataclass(frozen=True)
class StreamSubscription:
    """One Kinesis event of one function: the local twin of an event source mapping."""

    function_id: str
    event_id: str
    stream_arn: str
    batch_size: int
    starting_position: str
    starting_timestamp: datetime | None
    max_retries: int
    reports_item_failures: bool
    bisects_on_error: bool
    on_failure_arn: str | None

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rpartition("stream/")[2] or self.stream_arn


def _starting_timestamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value))


def stream_subscriptions(stack: LocalStack) -> list[StreamSubscription]:
    subscriptions = []
    for function_id, event_id, raw_properties in stack.function_events("Kinesis"):
        properties = stack.resolve(raw_properties)
        if "Stream" not in properties:
            raise DataError(f"{function_id}.{event_id}: a Kinesis event needs a Stream")
        ignored = sorted(UNSUPPORTED_EVENT_PROPERTIES & properties.keys())
        if ignored:
            logger.warning("%s.%s: the local poller ignores %s", function_id, event_id, ", ".join(ignored))
        retries = int(properties.get("MaximumRetryAttempts", -1))
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        subscriptions.append(
            StreamSubscription(
                function_id=function_id,
                event_id=event_id,
                stream_arn=str(properties["Stream"]),
                batch_size=int(properties.get("BatchSize", DEFAULT_BATCH_SIZE)),
                starting_position=str(properties.get("StartingPosition", "LATEST")),
                starting_timestamp=_starting_timestamp(properties.get("StartingPositionTimestamp")),
                max_retries=DEFAULT_MAX_RETRIES if retries < 0 else retries,
                reports_item_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
                bisects_on_error=bool(properties.get("BisectBatchOnFunctionError", False)),
                on_failure_arn=str(destination) if destination else None,
            )
        )
    return subscriptions


def kinesis_event(subscription: StreamSubscription, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda sends for a batch of GetRecords records."""
    region = subscription.stream_arn.split(":")[3] if subscription.stream_arn.count(":") >= 5 else "us-east-1"
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{subscription.function_id}Role",
                "awsRegion": region,
                "eventSourceARN": subscription.stream_arn,
            }
            for record in records
        ]
    }


class FunctionError(Exception):
    """The function raised on a batch: Lambda's function error, as opposed to reported item failures."""


@dataclass
class ShardCursor:
    """Where one subscription stands in one shard."""

    iterator: str | None = None
    last_delivered: str | None = None
    batch_limit: int | None = None
    failing_sequence: str | None = None
    failed_attempts: int = 0


@dataclass
class StreamPoller:
    """Polls every subscription's shards and invokes its function; `poll_once` is one round."""

    subscriptions: list[StreamSubscription]
    functions: dict[str, LocalFunction]
    interval_s: float = POLL_INTERVAL_S
    cursors: dict[tuple[str, str, str], ShardCursor] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def poll_once(self) -> int:
        """Read one batch from every shard of every subscription and deliver it; return the records delivered."""
        delivered = 0
        with self._lock:
            for subscription in self.subscriptions:
                shards = aws.client("kinesis").list_shards(StreamName=subscription.stream_name)["Shards"]
                for shard in shards:
                    delivered += self._poll_shard(subscription, shard["ShardId"])
        return delivered

    def start(self) -> None:
        """Poll in a background thread until `stop()`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.poll_once()
            except Exception:
                # The emulator may be stopping, or a stream missing; keep polling as Lambda would.
                logger.exception("stream poll failed")
                delivered = 0
            # A full shard is read again at once; an idle one waits.
            self._stop.wait(0 if delivered else self.interval_s)

    def _poll_shard(self, subscription: StreamSubscription, shard_id: str) -> int:
        kinesis = aws.client("kinesis")
        cursor = self.cursors.setdefault((subscription.function_id, subscription.event_id, shard_id), ShardCursor())
        if cursor.iterator is None:
            cursor.iterator = self._resume_iterator(subscription, shard_id, cursor)
        try:
            response = kinesis.get_records(
                ShardIterator=cursor.iterator, Limit=cursor.batch_limit or subscription.batch_size
            )
        except kinesis.exceptions.ExpiredIteratorException:
            cursor.iterator = None
            return 0
        records = response["Records"]
        next_iterator = response.get("NextShardIterator")
        if not records:
            cursor.iterator = next_iterator
            return 0
        try:
            failed_from = self._deliver(subscription, shard_id, records)
        except FunctionError:
            if subscription.bisects_on_error and len(records) > 1:
                # Lambda's BisectBatchOnFunctionError: retry each half, to corner the record that breaks it.
                # A split is not a retry; it ends after log2(batch size) steps.
                cursor.batch_limit = len(records) // 2
                cursor.iterator = self._iterator_at(subscription, shard_id, records[0]["SequenceNumber"])
                return len(records)
            failed_from = 0
        if failed_from is None:
            cursor.iterator, cursor.batch_limit = next_iterator, None
            cursor.failing_sequence, cursor.failed_attempts = None, 0
            cursor.last_delivered = records[-1]["SequenceNumber"]
        else:
            self._retry_or_give_up(subscription, shard_id, cursor, records[failed_from:], next_iterator)
        return len(records)

    def _retry_or_give_up(
        self,
        subscription: StreamSubscription,
        shard_id: str,
        cursor: ShardCursor,
        failed: list[dict[str, Any]],
        next_iterator: str | None,
    ) -> None:
        first_failed = failed[0]["SequenceNumber"]
        if cursor.failing_sequence != first_failed:
            cursor.failing_sequence, cursor.failed_attempts = first_failed, 0
        cursor.failed_attempts += 1
        if cursor.failed_attempts <= subscription.max_retries:
            cursor.iterator = self._iterator_at(subscription, shard_id, first_failed)
            return
        self._give_up(subscription, shard_id, failed, cursor.failed_attempts)
        cursor.iterator, cursor.batch_limit = next_iterator, None
        cursor.failing_sequence, cursor.failed_attempts = None, 0
        cursor.last_delivered = failed[-1]["SequenceNumber"]

    def _iterator_at(self, subscription: StreamSubscription, shard_id: str, sequence: str) -> str:
        iterator: str = aws.client("kinesis").get_shard_iterator(
            StreamName=subscription.stream_name,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=sequence,
        )["ShardIterator"]
        return iterator

    def _resume_iterator(self, subscription: StreamSubscription, shard_id: str, cursor: ShardCursor) -> str:
        """Where to read next: the first time, the StartingPosition; after an iterator expired, where it stood."""
        if cursor.failing_sequence is not None:
            return self._iterator_at(subscription, shard_id, cursor.failing_sequence)
        if cursor.last_delivered is not None:
            iterator: str = aws.client("kinesis").get_shard_iterator(
                StreamName=subscription.stream_name,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=cursor.last_delivered,
            )["ShardIterator"]
            return iterator
        request: dict[str, Any] = {
            "StreamName": subscription.stream_name,
            "ShardId": shard_id,
            "ShardIteratorType": subscription.starting_position,
        }
        if subscription.starting_position == "AT_TIMESTAMP":
            request["Timestamp"] = subscription.starting_timestamp
        iterator = aws.client("kinesis").get_shard_iterator(**request)["ShardIterator"]
        return iterator

    def _deliver(self, subscription: StreamSubscription, shard_id: str, records: list[dict[str, Any]]) -> int | None:
        """Invoke the function; return the index of the first record to re-deliver, or None when all passed.

        Raises FunctionError when the function itself failed (an exception, as a Lambda function error).
        """
        function = self.functions[subscription.function_id]
        try:
            result = function.invoke(kinesis_event(subscription, shard_id, records))
        except Exception as error:
            logger.exception("%s failed on a batch of %d records", subscription.function_id, len(records))
            raise FunctionError(subscription.function_id) from error
        if not subscription.reports_item_failures or not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures") or []
        positions = {record["SequenceNumber"]: index for index, record in enumerate(records)}
        failed_positions = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in positions:
                # Lambda's rule: an item it cannot place fails the whole batch.
                logger.warning("%s reported unknown item %r", subscription.function_id, identifier)
                return 0
            failed_positions.append(positions[identifier])
        return min(failed_positions, default=None)

    def _give_up(
        self, subscription: StreamSubscription, shard_id: str, records: list[dict[str, Any]], attempts: int
    ) -> None:
        report = on_failure_record(subscription, shard_id, records, attempts, self.functions)
        if subscription.on_failure_arn and ":sqs:" in subscription.on_failure_arn:
            sqs = aws.client("sqs")
            queue_url = sqs.get_queue_url(QueueName=subscription.on_failure_arn.rpartition(":")[2])["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(report))
            logger.error("%s gave up on %d records; sent to %s", subscription.function_id, len(records), queue_url)
        else:
            logger.error("%s gave up on %d records: %s", subscription.function_id, len(records), json.dumps(report))


def on_failure_record(
    subscription: StreamSubscription,
    shard_id: str,
    records: list[dict[str, Any]],
    attempts: int,
    functions: dict[str, LocalFunction],
) -> dict[str, Any]:
    """The invocation record Lambda sends to an on-failure destination: where the batch is, not its data."""
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": functions[subscription.function_id].arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["SequenceNumber"],
            "endSequenceNumber": records[-1]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": records[0]["ApproximateArrivalTimestamp"].isoformat(),
            "approximateArrivalOfLastRecord": records[-1]["ApproximateArrivalTimestamp"].isoformat(),
            "batchSize": len(records),
            "streamArn": subscription.stream_arn,
        },
    }


def create_poller(
    template_path: Path = TEMPLATE_PATH,
    stack: LocalStack | None = None,
    functions: dict[str, LocalFunction] | None = None,
    interval_s: float = POLL_INTERVAL_S,
) -> StreamPoller:
    """A poller for the template's Kinesis consumers. Pass the gateway's `functions` to share their imports."""
    stack = stack or local_stack(template_path)
    if functions is None:
        functions = local_functions(stack, template_path.parent)
        export_function_environments(stack, functions)
    return StreamPoller(subscriptions=stream_subscriptions(stack), functions=functions, interval_s=interval_s)
