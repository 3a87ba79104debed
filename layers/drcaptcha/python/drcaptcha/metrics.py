"""The service's own CloudWatch metrics, written as EMF log lines through powertools.

The handlers count what their results already say (a challenge issued, a pass, a siteverify outcome, a vote's
outcome); the library itself counts nothing, so the CLI and the benchmarks that call it print no metrics. The
alarms and the dashboard in template.yaml use these names, under the namespace POWERTOOLS_METRICS_NAMESPACE
(`DrCaptcha/<Stage>`) and the dimension `service`.

On Lambda the EMF document goes to stdout, which CloudWatch Logs reads; elsewhere (the local gateway, tests) it goes
to the `drcaptcha.metrics` logger at DEBUG, so that a command's own stdout (`simulate --json`) stays its own.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

DEFAULT_NAMESPACE: Final = "DrCaptcha"

CHALLENGES_ISSUED: Final = "ChallengesIssued"
PASSES: Final = "Passes"
FAILS: Final = "Fails"
SITEVERIFY_PASSED: Final = "SiteverifyPassed"
SITEVERIFY_REJECTED: Final = "SiteverifyRejected"
VOTES: Final = "Votes"  # counted votes (a redelivered or late vote is not one)
LABELS_ACCEPTED: Final = "LabelsAccepted"
OUTBOX_KEPT_ITEMS: Final = "OutboxKeptItems"  # passes whose votes the stream still refused after a replay round
OUTBOX_REPLAYED_VOTES: Final = "OutboxReplayedVotes"
SIGNING_KEY_MISSING: Final = "SigningKeyMissing"

ALL: Final = (
    CHALLENGES_ISSUED,
    PASSES,
    FAILS,
    SITEVERIFY_PASSED,
    SITEVERIFY_REJECTED,
    VOTES,
    LABELS_ACCEPTED,
    OUTBOX_KEPT_ITEMS,
    OUTBOX_REPLAYED_VOTES,
    SIGNING_KEY_MISSING,
)

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)
# Lambda runs one invocation at a time; the local gateway runs handlers on threads, which share the metric set.
_lock = threading.Lock()
logger = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., object])


def count(name: str, value: float = 1) -> None:
    with _lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def published(handler: Handler) -> Handler:
    """Write the invocation's metrics when the handler returns or raises; one that counted nothing writes none."""

    @functools.wraps(handler)
    def publish_after(*args: object, **kwargs: object) -> object:
        try:
            return handler(*args, **kwargs)
        finally:
            with _lock:
                if metrics.metric_set:
                    document = metrics.serialize_metric_set()
                    metrics.clear_metrics()
                    write(json.dumps(document, separators=(",", ":")))

    return publish_after  # type: ignore[return-value]


def write(line: str) -> None:
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        print(line, flush=True)
    else:
        logger.debug(line)
