"""The labels function: consumes the vote stream and turns agreeing votes into labels (DESIGN.md, step 4).

Each record is one VoteRecord (JSON). The batch is recorded at once, a glyph at a time (drcaptcha.labelling);
then powertools' BatchProcessor reports each record's result. A record that does not parse fails on its own; a
glyph that is unknown or whose write fails (throttled) fails its own records: they are reported in
`batchItemFailures`, so Kinesis retries from them and, after the retries, the on-failure queue gets their
positions. The other records of the batch are counted as usual.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamEvent, KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import labelling, metrics
from drcaptcha.config import requires_settings

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


def report(recorded: labelling.VoteOrFailure) -> str:
    if isinstance(recorded, Exception):
        raise recorded
    outcome = recorded.outcome
    if outcome in COUNTED:
        metrics.count(metrics.VOTES)
    if outcome is labelling.VoteOutcome.ACCEPTED:
        metrics.count(metrics.LABELS_ACCEPTED)
    return outcome.value


@metrics.published
@logger.inject_lambda_context
@requires_settings("labels", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = list(KinesisStreamEvent(event).records)
    recorded = labelling.record_payloads([record.kinesis.data_as_bytes() for record in records])
    by_sequence = {record.kinesis.sequence_number: result for record, result in zip(records, recorded, strict=True)}

    def record_handler(record: KinesisStreamRecord) -> str:
        return report(by_sequence[record.kinesis.sequence_number])

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
