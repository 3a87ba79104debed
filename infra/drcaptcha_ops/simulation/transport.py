"""The ways into the captcha API: the library calls the handlers make, or HTTP through the local gateway."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Protocol

from drcaptcha import pow
from drcaptcha.challenges import CaptchaRuntime, answer_challenge, issue_challenge
from drcaptcha.errors import DrCaptchaError


class Transport(Protocol):
    def challenge(self, address: str) -> tuple[str, bytes] | None:
        """(challenge id, PNG), or None when the API refused (rate limit)."""

    def answer(self, challenge_id: str, text: str) -> bool: ...


def _png_of(data_url: str) -> bytes:
    return base64.b64decode(data_url.split(",", 1)[1])


@dataclass
class SimulatedClock:
    """The simulation's time: one step per challenge, so rate limits and caches behave as at a steady rate."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@dataclass
class LibraryTransport:
    """The functions the captcha handlers call, with a runtime on the simulation's clock."""

    runtime: CaptchaRuntime
    site_key: str
    # Each open challenge's proof-of-work difficulty: every agent, human or bot, solves it before answering.
    _difficulty: dict[str, int] = field(default_factory=dict)

    def challenge(self, address: str) -> tuple[str, bytes] | None:
        try:
            reply = issue_challenge(self.runtime, self.site_key, address)
        except DrCaptchaError as error:
            if error.status == 429:
                return None
            raise
        self._difficulty[reply.challenge_id] = reply.pow.difficulty
        return reply.challenge_id, _png_of(str(reply.image))

    def answer(self, challenge_id: str, text: str) -> bool:
        nonce = pow.solve(challenge_id, self._difficulty.pop(challenge_id, 0))
        return answer_challenge(self.runtime, challenge_id, text, self.site_key, pow_solution=nonce).success


@dataclass
class GatewayTransport:
    """HTTP through the local gateway; each agent connects from its own loopback address (127.k.x.y)."""

    base_url: str
    site_key: str
    _address: str = "127.0.0.1"
    _difficulty: dict[str, int] = field(default_factory=dict)

    def _request(self, address: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(self.base_url)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, source_address=(address, 0))
        try:
            payload = None if body is None else json.dumps(body)
            headers = {} if body is None else {"content-type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def challenge(self, address: str) -> tuple[str, bytes] | None:
        status, body = self._request(
            address, "GET", "/v1/challenge?" + urllib.parse.urlencode({"sitekey": self.site_key})
        )
        if status == 429:
            return None
        if status != 200:
            raise DrCaptchaError(f"the gateway answered {status} to a challenge request: {body}")
        self._address = address
        self._difficulty[str(body["challenge_id"])] = int(body["pow"]["difficulty"])
        return str(body["challenge_id"]), _png_of(str(body["image"]))

    def answer(self, challenge_id: str, text: str) -> bool:
        nonce = pow.solve(challenge_id, self._difficulty.pop(challenge_id, 0))
        request = {"challenge_id": challenge_id, "answer": text, "sitekey": self.site_key, "pow_solution": nonce}
        status, body = self._request(self._address, "POST", "/v1/answer", request)
        if status != 200:
            raise DrCaptchaError(f"the gateway answered {status} to an answer: {body}")
        return bool(body["success"])
