"""The labels function: consumes the vote stream and turns agreeing votes into labels (DESIGN.md, step 4).

Each record is one VoteRecord (JSON). A record that does not parse, or whose glyph is unknown, fails on its
own: it is reported in `batchItemFailures`, so Kinesis retries from it and, after the retries, the on-failure
queue gets its position. The other records of the batch are processed as usual.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import labelling, metrics
from drcaptcha.config import requires_settings
from drcaptcha.models.stream import VoteRecord

logger = Logger()
# What this function cannot start without (a signing key, where one is needed, is checked when it is used).
REQUIRED_SETTINGS = (
    "glyphs_table",
    "votes_table",
    "sources_table",
    "acceptances_table",
    "ensembles_table",
    "bucket_name",
)
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
COUNTED = frozenset({labelling.VoteOutcome.PENDING, labelling.VoteOutcome.ACCEPTED, labelling.VoteOutcome.AMBIGUOUS})


def record_handler(record: KinesisStreamRecord) -> str:
    vote = VoteRecord.model_validate_json(record.kinesis.data_as_text())
    outcome = labelling.record_vote(vote).outcome
    if outcome in COUNTED:
        metrics.count(metrics.VOTES)
    if outcome is labelling.VoteOutcome.ACCEPTED:
        metrics.count(metrics.LABELS_ACCEPTED)
    return outcome.value


@metrics.published
@logger.inject_lambda_context
@requires_settings("labels", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
