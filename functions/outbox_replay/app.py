"""The outbox replay function: every minute, the votes that the stream refused are put on it again.

The captcha function keeps a pass's votes in the vote outbox when Kinesis fails (drcaptcha/outbox.py); this
function drains it. A round that the stream still refuses leaves the items for the next round.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import metrics, outbox
from drcaptcha.config import requires_settings

logger = Logger()
# What this function cannot start without (a signing key, where one is needed, is checked when it is used).
REQUIRED_SETTINGS = (
    "outbox_table",
    "votes_stream",
)


@metrics.published
@logger.inject_lambda_context
@requires_settings("outbox_replay", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = outbox.replay_outbox()
    # Every round, zero included, so that the backlog alarm sees a steady series.
    metrics.count(metrics.OUTBOX_KEPT_ITEMS, report.kept_items)
    metrics.count(metrics.OUTBOX_REPLAYED_VOTES, report.replayed_votes)
    return report.as_dict()
