"""What the browser tests share: the servers they start, a page that records its errors, and the answers that
only a test may know (read from the Challenges table, never through the API)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page
from werkzeug.serving import BaseWSGIServer
from werkzeug.test import Client

from drcaptcha import lookalikes, pow
from drcaptcha.charset import NUM_CLASSES, character_of
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.sites import NewSite
from drcaptcha_ops.emulator import Emulator

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# What an unlabelled position gets typed: any class is a valid vote there.
ANY_VOTE = "A"


@dataclass
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def answers_cors_preflight(app: Any) -> bool:
    """Whether the gateway answers a browser's CORS preflight itself, as API Gateway does for a CorsConfiguration."""
    reply = Client(app).options(
        "/v1/answer",
        headers={"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"},
    )
    return reply.status_code < 300 and "Access-Control-Allow-Origin" in reply.headers


def serve_in_thread(server: BaseWSGIServer) -> RunningServer:
    thread = threading.Thread(target=server.serve_forever, name=f"e2e-{server.server_port}", daemon=True)
    thread.start()
    return RunningServer(server, thread)


@dataclass
class Stack:
    emulator: Emulator
    site: NewSite
    api_url: str
    demo_url: str
    route_keys: frozenset[str]
    """The gateway's routes (`POST /v1/recognize`), to tell a page's missing back end from a broken page."""


@dataclass
class BrowserPage:
    """A fresh page that records every console error and uncaught exception."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def record_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def record_exception(self, error: Exception) -> None:
        self.errors.append(f"pageerror: {error}")

    def screenshot(self, name: str, full_page: bool = False, selector: str | None = None) -> Path:
        """Save the page (or one element of it) as docs/screenshots/NAME.png, replacing the last run's."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if selector is None:
            self.page.screenshot(path=str(path), full_page=full_page)
        else:
            self.page.locator(selector).screenshot(path=str(path))
        return path


# --- what only a test may know -------------------------------------------------------------------------------


def stored_challenge(challenge_id: str) -> ChallengeItem:
    return ChallengeItem.get(challenge_id, consistent_read=True)


def right_answer(challenge_id: str) -> str:
    """The characters that pass: the known class at each scored position, any class at an unlabelled one."""
    expected = stored_challenge(challenge_id).expected
    return "".join(ANY_VOTE if label == REMOVED else character_of(label) for label in expected)


def proof(challenge_id: str) -> str:
    """A proof-of-work nonce at the difficulty the challenge's item stores (the browser's widget finds its own)."""
    return pow.solve(challenge_id, int(stored_challenge(challenge_id).pow_difficulty or 0))


def wrong_answer(challenge_id: str) -> str:
    """The right answer with every scored position changed to another class, outside its lookalike group (the
    pass rule forgives one wrong glyph)."""
    expected = stored_challenge(challenge_id).expected
    answer = list(right_answer(challenge_id))
    for position, label in enumerate(expected):
        if label == REMOVED:
            continue
        wrong = (label + 1) % NUM_CLASSES
        while lookalikes.accepts(label, character_of(wrong)):  # a lookalike would pass
            wrong = (wrong + 1) % NUM_CLASSES
        answer[position] = character_of(wrong)
    return "".join(answer)


def expire_challenge(challenge_id: str) -> None:
    """Move the challenge's deadline into the past, as if the visitor had waited too long."""
    challenge = stored_challenge(challenge_id)
    challenge.update(actions=[ChallengeItem.expires_at.set(challenge.created_at - 1)])
