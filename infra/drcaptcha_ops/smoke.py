"""The smoke test an operator runs after a deploy: the captcha loop end to end over HTTP, through a test site.

A test site (`drcaptcha create-site --test-mode`) issues real challenges, lets every well-formed answer pass and
casts no votes, like Cloudflare Turnstile's test keys; its tokens redeem only with its own secret. So the smoke
test exercises the deployed routes, tables, bucket and signing key without teaching the crowd anything.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drcaptcha import pow
from drcaptcha.charset import character_of
from drcaptcha_ops import webpublish

TIMEOUT_SECONDS = 15
DUPLICATE = "timeout-or-duplicate"


class SmokeFailure(Exception):
    """One step's check failed: the message says what was expected and what came back."""


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class HttpReply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise SmokeFailure(f"HTTP {self.status}, not JSON: {self.body[:120]!r}") from error


def http(url: str, body: dict[str, Any] | None = None) -> HttpReply:
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise SmokeFailure(f"not an http(s) URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - an operator's URL
            return HttpReply(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as error:
        return HttpReply(error.code, error.headers.get("Content-Type", ""), error.read())
    except (urllib.error.URLError, TimeoutError) as error:
        raise SmokeFailure(f"cannot reach {url}: {error}") from error


@dataclass
class SmokeTest:
    api: str
    site_key: str
    secret: str
    widget_url: str | None = None

    def __post_init__(self) -> None:
        self.api = self.api.rstrip("/")
        self._challenge: dict[str, Any] = {}
        self._token = ""

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("challenge", self.fetch_challenge),
            ("answer (test site: no vote)", self.answer),
            ("siteverify", self.verify),
            ("siteverify refuses a replay", self.verify_again),
            ("API document", self.api_document),
            ("widget script", self.widget),
        ]

    def run(self) -> Iterator[StepResult]:
        """Each step in order; after a failure the steps that depend on it are not run."""
        for name, step in self.steps():
            try:
                detail = step()
            except SmokeFailure as failure:
                yield StepResult(name, False, str(failure))
                if name in {"challenge", "answer (test site: no vote)"}:
                    return
                continue
            yield StepResult(name, True, detail)

    def fetch_challenge(self) -> str:
        reply = http(f"{self.api}/v1/challenge?sitekey={self.site_key}")
        body = reply.json()
        if reply.status != 200:
            raise SmokeFailure(f"HTTP {reply.status}: {body}")
        if not str(body.get("image", "")).startswith("data:image/png;base64,") or not body.get("challenge_id"):
            raise SmokeFailure(f"no challenge id or PNG image in {sorted(body)}")
        self._challenge = body
        return f"{body['length']} glyphs, expires in {body['expires_in']} s"

    def answer(self) -> str:
        typed = character_of(0) * int(self._challenge["length"])
        challenge_id = str(self._challenge["challenge_id"])
        request = {"challenge_id": challenge_id, "answer": typed, "sitekey": self.site_key}
        # The smoke test solves the proof of work as the widget's worker does (drcaptcha/pow.py).
        request["pow_solution"] = pow.solve(challenge_id, int(self._challenge.get("pow", {}).get("difficulty", 0)))
        reply = http(f"{self.api}/v1/answer", request)
        body = reply.json()
        if reply.status != 200 or not body.get("success"):
            raise SmokeFailure(
                f"HTTP {reply.status}: {body}; is {self.site_key} a test site (drcaptcha create-site --test-mode)?"
            )
        self._token = str(body["token"])
        return "passed, token received"

    def verify(self) -> str:
        body = self._siteverify()
        if not body.get("success"):
            raise SmokeFailure(f"the token was not accepted: {body.get('error-codes')}")
        return f"success for {body.get('hostname')!r}"

    def verify_again(self) -> str:
        body = self._siteverify()
        if body.get("success") or DUPLICATE not in body.get("error-codes", []):
            raise SmokeFailure(f"a second redemption answered {body}")
        return DUPLICATE

    def _siteverify(self) -> dict[str, Any]:
        reply = http(f"{self.api}/v1/siteverify", {"secret": self.secret, "response": self._token})
        body: dict[str, Any] = reply.json()
        if reply.status != 200:
            raise SmokeFailure(f"HTTP {reply.status}: {body}")
        return body

    def api_document(self) -> str:
        reply = http(f"{self.api}/openapi.json")
        paths = reply.json().get("paths", {}) if reply.status == 200 else {}
        if "/v1/challenge" not in paths:
            raise SmokeFailure(f"HTTP {reply.status}, /v1/challenge not among the paths")
        return f"{len(paths)} paths"

    def widget(self) -> str:
        if not self.widget_url:
            return "skipped (no --widget-url)"
        reply = http(self.widget_url)
        if reply.status != 200 or "javascript" not in reply.content_type or not reply.body:
            raise SmokeFailure(f"HTTP {reply.status}, {reply.content_type!r}, {len(reply.body)} bytes")
        # The versioned path (/widget/<version>/widget.js, publish-web) must serve the content it is named after.
        versioned = re.search(r"/widget/([0-9a-f]{16})/widget\.js$", urllib.parse.urlsplit(self.widget_url).path)
        if versioned and webpublish.version(reply.body) != versioned[1]:
            raise SmokeFailure(f"the widget at version {versioned[1]} is version {webpublish.version(reply.body)}")
        return f"{len(reply.body)} bytes of JavaScript, integrity {webpublish.integrity(reply.body)}"
