"""Faults: DynamoDB, S3 and Kinesis unavailable or throttled, injected at the botocore level
(drcaptcha_ops.faults), while the captcha loop and the labels consumer run against the emulator.

What must hold: the API answers 503 in the JSON error shape (siteverify: HTTP 200 `internal-error`); no
challenge is left marked used without its outcome; no vote is lost (votes in == votes recorded, each once); the
consumer survives poison records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from drcaptcha import aws, warm
from drcaptcha.challenges import CaptchaRuntime, replace_runtime
from drcaptcha.config import reset_settings
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.models.tables.outbox import OutboxItem
from drcaptcha.models.tables.rate_limits import RateLimitCounter
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.faults import inject_fault
from drcaptcha_ops.lambda_runner import LocalLambdaContext
from functions.outbox_replay import app as replay_app
from tests.integration.captcha_support import CaptchaStack, start_captcha_stack
from tests.integration.reliability_support import (
    answer_right,
    fetch_challenge,
    get_challenge,
    outbox_vote_ids,
    pass_challenge,
    poll_until_quiet,
    post_answer,
    recorded_vote_ids,
    siteverify,
    stream_votes,
    template_poller,
)


@pytest.fixture
def stack(emulator: Emulator, emnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CaptchaStack]:
    # One attempt per boto3 call keeps a lasting fault fast to hit; pynamodb keeps its own retries.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    warm.reset()
    yield start_captcha_stack(emnist_dir, monkeypatch)


def replay_outbox() -> dict[str, int]:
    context = LocalLambdaContext("OutboxReplayFunction", 256, "arn:aws:lambda:local:outbox-replay", timeout_s=60)
    return dict(replay_app.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context))


def assert_service_unavailable(reply: object) -> None:
    assert getattr(reply, "status", None) == 503, reply
    body = getattr(reply, "body", {})
    assert body["error"]["code"] == "service-unavailable"
    assert set(body["error"]) == {"code", "message"}


# --- the captcha API ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["unavailable", "throttled"])
@pytest.mark.parametrize(
    ("operation", "hits_after"),
    [
        # The client's counter update fails (and the read after it): nothing counted.
        pytest.param("UpdateItem", (1, 1), id="counting"),
        # The challenge's put fails after its counter was updated: counting and storing are two writes, not one
        # transaction, so the refused challenge cost the client one hit (store/rate_limits.py).
        pytest.param("PutItem", (2, 2), id="storing"),
    ],
)
def test_dynamodb_failing_when_a_challenge_is_issued_is_a_503_that_stores_nothing(
    stack: CaptchaStack, kind: str, operation: str, hits_after: tuple[int, int]
) -> None:
    # Given a site whose key the warm cache knows, and a client with one challenge counted
    site = stack.create_site()
    assert get_challenge(site.site_key).status == 200
    stored_before = ChallengeItem.count()

    # When DynamoDB fails the counting or the storing of the next one
    with inject_fault("dynamodb", operation, kind=kind) as fault:  # type: ignore[arg-type]
        reply = get_challenge(site.site_key)

    # Then the client gets a 503 in the error shape and no challenge was stored; the counter (both staggered
    # windows in one item) holds the first challenge's hit, and the second's only if it was counted
    assert_service_unavailable(reply)
    assert fault.injected >= 1
    assert ChallengeItem.count() == stored_before
    assert [(counter.hits_of("a"), counter.hits_of("b")) for counter in RateLimitCounter.scan()] == [hits_after]


def test_s3_down_on_a_cold_start_is_a_503_and_the_next_request_after_recovery_works(stack: CaptchaStack) -> None:
    # Given a cold process: no glyph shard cached yet
    site = stack.create_site()
    replace_runtime(CaptchaRuntime.create(clock=stack.clock))

    # When S3 cannot be reached
    with inject_fault("s3", kind="unavailable") as fault:
        failed = get_challenge(site.site_key)
    recovered = get_challenge(site.site_key)

    # Then that challenge is a 503, nothing was stored for it, and the next one works
    assert_service_unavailable(failed)
    assert fault.injected >= 1
    assert recovered.status == 200
    assert ChallengeItem.count() == 1


@pytest.mark.parametrize("kind", ["unavailable", "throttled"])
def test_dynamodb_failing_on_an_answer_is_a_503_that_leaves_the_challenge_open(stack: CaptchaStack, kind: str) -> None:
    # Given an issued challenge
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    answer = stack.right_answer(challenge_id)

    # When DynamoDB fails the answer's conditional update, and the visitor retries after it recovered
    with inject_fault("dynamodb", "UpdateItem", kind=kind):  # type: ignore[arg-type]
        failed = post_answer(challenge_id, answer)
    item = stack.challenge_item(challenge_id)
    retried = post_answer(challenge_id, answer)

    # Then the failed answer left the challenge unused with no outcome, and the retry passed with its votes
    assert_service_unavailable(failed)
    assert item.used is False and item.outcome is None
    assert retried.body["success"] is True
    assert len(stream_votes()) == 3


def test_kinesis_down_after_passes_keeps_every_vote_in_the_outbox_and_the_replay_counts_each_once(
    stack: CaptchaStack, emulator: Emulator
) -> None:
    # Given five visitors who pass while Kinesis is down
    site = stack.create_site()
    with inject_fault("kinesis", "PutRecords", kind="unavailable"):
        passes = [pass_challenge(stack, site.site_key) for _ in range(5)]
        # And a replay round while it is still down
        early_round = replay_outbox()
    votes_in = set().union(*(p.vote_ids for p in passes))

    # Then each visitor got a token that verifies, the stream got nothing, and the outbox holds every vote
    assert all(siteverify(site.secret, p.token).body["success"] is True for p in passes)
    assert stream_votes() == []
    assert sorted(outbox_vote_ids()) == sorted(votes_in)
    assert early_round["kept_items"] == 5 and early_round["replayed_items"] == 0

    # When Kinesis is back and the scheduled replay runs, and the labels consumer reads the stream
    replayed = replay_outbox()
    with template_poller(emulator) as poller:
        poll_until_quiet(poller)

    # Then the outbox is empty and the Votes table holds each vote exactly once: 15 in, 15 recorded
    assert replayed == {"replayed_items": 5, "replayed_votes": 15, "kept_items": 0, "unreadable_items": 0}
    assert OutboxItem.count() == 0
    recorded = recorded_vote_ids()
    assert sorted(recorded) == sorted(votes_in)
    assert len(recorded) == len(votes_in) == 15


def test_a_replay_whose_delete_fails_is_replayed_again_and_still_counted_once(
    stack: CaptchaStack, emulator: Emulator
) -> None:
    # Given votes in the outbox
    site = stack.create_site()
    with inject_fault("kinesis", "PutRecords", kind="unavailable"):
        passed = pass_challenge(stack, site.site_key)

    # When a replay puts them on the stream but cannot delete its item, and the next round replays them again
    with inject_fault("dynamodb", "DeleteItem", kind="unavailable"), pytest.raises(Exception, match="delete item"):
        replay_outbox()
    second = replay_outbox()
    with template_poller(emulator) as poller:
        poll_until_quiet(poller)

    # Then the stream carried each vote twice, and the Votes table holds each once
    assert sorted(vote.vote_id for vote in stream_votes()) == sorted([*passed.vote_ids, *passed.vote_ids])
    assert second["replayed_votes"] == 3
    assert sorted(recorded_vote_ids()) == sorted(passed.vote_ids)


def test_a_stream_that_refuses_every_record_sends_the_votes_to_the_outbox(stack: CaptchaStack) -> None:
    # Given a hot shard: PutRecords answers 200 but takes none of the records, on the first try and the retry
    site = stack.create_site()
    with inject_fault("kinesis", "PutRecords", kind="refuse-records") as fault:
        passed = pass_challenge(stack, site.site_key)

    # Then the pass stands, and the three votes are in the outbox rather than lost
    assert fault.injected == 2
    assert stream_votes() == []
    assert sorted(outbox_vote_ids()) == sorted(passed.vote_ids)


def test_a_single_throttle_is_retried_away_and_no_vote_waits_in_the_outbox(
    stack: CaptchaStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the default retry policy (3 attempts), and Kinesis throttling one attempt
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    reset_settings()
    aws.reset_clients()
    site = stack.create_site()
    with inject_fault("kinesis", "PutRecords", kind="throttled", times=1) as fault:
        passed = pass_challenge(stack, site.site_key)

    # Then the retry put the votes on the stream, and the outbox is empty
    assert fault.injected == 1
    assert sorted(vote.vote_id for vote in stream_votes()) == sorted(passed.vote_ids)
    assert OutboxItem.count() == 0


def test_stream_and_outbox_both_down_still_gives_the_token_and_logs_every_vote(
    stack: CaptchaStack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a challenge, then Kinesis down and DynamoDB refusing the outbox's PutItem (the pass's own UpdateItem
    # still works)
    site = stack.create_site()
    challenge_id = fetch_challenge(site.site_key)
    with (
        caplog.at_level(logging.ERROR),
        inject_fault("kinesis", "PutRecords"),
        inject_fault("dynamodb", "PutItem", kind="throttled"),
    ):
        passed = answer_right(stack, challenge_id)

    # Then the visitor has their token, and each vote is in the ERROR log: the record of last resort
    assert passed.token
    logged = " ".join(str(getattr(record, "unsent_votes", "")) for record in caplog.records)
    assert all(vote_id in logged for vote_id in passed.vote_ids)
    assert OutboxItem.count() == 0


# --- siteverify ----------------------------------------------------------------------------------------------
def test_siteverify_with_dynamodb_down_is_a_retryable_internal_error_and_the_token_survives(
    stack: CaptchaStack,
) -> None:
    # Given a pass token
    site = stack.create_site()
    siteverify(site.secret, "dc1.warm.up")  # the site's key in the warm cache
    passed = pass_challenge(stack, site.site_key)

    # When siteverify cannot reach DynamoDB, and the site's backend retries afterwards
    with inject_fault("dynamodb", kind="unavailable"):
        failed = siteverify(site.secret, passed.token)
    retried = siteverify(site.secret, passed.token)

    # Then the failure is HTTP 200 `internal-error` (not a consumed token), and the retry verifies it
    assert failed.status == 200
    assert failed.body["success"] is False and failed.body["error-codes"] == ["internal-error"]
    assert retried.body["success"] is True


# --- the labels consumer ---------------------------------------------------------------------------------
def test_the_consumer_throttled_by_dynamodb_retries_and_counts_every_vote_once(
    stack: CaptchaStack, emulator: Emulator
) -> None:
    # Given twelve votes on the stream
    site = stack.create_site()
    passes = [pass_challenge(stack, site.site_key) for _ in range(4)]
    votes_in = set().union(*(p.vote_ids for p in passes))

    with template_poller(emulator) as poller:
        # When the labels function's per-glyph counts are throttled for its first deliveries
        with inject_fault("dynamodb", "UpdateItem", kind="throttled", times=6) as fault:
            poller.poll_once()
        # And the poller keeps delivering after DynamoDB recovered
        poll_until_quiet(poller)

    # Then every vote is in the Votes table exactly once
    assert fault.injected == 6
    recorded = recorded_vote_ids()
    assert sorted(recorded) == sorted(votes_in)
    assert len(recorded) == 12


def test_poison_records_reach_the_on_failure_queue_and_the_rest_of_the_batch_is_counted(
    stack: CaptchaStack, emulator: Emulator
) -> None:
    # Given real votes with two poison records among them on the stream
    site = stack.create_site()
    first = pass_challenge(stack, site.site_key)
    kinesis = aws.client("kinesis")
    stream = emulator.stack.physical_name("VotesStream")
    poison_sequences = [
        int(kinesis.put_record(StreamName=stream, Data=poison, PartitionKey="poison")["SequenceNumber"])
        for poison in (b"not json", json.dumps({"vote_id": "x"}).encode())
    ]
    second = pass_challenge(stack, site.site_key)

    # When the template's poller runs until the stream is quiet
    with template_poller(emulator) as poller:
        poll_until_quiet(poller, rounds=40)

    # Then the on-failure queue names the shard range that holds both poison records (Lambda reports the batch
    # from its first failed record on: the good records after it were processed all the same), and every real
    # vote was counted once
    sqs = aws.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=emulator.stack.physical_name("VotesDeadLetterQueue"))["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ranges = [
        (int(info["startSequenceNumber"]), int(info["endSequenceNumber"]))
        for info in (json.loads(message["Body"])["KinesisBatchInfo"] for message in messages)
    ]
    assert all(any(start <= sequence <= end for start, end in ranges) for sequence in poison_sequences)
    assert min(start for start, _ in ranges) == poison_sequences[0]
    assert sorted(recorded_vote_ids()) == sorted(first.vote_ids | second.vote_ids)
