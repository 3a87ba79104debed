"""Count the AWS API calls this process makes, by service and operation.

Benchmarks use it to hold the captcha loop to its call budget (challenge ≤ 2, answer ≤ 2, siteverify ≤ 1, with
a warm cache)::

    from drcaptcha_ops.awscalls import count_aws_calls

    issue_challenge(...)                      # warm up: caches, clients, pynamodb table metadata
    with count_aws_calls() as calls:
        issue_challenge(...)
    assert calls.total <= 2, calls.by_operation   # e.g. {"dynamodb.PutItem": 1}

It counts every client of the process, from any thread: the boto3 clients of `drcaptcha.aws.client()`, the
botocore clients that pynamodb makes for itself (one botocore session per thread and connection), and any
other. One count is one logical API call (botocore's `before-call` event), so the retries of a call are not
counted again. Contexts may nest and overlap; each counts what happens while it is open.

The handler is installed once per process, on every botocore session and client, now and to come
(`drcaptcha_ops.botocore_hooks`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from drcaptcha_ops.botocore_hooks import ProcessHook

_UNIQUE_ID: Final = "drcaptcha-ops-count-aws-calls"


@dataclass
class AwsCallCounter:
    """What one `count_aws_calls()` context saw: `by_operation` maps "service.Operation" to its count."""

    by_operation: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def by_service(self) -> dict[str, int]:
        services: Counter[str] = Counter()
        for operation, count in self.by_operation.items():
            services[operation.split(".", 1)[0]] += count
        return dict(services)

    def record(self, operation: str) -> None:
        with self._lock:
            self.by_operation[operation] += 1


def _on_before_call(model: Any = None, context: dict[str, Any] | None = None, **_: Any) -> None:
    """The botocore `before-call` handler. Returns None so that botocore goes on with the call."""
    counters = _HOOK.open_items()
    if not counters or model is None:
        return
    if context is not None:
        # A session made while the hook was installed may carry the handler twice; the call's context is per call.
        if context.get(_UNIQUE_ID):
            return
        context[_UNIQUE_ID] = True
    operation = f"{model.service_model.service_name}.{model.name}"
    for counter in counters:
        counter.record(operation)


_HOOK: Final = ProcessHook[AwsCallCounter]("before-call", _UNIQUE_ID, _on_before_call)


@contextmanager
def count_aws_calls() -> Iterator[AwsCallCounter]:
    """Count the AWS API calls made by the whole process while the context is open."""
    with _HOOK.opened(AwsCallCounter()) as counter:
        yield counter
