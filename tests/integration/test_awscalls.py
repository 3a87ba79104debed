"""The AWS call counter sees boto3 and pynamodb calls, from any thread, and only while its context is open."""

from __future__ import annotations

import threading

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha.models.tables.glyphs import GlyphItem
from drcaptcha_ops.awscalls import count_aws_calls
from drcaptcha_ops.emulator import Emulator


def _warm_up() -> None:
    """Make the clients and let pynamodb fetch what it fetches once, so the counted part is the warm path."""
    settings = get_settings()
    aws.client("s3").put_object(Bucket=settings.bucket_name, Key="warm", Body=b"")
    aws.client("kinesis").describe_stream_summary(StreamName=settings.votes_stream)
    GlyphItem(glyph_id="train:00000:0000").save()
    GlyphItem.get("train:00000:0000")


def test_a_known_sequence_of_s3_dynamodb_and_kinesis_calls_is_counted_exactly(emulator: Emulator) -> None:
    # Given warm clients, and calls made before the context opens
    settings = get_settings()
    _warm_up()
    s3, kinesis = aws.client("s3"), aws.client("kinesis")

    # When two S3 puts, a pynamodb save and get, and a Kinesis put run inside the context
    with count_aws_calls() as calls:
        s3.put_object(Bucket=settings.bucket_name, Key="a", Body=b"1")
        s3.put_object(Bucket=settings.bucket_name, Key="b", Body=b"2")
        GlyphItem(glyph_id="train:00001:0002").save()
        item = GlyphItem.get("train:00001:0002")
        kinesis.put_record(StreamName=settings.votes_stream, Data=b"{}", PartitionKey=item.glyph_id)
    # and more calls run after it closed
    s3.put_object(Bucket=settings.bucket_name, Key="c", Body=b"3")
    GlyphItem.get("train:00001:0002")

    # Then exactly the calls inside were counted, by service and operation
    assert dict(calls.by_operation) == {
        "s3.PutObject": 2,
        "dynamodb.PutItem": 1,
        "dynamodb.GetItem": 1,
        "kinesis.PutRecord": 1,
    }
    assert calls.total == 5
    assert calls.by_service() == {"s3": 2, "dynamodb": 2, "kinesis": 1}


def test_nested_counters_each_count_their_own_span_including_other_threads(emulator: Emulator) -> None:
    # Given warm clients
    settings = get_settings()
    _warm_up()
    s3 = aws.client("s3")

    # When an outer context holds one S3 call and an inner one, whose pynamodb call runs in another thread
    with count_aws_calls() as outer:
        s3.head_bucket(Bucket=settings.bucket_name)
        with count_aws_calls() as inner:
            worker = threading.Thread(target=lambda: GlyphItem.get("train:00000:0000"))
            worker.start()
            worker.join()

    # Then the inner counter saw the thread's call, and the outer one saw both
    assert dict(inner.by_operation) == {"dynamodb.GetItem": 1}
    assert dict(outer.by_operation) == {"s3.HeadBucket": 1, "dynamodb.GetItem": 1}
