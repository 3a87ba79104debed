"""What the captcha API's integration tests share: real EMNIST glyphs in the store, a hand-moved clock, API
Gateway v2 events, and calls to the handlers as Lambda makes them."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drcaptcha import charset, lookalikes, pow, sites
from drcaptcha.challenges import CaptchaRuntime, replace_runtime
from drcaptcha.config import reset_settings
from drcaptcha.glyphs import REMOVED, SHARD_SIZE, GlyphRef
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha_ops.lambda_runner import LocalLambdaContext
from tests.fixtures.glyph_data import read_emnist, seed_glyph_store

SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789"
SHARDS = 2
UNLABELLED_PER_SHARD = 3
CLIENT_IP = "203.0.113.7"


def put_glyphs(emnist_dir: Path) -> list[str]:
    """Two real training shards with a few labels removed (and GlyphItems for them); returns the unlabelled ids."""
    offsets = [shard * SHARD_SIZE + offset for shard in range(SHARDS) for offset in range(UNLABELLED_PER_SHARD)]
    seeded = seed_glyph_store(train=SHARD_SIZE * SHARDS, test=0, unlabelled=offsets, folder=emnist_dir)
    return [ref.key for ref in seeded.unlabelled]


def true_labels(emnist_dir: Path, glyph_ids: list[str]) -> list[int]:
    _, labels = read_emnist(SHARD_SIZE * SHARDS, emnist_dir)
    refs = [GlyphRef.parse(glyph_id) for glyph_id in glyph_ids]
    return [int(labels[ref.shard * SHARD_SIZE + ref.offset]) for ref in refs]


@dataclass
class ManualClock:
    """A clock the test moves by hand; every part of the runtime reads it."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CaptchaStack:
    emnist_dir: Path
    clock: ManualClock
    runtime: CaptchaRuntime
    unlabelled: list[str]

    def create_site(self, domain: str = "example.com") -> sites.NewSite:
        return sites.create_site(domain)

    def challenge_item(self, challenge_id: str) -> ChallengeItem:
        return ChallengeItem.get(challenge_id, consistent_read=True)

    def right_answer(self, challenge_id: str, unlabelled_answer: str = "7") -> str:
        """What a human who reads every glyph right types (unlabelled glyphs: `unlabelled_answer`)."""
        item = self.challenge_item(challenge_id)
        return "".join(
            unlabelled_answer if expected == REMOVED else charset.character_of(expected) for expected in item.expected
        )

    def wrong_answer(self, challenge_id: str) -> str:
        """Right everywhere except at every scored position (the pass rule forgives one wrong glyph)."""
        item = self.challenge_item(challenge_id)
        typed = list(self.right_answer(challenge_id))
        for position, label in enumerate(item.expected):
            if label != REMOVED:
                typed[position] = next(c for c in "0AX" if not lookalikes.accepts(label, c))
        return "".join(typed)


def proof(challenge_id: str) -> str:
    """A proof-of-work nonce for the challenge, at the difficulty its item stores (as the widget's worker finds one
    from the challenge's `pow`); "0" for a challenge that is not stored."""
    try:
        item = ChallengeItem.get(challenge_id, consistent_read=True)
    except ChallengeItem.DoesNotExist:
        return "0"
    return pow.solve(challenge_id, int(item.pow_difficulty or 0))


def start_captcha_stack(emnist_dir: Path, monkeypatch: Any) -> CaptchaStack:
    """Glyphs in the (fresh) emulator, a signing key, and a warm runtime on a hand-moved clock."""
    monkeypatch.setenv("TOKEN_SIGNING_KEY", SIGNING_KEY)
    reset_settings()
    unlabelled = put_glyphs(emnist_dir)
    clock = ManualClock()
    runtime = CaptchaRuntime.create(clock=clock)
    replace_runtime(runtime)
    return CaptchaStack(emnist_dir=emnist_dir, clock=clock, runtime=runtime, unlabelled=unlabelled)


# --- Lambda invocations -------------------------------------------------------------------------------------
def api_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    json_body: Any = None,
    raw_body: str | None = None,
    content_type: str = "application/json",
    source_ip: str = CLIENT_IP,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the gateway or AWS sends it."""
    body = json.dumps(json_body) if json_body is not None else raw_body
    if body is not None and base64_body:
        body = base64.b64encode(body.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urllib.parse.urlencode(query or {}),
        "headers": {"content-type": content_type, "user-agent": "pytest"} if body is not None else {},
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "t"},
            "requestId": "req",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "26/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def invoke(handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any]) -> Reply:
    context = LocalLambdaContext(
        function_name="test", memory_limit_in_mb=512, invoked_function_arn="arn:aws:lambda:test", timeout_s=10
    )
    result = handler(event, context)
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
    parsed = json.loads(body) if headers.get("content-type", "").startswith("application/json") else body
    return Reply(result["statusCode"], headers, parsed)
