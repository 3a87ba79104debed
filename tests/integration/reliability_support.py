"""What the reliability tests share (faults, abuse, fuzzing): the captcha loop through its handlers, the vote
stream read back, the Votes and Outbox tables counted, and the template's poller run until the stream is done."""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

from pydantic import TypeAdapter

from drcaptcha import aws, charset
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import CROWD, GlyphItem
from drcaptcha.models.tables.outbox import OutboxItem
from drcaptcha.models.tables.votes import VoteItem
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.gateway.app import running_gateway
from drcaptcha_ops.poller import StreamPoller, create_poller
from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.integration.captcha_support import (
    CLIENT_IP,
    SIGNING_KEY,
    CaptchaStack,
    Reply,
    api_event,
    invoke,
    proof,
    true_labels,
)


def get_challenge(sitekey: str, source_ip: str = CLIENT_IP) -> Reply:
    return invoke(
        captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": sitekey}, source_ip=source_ip)
    )


def post_answer(challenge_id: str, answer: str, sitekey: str | None = None) -> Reply:
    body = {"challenge_id": challenge_id, "answer": answer, "pow_solution": proof(challenge_id)}
    body |= {"sitekey": sitekey} if sitekey else {}
    return invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=body))


def siteverify(secret: str, response: str, **extra: str) -> Reply:
    return invoke(
        siteverify_app.handler,
        api_event("POST", "/v1/siteverify", json_body={"secret": secret, "response": response, **extra}),
    )


@dataclass(frozen=True)
class Pass:
    challenge_id: str
    token: str
    vote_ids: frozenset[str]


def pass_challenge(stack: CaptchaStack, sitekey: str, source_ip: str = CLIENT_IP) -> Pass:
    """Fetch a challenge and answer it right; the pass's token and the ids of the votes it casts."""
    return answer_right(stack, fetch_challenge(sitekey, source_ip))


def fetch_challenge(sitekey: str, source_ip: str = CLIENT_IP) -> str:
    """A new challenge's id."""
    challenge = get_challenge(sitekey, source_ip)
    assert challenge.status == 200, challenge.body
    challenge_id: str = challenge.body["challenge_id"]
    return challenge_id


def answer_right(stack: CaptchaStack, challenge_id: str) -> Pass:
    """Answer the challenge right; the pass's token and the ids of the votes it casts."""
    item = stack.challenge_item(challenge_id)
    reply = post_answer(challenge_id, stack.right_answer(challenge_id))
    assert reply.status == 200 and reply.body["success"] is True, reply.body
    votes = frozenset(f"{challenge_id}:{p}" for p, label in enumerate(item.expected) if label == REMOVED)
    return Pass(challenge_id, reply.body["token"], votes)


def stream_votes() -> list[VoteRecord]:
    """Every vote record on the stream since its start (duplicates included)."""
    kinesis = aws.client("kinesis")
    stream = get_settings().votes_stream
    votes = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            reply = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            votes += [VoteRecord.model_validate_json(record["Data"]) for record in reply["Records"]]
            iterator = reply.get("NextShardIterator") if reply["Records"] else None
    return votes


def recorded_vote_ids() -> list[str]:
    """The vote ids in the Votes table (one row per vote: a repeated id would be a vote counted twice)."""
    return [vote.vote_id for vote in VoteItem.scan(consistent_read=True)]


def outbox_vote_ids() -> list[str]:
    votes = TypeAdapter(list[VoteRecord])
    return [vote.vote_id for item in OutboxItem.scan(consistent_read=True) for vote in votes.validate_json(item.votes)]


@contextmanager
def template_poller(emulator: Emulator) -> Iterator[StreamPoller]:
    """The template's Kinesis consumers, polled as Lambda's event source mappings would be.

    The poller exports the functions' environment (where the signing key is an SSM parameter): it is given back
    afterwards, and the tests' signing key set again meanwhile.
    """
    with patch.dict(os.environ):
        poller = create_poller(stack=emulator.stack)
        os.environ["TOKEN_SIGNING_KEY"] = SIGNING_KEY
        reset_settings()
        yield poller
    reset_settings()


def poll_until_quiet(poller: StreamPoller, rounds: int = 20) -> int:
    """Poll until a round delivers nothing (retries and bisections included); return the records delivered."""
    delivered = 0
    for _ in range(rounds):
        count = poller.poll_once()
        if count == 0:
            return delivered
        delivered += count
    raise AssertionError(f"the stream was still delivering after {rounds} rounds")


def truthful_answer(stack: CaptchaStack, challenge_id: str) -> str:
    """What a human who reads every glyph right types, the unlabelled ones included (their true labels)."""
    item = stack.challenge_item(challenge_id)
    return "".join(charset.character_of(label) for label in true_labels(stack.emnist_dir, list(item.glyph_ids)))


def label_every_glyph_by_consensus(
    stack: CaptchaStack, emulator: Emulator, sitekey: str, passes_a_round: int = 8, rounds: int = 5
) -> int:
    """Visitors (an address each) pass challenges, reading every glyph right, and the template's labels consumer
    counts their votes off the stream, round after round, until consensus has labelled every glyph the stack
    left unlabelled. Returns the passes it took."""
    passes = 0
    for _ in range(rounds):
        for _ in range(passes_a_round):
            passes += 1
            challenge = get_challenge(sitekey, source_ip=f"198.51.{passes // 256}.{passes % 256}")
            assert challenge.status == 200, challenge.body
            challenge_id = challenge.body["challenge_id"]
            reply = post_answer(challenge_id, truthful_answer(stack, challenge_id))
            assert reply.status == 200 and reply.body["success"] is True, reply.body
        with template_poller(emulator) as poller:
            poll_until_quiet(poller)
        states = {GlyphItem.get(glyph_id, consistent_read=True).state for glyph_id in stack.unlabelled}
        if states == {CROWD}:
            return passes
    raise AssertionError(f"consensus had not labelled every glyph after {passes} passes: {states}")


# --- over HTTP, through the local gateway --------------------------------------------------------------------
@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@contextmanager
def served_gateway() -> Iterator[str]:
    """The local gateway serving template.yaml's routes and web/ on 127.0.0.1; yields its base URL.

    The gateway exports the template's environment (where the signing key is an SSM parameter): it is given
    back afterwards, and the tests' signing key set again meanwhile.
    """
    with patch.dict(os.environ), running_gateway() as url:
        os.environ["TOKEN_SIGNING_KEY"] = SIGNING_KEY
        reset_settings()
        yield url
    reset_settings()


def http_request(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> HttpReply:
    """One request, with the path sent exactly as given (http.client does not normalise `..` or `%2e`)."""
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return HttpReply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def http_json(base_url: str, method: str, path: str, payload: Any = None) -> HttpReply:
    body = None if payload is None else json.dumps(payload).encode()
    return http_request(base_url, method, path, body, {"Content-Type": "application/json"} if body else None)
