"""Fault injection at the botocore level: make DynamoDB, S3 or Kinesis unavailable or throttled, per operation.

Tests and benchmarks use it to prove what the service does when AWS fails::

    from drcaptcha_ops.faults import inject_fault

    with inject_fault("kinesis", "PutRecords", kind="unavailable") as fault:
        answer_challenge(...)             # the pass is recorded, the votes go to the outbox
    assert fault.injected >= 1

The fault sits on botocore's `before-send` event, which fires for each HTTP attempt just before it would go on
the wire: a handler that returns a response there replaces the server's, and one that raises replaces the
connection. So the clients' own retry policies run as they would against AWS (a throttle that lasts one attempt
is retried away, one that lasts is not), and every client is reached: boto3's, and the botocore clients that
pynamodb makes for itself. The handler reaches them the way drcaptcha_ops.awscalls reaches them
(`drcaptcha_ops.botocore_hooks`): on every session and client, alive and to come.

Kinds of fault:
- `unavailable`: the endpoint cannot be reached (EndpointConnectionError), as in a network partition or outage;
- `throttled`: the service's own throttling error (DynamoDB ThrottlingException, Kinesis
  ProvisionedThroughputExceededException, S3 503 SlowDown);
- `refuse-records`: Kinesis PutRecords answers 200 but refuses every record (FailedRecordCount), as a hot shard
  does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

from drcaptcha_ops.botocore_hooks import ProcessHook

FaultKind = Literal["unavailable", "throttled", "refuse-records"]

_UNIQUE_ID: Final = "drcaptcha-ops-inject-faults"

# service id -> (HTTP status, content type, body) of its throttling error.
_THROTTLES: Final[dict[str, tuple[int, str, bytes]]] = {
    "dynamodb": (
        400,
        "application/x-amz-json-1.0",
        b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
        b'"message":"Rate of requests exceeds the allowed throughput."}',
    ),
    "kinesis": (
        400,
        "application/x-amz-json-1.1",
        b'{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard shardId-000000000000"}',
    ),
    "s3": (
        503,
        "application/xml",
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    ),
}
_GENERIC_THROTTLE: Final = (
    503,
    "application/json",
    b'{"__type":"ServiceUnavailableException","message":"Service unavailable"}',
)


@dataclass
class Fault:
    """One injected fault: which calls it hits, how, how many more times (None: until removed), and its count."""

    service: str
    operations: frozenset[str]
    kind: FaultKind
    times: int | None = None
    injected: int = 0
    body_contains: bytes | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claims(self, service: str, operation: str, body: bytes = b"") -> bool:
        """Whether this fault takes this attempt (and counts it)."""
        if service != self.service or (self.operations and operation not in self.operations):
            return False
        if self.body_contains is not None and self.body_contains not in body:
            return False
        with self._lock:
            if self.times is not None and self.injected >= self.times:
                return False
            self.injected += 1
            return True


class _Body:
    """The `raw` of an AWSResponse: what botocore's parser streams the body from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


def _response(url: str, status: int, content_type: str, body: bytes) -> AWSResponse:
    headers: Any = {"Content-Type": content_type, "x-amzn-RequestId": "fault"}
    return AWSResponse(url, status, headers, _Body(body))


def _refused_records(request: Any) -> AWSResponse:
    """A PutRecords reply that takes none of the request's records."""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "{}")
    count = len(json.loads(body).get("Records", []))
    refused = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded (fault)"}
    reply = {"FailedRecordCount": count, "Records": [refused] * count}
    return _response(request.url, 200, "application/x-amz-json-1.1", json.dumps(reply).encode())


def _fail(fault: Fault, request: Any) -> AWSResponse:
    if fault.kind == "unavailable":
        raise EndpointConnectionError(endpoint_url=request.url)
    if fault.kind == "refuse-records":
        return _refused_records(request)
    status, content_type, body = _THROTTLES.get(fault.service, _GENERIC_THROTTLE)
    return _response(request.url, status, content_type, body)


def _on_before_send(request: Any = None, event_name: str = "", **_kwargs: Any) -> AWSResponse | None:
    """The botocore `before-send` handler: None lets the request go; a response or an exception replaces it."""
    faults = _HOOK.open_items()
    if not faults or request is None:
        return None
    # `before-send.<service id>.<operation>`
    _event, _dot, rest = event_name.partition(".")
    service, _dot, operation = rest.partition(".")
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    for fault in faults:
        if fault.claims(service, operation, body):
            return _fail(fault, request)
    return None


_HOOK: Final = ProcessHook[Fault]("before-send", _UNIQUE_ID, _on_before_send)


@contextmanager
def inject_fault(
    service: str,
    *operations: str,
    kind: FaultKind = "unavailable",
    times: int | None = None,
    body_contains: bytes | None = None,
) -> Iterator[Fault]:
    """Fail `service`'s `operations` (all of them if none are named) in the whole process while open.

    `times` bounds the failed attempts (a transient fault); None fails every attempt until the context closes.
    `body_contains` fails only the requests whose body holds these bytes (one item's writes: its key, quoted).
    """
    if kind == "refuse-records" and (service, operations) != ("kinesis", ("PutRecords",)):
        raise ValueError("refuse-records applies to kinesis PutRecords only")
    fault = Fault(service, frozenset(operations), kind, times=times, body_contains=body_contains)
    with _HOOK.opened(fault) as fault:
        yield fault
