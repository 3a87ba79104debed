"""The labels function against the moto server: real VoteRecords on the real stream, read back as the Kinesis
batches Lambda would send (built by the local poller's `kinesis_event`), given to the handler.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from drcaptcha import aws, charset, labelling, warm
from drcaptcha.config import get_settings
from drcaptcha.consensus import model_source
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, READ_RIGHT, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import AcceptanceItem, SourceItem, VoteItem
from drcaptcha.store.glyphs import CountedVote, Glyph, GlyphVoteStore
from drcaptcha_ops.awscalls import count_aws_calls
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.faults import inject_fault
from drcaptcha_ops.lambda_runner import LocalLambdaContext
from drcaptcha_ops.poller import StreamSubscription, create_poller, kinesis_event, stream_subscriptions
from functions.labels import app

SAMPLE_EVENT = Path(__file__).resolve().parents[1] / "events" / "kinesis_votes.json"
GLYPH = "train:00003:0042"
GOLD_GLYPH = "train:00001:0007"
OTHER_GLYPH = "train:00004:0100"


def make_glyph(glyph_id: str = GLYPH) -> GlyphItem:
    glyph = GlyphItem(glyph_id, state=UNLABELLED)
    glyph.save()
    return glyph


def vote(number: int, label: int | None, source: str | None = None, glyph_id: str = GLYPH) -> VoteRecord:
    return VoteRecord(
        vote_id=f"challenge-{number}:{number % 6}",
        glyph_id=glyph_id,
        answer="?" if label is None else str(label),
        label=label,
        source=source or f"client-{number}",
        site_key="site-1",
        challenge_id=f"challenge-{number}",
        ts=1_700_000_000 + number,
    )


def put_on_stream(*payloads: VoteRecord | bytes) -> None:
    records = [
        {"Data": payload, "PartitionKey": "poison"}
        if isinstance(payload, bytes)
        else {"Data": payload.model_dump_json().encode(), "PartitionKey": payload.glyph_id}
        for payload in payloads
    ]
    response = aws.client("kinesis").put_records(StreamName=get_settings().votes_stream, Records=records)
    assert response["FailedRecordCount"] == 0


def labels_subscription(emulator: Emulator) -> StreamSubscription:
    (subscription,) = [s for s in stream_subscriptions(emulator.stack) if s.function_id == "LabelsFunction"]
    return subscription


def batch_from_stream(emulator: Emulator) -> dict[str, Any]:
    """Everything on the stream's shard since its start, as one Kinesis event batch."""
    kinesis = aws.client("kinesis")
    stream = get_settings().votes_stream
    (shard,) = kinesis.list_shards(StreamName=stream)["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator, Limit=100)["Records"]
    return kinesis_event(labels_subscription(emulator), shard["ShardId"], records)


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    context = LocalLambdaContext(
        function_name="LabelsFunction", memory_limit_in_mb=512, invoked_function_arn="arn:local", timeout_s=60
    )
    return dict(app.handler(event, context))


def test_three_agreeing_humans_label_the_glyph_and_the_acceptance_keeps_their_votes(emulator: Emulator) -> None:
    # Given an unlabelled glyph and three passing visitors who all read it as class 12
    make_glyph()
    put_on_stream(vote(1, 12), vote(2, 12), vote(3, 12))

    # When the labels function gets the stream's batch
    response = invoke(batch_from_stream(emulator))

    # Then the glyph is labelled by the crowd, and the acceptance record holds exactly those three votes
    assert response == {"batchItemFailures": []}
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.state, glyph.label, glyph.label_source) == (CROWD, 12, "crowd")
    acceptance = AcceptanceItem.get(GLYPH, consistent_read=True)
    assert acceptance.label == 12
    assert sorted(v.vote_id for v in acceptance.votes) == ["challenge-1:1", "challenge-2:2", "challenge-3:3"]
    assert acceptance.leader_weight == pytest.approx(3.0)
    # And each voter's track record gained an agreement
    assert SourceItem.get("client-2").agreements == 1


def test_gold_readings_give_a_known_glyph_its_reading_rate_and_their_readers_a_track_record(
    emulator: Emulator,
) -> None:
    # Given five readings of a known 0 shown as gold (no item yet): 0, O (the same under the groups), 0, 0 and 7,
    # the first of them delivered twice
    zero, capital_o, seven = (charset.class_of(character) for character in "0O7")
    readings = [
        vote(number, label).model_copy(update={"glyph_id": GOLD_GLYPH, "gold": zero})
        for number, label in enumerate((zero, capital_o, zero, zero, seven), start=1)
    ]
    put_on_stream(*readings, readings[0])

    # When the labels function gets the batch
    response = invoke(batch_from_stream(emulator))

    # Then the glyph counts five readings, four of them right, which makes it read right (in the by-state index)
    assert response == {"batchItemFailures": []}
    glyph = GlyphItem.get(GOLD_GLYPH, consistent_read=True)
    assert (glyph.readings, glyph.read_right, glyph.label, glyph.state) == (5, 4, zero, READ_RIGHT)
    assert [item.glyph_id for item in GlyphItem.by_state.query(READ_RIGHT)] == [GOLD_GLYPH]
    assert not glyph.tallies.attribute_values
    # And each reader's track record gained an agreement or, for the 7, a disagreement
    assert (SourceItem.get("client-2").agreements, SourceItem.get("client-2").disagreements) == (1, 0)
    assert (SourceItem.get("client-5").agreements, SourceItem.get("client-5").disagreements) == (0, 1)
    assert len(list(VoteItem.query(GOLD_GLYPH, consistent_read=True))) == 5


def gold_reading(number: int, typed: str, source: str | None = None) -> VoteRecord:
    """A reading of GOLD_GLYPH, a known 0."""
    zero = charset.class_of("0")
    return vote(number, charset.class_of(typed), source).model_copy(update={"glyph_id": GOLD_GLYPH, "gold": zero})


def track_record(source: str) -> tuple[int, int]:
    item = SourceItem.get(source, consistent_read=True)
    return int(item.agreements), int(item.disagreements)


def test_gold_readings_are_counted_per_glyph_and_per_source_without_a_transaction(emulator: Emulator) -> None:
    # Given three readings of one known glyph by two readers, delivered in one batch
    put_on_stream(gold_reading(1, "0", "reader"), gold_reading(2, "7", "spammer"), gold_reading(3, "O", "reader"))
    event = batch_from_stream(emulator)

    # When the labels function gets it, and then the same batch again
    with count_aws_calls() as first:
        assert invoke(event) == {"batchItemFailures": []}
    with count_aws_calls() as again:
        assert invoke(event) == {"batchItemFailures": []}

    # Then the glyph was counted with one update and each reader credited with one, with no transaction; and
    # the three records kept in one batch write
    assert "dynamodb.TransactWriteItems" not in first.by_operation
    assert first.by_operation["dynamodb.UpdateItem"] == 3
    assert first.by_operation["dynamodb.BatchWriteItem"] == 1
    # And the redelivery, found on record, wrote nothing
    assert not {"dynamodb.UpdateItem", "dynamodb.BatchWriteItem"} & set(again.by_operation)
    glyph = GlyphItem.get(GOLD_GLYPH, consistent_read=True)
    assert (glyph.readings, glyph.read_right) == (3, 2)
    assert track_record("reader") == (2, 0)
    assert track_record("spammer") == (0, 1)
    assert len(list(VoteItem.query(GOLD_GLYPH, consistent_read=True))) == 3


@pytest.mark.parametrize(
    ("operation", "item"),
    [("UpdateItem", b'"reader"'), ("BatchWriteItem", GOLD_GLYPH.encode())],
    ids=["crash-before-the-source-credit", "crash-before-the-record"],
)
def test_a_gold_reading_interrupted_between_its_writes_is_finished_once_by_its_redelivery(
    emulator: Emulator, operation: str, item: bytes
) -> None:
    # Given a batch of two readings by one reader (and a crowd vote), whose delivery fails after the glyph's
    # count: at the reader's credit, or at the readings' records
    make_glyph()
    put_on_stream(gold_reading(1, "0", "reader"), gold_reading(2, "7", "reader"), vote(3, 5))
    event = batch_from_stream(emulator)
    sequences = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]
    with inject_fault("dynamodb", operation, kind="throttled", body_contains=item) as fault:
        response = invoke(event)
    assert fault.injected >= 1
    assert response["batchItemFailures"] == [{"itemIdentifier": sequence} for sequence in sequences[:2]]
    assert GlyphItem.get(GOLD_GLYPH, consistent_read=True).readings == 2

    # When Kinesis delivers the batch again
    assert invoke(event) == {"batchItemFailures": []}

    # Then each reading is counted once on the glyph and credited once to the reader, and both are on record
    glyph = GlyphItem.get(GOLD_GLYPH, consistent_read=True)
    assert (glyph.readings, glyph.read_right) == (2, 1)
    assert track_record("reader") == (1, 1)
    assert len(list(VoteItem.query(GOLD_GLYPH, consistent_read=True))) == 2


def test_a_gold_reading_put_on_the_stream_again_later_is_counted_once(emulator: Emulator) -> None:
    # Given a reading counted and on record, then a later batch that settles the glyph's and reader's maps
    labelling.record_votes([gold_reading(1, "0", "reader")])
    labelling.record_votes([gold_reading(2, "0", "reader")])
    glyph = GlyphItem.get(GOLD_GLYPH, consistent_read=True)
    assert sorted(glyph.gold_pending.attribute_values) == ["challenge-2:2"]
    assert sorted(SourceItem.get("reader", consistent_read=True).gold_pending.attribute_values) == ["challenge-2:2"]

    # When the outbox puts the first reading on the stream again (its delete failed), in a batch with a new one
    results = labelling.record_votes([gold_reading(1, "0", "reader"), gold_reading(3, "0", "reader")])

    # Then the first is a duplicate (found on record), and only the new one is counted
    assert [result.outcome for result in results if isinstance(result, labelling.VoteResult)] == [
        labelling.VoteOutcome.DUPLICATE,
        labelling.VoteOutcome.GOLD,
    ]
    glyph = GlyphItem.get(GOLD_GLYPH, consistent_read=True)
    assert (glyph.readings, glyph.read_right) == (3, 3)
    assert track_record("reader") == (3, 0)
    # And each map holds only the reading of its last batch: it does not grow with the readings
    assert sorted(glyph.gold_pending.attribute_values) == ["challenge-3:3"]
    assert sorted(SourceItem.get("reader", consistent_read=True).gold_pending.attribute_values) == ["challenge-3:3"]


def test_a_batch_delivered_twice_counts_each_vote_once(emulator: Emulator) -> None:
    # Given two votes for an unlabelled glyph, already delivered and counted once
    make_glyph()
    put_on_stream(vote(1, 7), vote(2, 7))
    event = batch_from_stream(emulator)
    invoke(event)
    first = GlyphItem.get(GLYPH, consistent_read=True)

    # When Kinesis delivers the same batch again
    response = invoke(event)

    # Then nothing failed, and the tallies and the vote count are as after the first delivery
    assert response == {"batchItemFailures": []}
    second = GlyphItem.get(GLYPH, consistent_read=True)
    assert first.tallies.attribute_values == {"7": 2.0}
    assert second.tallies.attribute_values == first.tallies.attribute_values
    assert second.votes == first.votes == 2
    assert second.state == UNLABELLED
    assert len(list(VoteItem.query(GLYPH, consistent_read=True))) == 2


def test_a_batch_is_counted_with_one_write_per_glyph_and_its_redelivery_writes_no_count(emulator: Emulator) -> None:
    # Given two unlabelled glyphs, and a batch of five votes for them, interleaved (none of them settles a glyph)
    make_glyph()
    make_glyph(OTHER_GLYPH)
    put_on_stream(
        vote(1, 5), vote(2, 7, glyph_id=OTHER_GLYPH), vote(3, 6), vote(4, 7, glyph_id=OTHER_GLYPH), vote(5, 5)
    )
    event = batch_from_stream(emulator)

    # When the labels function gets it, and then the same batch again
    with count_aws_calls() as first:
        assert invoke(event) == {"batchItemFailures": []}
    with count_aws_calls() as again:
        assert invoke(event) == {"batchItemFailures": []}

    # Then the first delivery counted each glyph's votes with one update, after one read of the batch's glyphs
    # and one of its sources, and kept the five records in one batch write
    assert first.by_operation["dynamodb.UpdateItem"] == 2
    assert first.by_operation["dynamodb.BatchGetItem"] == 2
    assert first.by_operation["dynamodb.BatchWriteItem"] == 1
    assert "dynamodb.TransactWriteItems" not in first.by_operation
    # And the redelivery counted nothing: no update at all, and the glyphs are as after the first delivery
    assert "dynamodb.UpdateItem" not in again.by_operation
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.tallies.attribute_values, glyph.votes) == ({"5": 2.0, "6": 1.0}, 3)
    assert sorted(glyph.counted.attribute_values) == ["challenge-1:1", "challenge-3:3", "challenge-5:5"]
    other = GlyphItem.get(OTHER_GLYPH, consistent_read=True)
    assert (other.tallies.attribute_values, other.votes) == ({"7": 2.0}, 2)
    assert len(list(VoteItem.scan(consistent_read=True))) == 5


def test_a_throttled_glyph_fails_only_its_own_records_and_their_redelivery_counts_them_once(
    emulator: Emulator,
) -> None:
    # Given a batch of votes for two glyphs, and DynamoDB throttling every write to the first glyph's item
    make_glyph()
    make_glyph(OTHER_GLYPH)
    put_on_stream(vote(1, 9), vote(2, 4, glyph_id=OTHER_GLYPH), vote(3, 9), vote(4, 4, glyph_id=OTHER_GLYPH))
    event = batch_from_stream(emulator)
    sequences = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]

    # When the labels function gets the batch while the throttle lasts
    with inject_fault("dynamodb", "UpdateItem", kind="throttled", body_contains=f'"{GLYPH}"'.encode()) as fault:
        response = invoke(event)

    # Then only the throttled glyph's two records are reported, and the other glyph's votes are counted
    assert fault.injected >= 1
    assert response == {"batchItemFailures": [{"itemIdentifier": sequences[0]}, {"itemIdentifier": sequences[2]}]}
    assert GlyphItem.get(GLYPH, consistent_read=True).votes == 0
    assert GlyphItem.get(OTHER_GLYPH, consistent_read=True).tallies.attribute_values == {"4": 2.0}

    # When Kinesis retries from the first failed record (the other glyph's second vote comes again too)
    retry = {"Records": event["Records"][0:]}
    assert invoke(retry) == {"batchItemFailures": []}

    # Then every vote is counted once: the throttled glyph's now, the other glyph's not again
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.tallies.attribute_values, glyph.votes) == ({"9": 2.0}, 2)
    other = GlyphItem.get(OTHER_GLYPH, consistent_read=True)
    assert (other.tallies.attribute_values, other.votes) == ({"4": 2.0}, 2)
    recorded = sorted(item.vote_id for item in VoteItem.scan(consistent_read=True))
    assert recorded == [f"challenge-{number}:{number}" for number in (1, 2, 3, 4)]


def test_a_poison_record_is_reported_and_the_rest_of_its_batch_is_processed(emulator: Emulator) -> None:
    # Given a batch with a record that is not a vote between two good votes
    make_glyph()
    put_on_stream(vote(1, 30), b'{"vote_id": "x"', vote(2, 30))
    event = batch_from_stream(emulator)
    poison_sequence = event["Records"][1]["kinesis"]["sequenceNumber"]

    # When the labels function processes it
    response = invoke(event)

    # Then only the poison record is reported, and both good votes are counted
    assert response == {"batchItemFailures": [{"itemIdentifier": poison_sequence}]}
    assert GlyphItem.get(GLYPH, consistent_read=True).tallies.attribute_values == {"30": 2.0}


def test_a_vote_for_an_unknown_glyph_fails_alone_and_creates_no_glyph(emulator: Emulator) -> None:
    make_glyph()
    put_on_stream(vote(1, 4, glyph_id="train:09999:0001"), vote(2, 4))
    event = batch_from_stream(emulator)

    response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}]}
    with pytest.raises(GlyphItem.DoesNotExist):
        GlyphItem.get("train:09999:0001", consistent_read=True)
    assert GlyphItem.get(GLYPH, consistent_read=True).votes == 1


def test_a_redelivered_vote_finishes_an_acceptance_that_a_crash_interrupted(emulator: Emulator) -> None:
    # Given three agreeing votes, the third counted but its glyph never settled: the function died in between
    make_glyph()
    for number in (1, 2):
        labelling.record_vote(vote(number, 8))
    before = labelling.RECORDS.glyph(GLYPH)
    assert before is not None
    assert labelling.RECORDS.count_glyph_votes(before, [CountedVote("challenge-3:3", "client-3", 8, 1.0)])
    assert GlyphItem.get(GLYPH, consistent_read=True).state == UNLABELLED

    # When Kinesis delivers the third vote again
    result = labelling.record_vote(vote(3, 8))

    # Then it is not counted twice, and the glyph gets its label, its voters their credit and its audit record
    assert result.outcome is labelling.VoteOutcome.DUPLICATE
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.state, glyph.label) == (CROWD, 8)
    assert glyph.tallies.attribute_values == {"8": 3.0}
    assert [track_record(f"client-{number}") for number in (1, 2, 3)] == [(1, 0)] * 3
    assert sorted(v.vote_id for v in AcceptanceItem.get(GLYPH, consistent_read=True).votes) == [
        "challenge-1:1",
        "challenge-2:2",
        "challenge-3:3",
    ]


# Four votes that accept class 8 at the fourth, with one dissent (client-2's 5): every crowd acceptance test below
# starts from them. client-1 also reads a known glyph in the same batch, so it has a `gold_pending` map before its
# credit (the others have no track record yet): both ways of crediting are exercised.
ACCEPTING = ((1, 8), (2, 5), (3, 8), (4, 8))
ACCEPTED_VOTE_IDS = [f"challenge-{number}:{number % 6}" for number, _ in ACCEPTING]


def put_an_accepting_batch() -> None:
    make_glyph()
    put_on_stream(gold_reading(10, "0", "client-1"), *(vote(number, label) for number, label in ACCEPTING))


def credited_for_the_acceptance(source: str) -> bool:
    try:
        pending = SourceItem.get(source, consistent_read=True).gold_pending
    except SourceItem.DoesNotExist:
        return False
    return pending is not None and f"acc:{GLYPH}" in pending.attribute_values


def assert_accepted_once() -> None:
    """The glyph labelled 8 on its four votes, each voter credited exactly once, and the audit record written."""
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.state, glyph.label, glyph.label_source, glyph.votes) == (CROWD, 8, "crowd", 4)
    assert glyph.tallies.attribute_values == {"8": 3.0, "5": 1.0}
    # client-1's gold reading (a 0 read as 0) is one more agreement
    assert [track_record(f"client-{n}") for n, _ in ACCEPTING] == [(2, 0), (0, 1), (1, 0), (1, 0)]
    assert all(credited_for_the_acceptance(f"client-{number}") for number, _ in ACCEPTING)
    acceptance = AcceptanceItem.get(GLYPH, consistent_read=True)
    assert (acceptance.label, acceptance.leader_weight, acceptance.runner_up_weight) == (8, 3.0, 1.0)
    assert acceptance.accepted_at == glyph.accepted_at
    assert sorted(v.vote_id for v in acceptance.votes) == ACCEPTED_VOTE_IDS


def test_an_acceptance_is_a_claim_a_credit_a_voter_and_a_record_without_a_transaction(emulator: Emulator) -> None:
    # Given an unlabelled glyph and a batch whose fourth vote accepts its label
    put_an_accepting_batch()
    event = batch_from_stream(emulator)

    # When the labels function gets it, and then the same batch again
    with count_aws_calls() as first:
        assert invoke(event) == {"batchItemFailures": []}
    with count_aws_calls() as again:
        assert invoke(event) == {"batchItemFailures": []}

    # Then no transaction was written: the glyph's count claimed the acceptance (one update for the glyph), each
    # voter was credited with one update (the known glyph's count and client-1's gold credit are the other two),
    # and the audit record was put last
    assert "dynamodb.TransactWriteItems" not in first.by_operation
    assert first.by_operation["dynamodb.UpdateItem"] == 1 + 4 + 2
    assert first.by_operation["dynamodb.PutItem"] == 1
    assert_accepted_once()
    # And the redelivery found the audit record, and wrote nothing but the votes' records again
    assert not {"dynamodb.UpdateItem", "dynamodb.PutItem"} & set(again.by_operation)
    assert_accepted_once()


@pytest.mark.parametrize(
    ("operation", "item", "credited_before_the_crash"),
    [
        ("UpdateItem", f"acc:{GLYPH}".encode(), []),
        ("UpdateItem", b'"source": {"S": "client-3"}', [1, 2]),
        ("PutItem", b'"leader_weight"', [1, 2, 3, 4]),
    ],
    ids=["crash-after-the-glyph-claim", "crash-after-some-voter-credits", "crash-before-the-audit-record"],
)
def test_an_acceptance_interrupted_between_its_writes_is_finished_once_by_its_redelivery(
    emulator: Emulator, operation: str, item: bytes, credited_before_the_crash: list[int]
) -> None:
    # Given a batch that accepts the glyph's label, whose delivery fails after the glyph's claim: at every
    # voter's credit, at the third voter's credit (the first two are credited), or at the audit record
    put_an_accepting_batch()
    event = batch_from_stream(emulator)
    sequences = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]
    with inject_fault("dynamodb", operation, kind="throttled", body_contains=item) as fault:
        response = invoke(event)
    assert fault.injected >= 1
    # only the glyph's four votes fail (the gold reading was finished)
    assert response["batchItemFailures"] == [{"itemIdentifier": sequence} for sequence in sequences[1:]]
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.state, glyph.label, glyph.votes) == (CROWD, 8, 4)
    assert [n for n, _ in ACCEPTING if credited_for_the_acceptance(f"client-{n}")] == credited_before_the_crash
    with pytest.raises(AcceptanceItem.DoesNotExist):
        AcceptanceItem.get(GLYPH, consistent_read=True)

    # When Kinesis delivers the batch again
    with count_aws_calls() as again:
        assert invoke(event) == {"batchItemFailures": []}

    # Then the redelivery counted nothing again, credited only the voters the crash left out (one update each; the
    # others were found credited in their maps), and wrote the record
    assert again.by_operation.get("dynamodb.UpdateItem", 0) == 4 - len(credited_before_the_crash)
    assert again.by_operation["dynamodb.PutItem"] == 1
    assert_accepted_once()

    # And a third delivery, finding the record, changes nothing
    assert invoke(event) == {"batchItemFailures": []}
    assert_accepted_once()


def test_a_late_vote_finishes_an_acceptance_whose_batch_was_given_up(emulator: Emulator) -> None:
    # Given an acceptance claimed, with no voter credited and no audit record: its batch failed at the credits and
    # was never delivered again (Lambda gave it to the on-failure destination)
    put_an_accepting_batch()
    with inject_fault("dynamodb", "UpdateItem", kind="throttled", body_contains=f"acc:{GLYPH}".encode()):
        invoke(batch_from_stream(emulator))
    assert not any(credited_for_the_acceptance(f"client-{number}") for number, _ in ACCEPTING)
    with pytest.raises(AcceptanceItem.DoesNotExist):
        AcceptanceItem.get(GLYPH, consistent_read=True)

    # When a later vote for the glyph comes, in a batch of its own
    (late,) = labelling.record_votes([vote(5, 9)])

    # Then it is late (counted nowhere), and the acceptance is finished from the glyph's map of counted votes
    assert isinstance(late, labelling.VoteResult)
    assert (late.outcome, late.label) == (labelling.VoteOutcome.LATE, 8)
    assert_accepted_once()
    assert VoteItem.get(GLYPH, "challenge-5:5", consistent_read=True).counted is False


def test_an_acceptance_credit_leaves_its_voters_map_once_the_audit_record_exists(emulator: Emulator) -> None:
    # Given a finished acceptance: its voters' maps hold its credit
    put_an_accepting_batch()
    assert invoke(batch_from_stream(emulator)) == {"batchItemFailures": []}
    assert f"acc:{GLYPH}" in SourceItem.get("client-3", consistent_read=True).gold_pending.attribute_values

    # When one voter reads a known glyph, in a later batch
    labelling.record_votes([gold_reading(11, "0", "client-3")])

    # Then its map drops the acceptance's credit (its audit record proves it), and keeps the new reading's id
    pending = SourceItem.get("client-3", consistent_read=True).gold_pending.attribute_values
    assert sorted(pending) == ["challenge-11:5"]
    assert track_record("client-3") == (2, 0)


class StaleReads(GlyphVoteStore):
    """The real store, except that the batch's read of the glyphs returns them as they were before another
    delivery counted votes: what two deliveries racing on one glyph look like to the later one."""

    def __init__(self, stale: dict[str, Glyph]) -> None:
        self.stale = stale

    def read_glyphs(self, glyph_ids: Collection[str]) -> dict[str, Glyph]:
        return {glyph_id: self.stale[glyph_id] for glyph_id in glyph_ids}


def test_a_delivery_whose_read_went_stale_is_refused_and_counts_only_what_is_missing(emulator: Emulator) -> None:
    # Given a glyph read by one delivery, and votes 1 and 3 counted on it by another delivery right after that read
    make_glyph()
    stale = labelling.RECORDS.glyph(GLYPH)
    assert stale is not None
    labelling.record_votes([vote(1, 8), vote(3, 9)])

    # When the first delivery, holding votes 1 and 2, counts against its stale read
    results = labelling.record_votes([vote(1, 8), vote(2, 8)], records=StaleReads({GLYPH: stale}))

    # Then DynamoDB refused its first update (the vote count had moved), and the retry counted vote 2 alone,
    # keeping the other delivery's votes
    assert [result.outcome for result in results if isinstance(result, labelling.VoteResult)] == [
        labelling.VoteOutcome.DUPLICATE,
        labelling.VoteOutcome.PENDING,
    ]
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.tallies.attribute_values, glyph.votes) == ({"8": 2.0, "9": 1.0}, 3)
    assert sorted(glyph.counted.attribute_values) == ["challenge-1:1", "challenge-2:2", "challenge-3:3"]


def test_votes_that_keep_disagreeing_mark_the_glyph_ambiguous(emulator: Emulator) -> None:
    # Given six visitors who split three ways over one glyph
    make_glyph()
    put_on_stream(*(vote(number, label) for number, label in enumerate([1, 2, 3, 1, 2, 3], start=1)))

    # When the labels function gets them
    invoke(batch_from_stream(emulator))

    # Then the glyph has no label and is marked ambiguous
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert glyph.state == AMBIGUOUS
    assert glyph.label is None
    with pytest.raises(AcceptanceItem.DoesNotExist):
        AcceptanceItem.get(GLYPH)


def test_two_humans_and_the_model_label_a_glyph_and_a_late_vote_changes_nothing(emulator: Emulator) -> None:
    # Given two humans and the active ensemble agreeing on class 9, then a late dissenting human
    make_glyph()
    put_on_stream(vote(1, 9), vote(2, 9, source=model_source("ens-1")), vote(3, 9), vote(4, 20))

    # When the labels function gets them
    invoke(batch_from_stream(emulator))

    # Then the glyph is labelled 9 on 2.5 of weight, and the late vote is kept but counted nowhere
    glyph = GlyphItem.get(GLYPH, consistent_read=True)
    assert (glyph.state, glyph.label) == (CROWD, 9)
    assert glyph.tallies.attribute_values == {"9": 2.5}
    assert AcceptanceItem.get(GLYPH).leader_weight == pytest.approx(2.5)
    late = VoteItem.get(GLYPH, "challenge-4:4", consistent_read=True)
    assert late.counted is False
    # And the model is not given a track record
    with pytest.raises(SourceItem.DoesNotExist):
        SourceItem.get(model_source("ens-1"))


def test_a_source_that_disagreed_with_accepted_labels_is_counted_at_a_lower_weight(emulator: Emulator) -> None:
    # Given a source whose record is mostly disagreement with accepted labels
    SourceItem("client-colluder", agreements=1, disagreements=6).save()
    make_glyph()
    put_on_stream(vote(1, 5, source="client-colluder"))

    # When its vote is counted
    invoke(batch_from_stream(emulator))

    # Then it weighs less than a new source's vote
    weight = VoteItem.get(GLYPH, "challenge-1:1", consistent_read=True).weight
    assert 0 <= weight < 0.5
    assert GlyphItem.get(GLYPH, consistent_read=True).tallies.attribute_values == {"5": weight}


def test_the_sample_event_labels_its_glyph(emulator: Emulator) -> None:
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    glyph_ids = {json.loads(_decode(record))["glyph_id"] for record in event["Records"]}
    (glyph_id,) = glyph_ids
    make_glyph(glyph_id)

    assert invoke(event) == {"batchItemFailures": []}
    assert GlyphItem.get(glyph_id, consistent_read=True).state == CROWD


def _decode(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["kinesis"]["data"])


@pytest.fixture
def isolated_environment() -> Iterator[None]:
    with patch.dict(os.environ):  # the poller exports the functions' environment; give it back afterwards
        yield
    warm.reset()


def test_the_local_poller_feeds_the_templates_labels_function(emulator: Emulator, isolated_environment: None) -> None:
    # Given the template's Kinesis consumers, polled as Lambda's event source mapping would
    poller = create_poller(stack=emulator.stack)
    make_glyph()
    put_on_stream(vote(1, 40), vote(2, 40), vote(3, 40))

    # When the poller makes one round
    delivered = poller.poll_once()

    # Then the labels function got the votes and labelled the glyph
    assert delivered == 3
    assert GlyphItem.get(GLYPH, consistent_read=True).label == 40
