"""The proof of work through the captcha handlers and the emulator: right, wrong, reused, for another challenge,
below the difficulty and stale solutions; the difficulty a client earns by failing; the accessible path; the
widget's action and cData through siteverify; a site's settings through the admin API."""

from __future__ import annotations

from typing import Any

import pytest

from drcaptcha import admins, pow, sites
from drcaptcha.models.tables.challenges import ChallengeItem
from functions.admin import app as admin_app
from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.integration.captcha_support import CaptchaStack, Reply, api_event, invoke


def challenge(site_key: str, *, path: str | None = None, source_ip: str = "203.0.113.7") -> Reply:
    query = {"sitekey": site_key} | ({"path": path} if path else {})
    return invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query=query, source_ip=source_ip))


def answer(challenge_id: str, typed: str, nonce: str | None, source_ip: str = "203.0.113.7", **extra: str) -> Reply:
    body: dict[str, Any] = {"challenge_id": challenge_id, "answer": typed} | extra
    if nonce is not None:
        body["pow_solution"] = nonce
    return invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=body, source_ip=source_ip))


def failing_nonce(challenge_id: str, bits: int) -> str:
    """A nonce whose hash has fewer than `bits` leading zero bits for this challenge."""
    return next(str(n) for n in range(1000) if pow.achieved_bits(challenge_id, str(n)) < bits)


def verify(secret: str, token: str) -> Reply:
    body = {"secret": secret, "response": token}
    return invoke(siteverify_app.handler, api_event("POST", "/v1/siteverify", json_body=body))


@pytest.fixture
def site(stack: CaptchaStack) -> sites.NewSite:
    return sites.create_site("pow.example", pow_difficulty=8, accessible=True)


def test_a_right_solution_passes_and_the_challenge_carries_its_puzzle(stack: CaptchaStack, site: sites.NewSite) -> None:
    # Given a challenge of a site whose base is 8 bits
    issued = challenge(site.site_key).body
    challenge_id = issued["challenge_id"]
    assert issued["pow"] == {"algorithm": "SHA-256", "salt": challenge_id, "difficulty": 8}
    assert stack.challenge_item(challenge_id).pow_difficulty == 8

    # When the right characters come with a nonce that proves 8 bits
    reply = answer(challenge_id, stack.right_answer(challenge_id), pow.solve(challenge_id, 8))

    # Then it passes
    assert reply.body["success"] is True


@pytest.mark.parametrize("kind", ["wrong", "missing", "below the difficulty", "for another challenge"])
def test_a_bad_solution_fails_even_with_the_right_characters(
    stack: CaptchaStack, site: sites.NewSite, kind: str
) -> None:
    # Given a challenge (and another one, whose solution is not this one's)
    challenge_id = challenge(site.site_key).body["challenge_id"]
    other_id = challenge(site.site_key).body["challenge_id"]
    nonce = {
        "wrong": failing_nonce(challenge_id, 8),
        "missing": None,
        "below the difficulty": next(
            str(n) for n in range(100_000) if pow.achieved_bits(challenge_id, str(n)) in (4, 5, 6, 7)
        ),
        "for another challenge": next(
            str(n)
            for n in range(1_000_000)
            if pow.achieved_bits(other_id, str(n)) >= 8 and pow.achieved_bits(challenge_id, str(n)) < 8
        ),
    }[kind]

    # When the right characters come with that solution
    reply = answer(challenge_id, stack.right_answer(challenge_id), nonce)

    # Then it is a fail, recorded by the conditional write, and the challenge is used up
    assert (reply.status, reply.body["success"], reply.body["error-codes"]) == (200, False, ["incorrect-answer"])
    assert stack.challenge_item(challenge_id).outcome == "fail"


def test_a_reused_or_stale_solution_is_gone(stack: CaptchaStack, site: sites.NewSite) -> None:
    # Given a passed challenge and an open one
    passed_id = challenge(site.site_key).body["challenge_id"]
    nonce = pow.solve(passed_id, 8)
    assert answer(passed_id, stack.right_answer(passed_id), nonce).body["success"] is True
    stale_id = challenge(site.site_key).body["challenge_id"]

    # When the first solution is sent again, and the second one only after the challenge expired
    reused = answer(passed_id, stack.right_answer(passed_id), nonce)
    stack.clock.advance(121)
    stale = answer(stale_id, stack.right_answer(stale_id), pow.solve(stale_id, 8))

    # Then both are 410 timeout-or-duplicate
    assert (reused.status, reused.body["error"]["code"]) == (410, "timeout-or-duplicate")
    assert (stale.status, stale.body["error"]["code"]) == (410, "timeout-or-duplicate")


def test_a_clients_failures_raise_its_difficulty_and_it_falls_back_afterwards(
    stack: CaptchaStack, site: sites.NewSite
) -> None:
    # Given a client that fails five answers in a row (its challenges are counted too)
    attacker, bystander = "198.51.100.9", "198.51.100.10"
    for _ in range(5):
        challenge_id = challenge(site.site_key, source_ip=attacker).body["challenge_id"]
        answer(challenge_id, stack.wrong_answer(challenge_id), None, source_ip=attacker)

    # When it, and another client, ask for a challenge now, and the first again after the window
    raised = challenge(site.site_key, source_ip=attacker).body["pow"]["difficulty"]
    other = challenge(site.site_key, source_ip=bystander).body["pow"]["difficulty"]
    stack.clock.advance(pow.ACTIVITY_WINDOW_SECONDS + 1)
    later = challenge(site.site_key, source_ip=attacker).body["pow"]["difficulty"]

    # Then its difficulty rose by one bit per failure past the free ones, the other client's did not, and it fell
    assert raised == 8 + (5 - pow.FREE_FAILURES)
    assert other == 8
    assert later == 8


def test_the_accessible_path_is_proof_of_work_only_and_siteverify_says_so(
    stack: CaptchaStack, site: sites.NewSite
) -> None:
    # Given an accessible challenge: no image, no glyphs, more bits than the site's base
    issued = challenge(site.site_key, path="accessible").body
    challenge_id = issued["challenge_id"]
    assert (issued["image"], issued["length"], issued["path"]) == (None, 0, "accessible")
    assert issued["pow"]["difficulty"] == 8 + pow.ACCESSIBLE_EXTRA_BITS
    assert stack.challenge_item(challenge_id).glyph_ids == []

    # When characters are typed into it, it fails; an empty answer with the work passes
    typed = challenge(site.site_key, path="accessible").body["challenge_id"]
    assert answer(typed, "abcdef", pow.solve(typed, 12)).body["success"] is False
    passed = answer(challenge_id, "", pow.solve(challenge_id, 12), action="login", cdata="session-42")

    # Then siteverify reports the path, the action and the cData, and no vote was cast
    verified = verify(site.secret, passed.body["token"]).body
    assert verified["success"] is True
    assert verified["metadata"] == {"path": "accessible"}
    assert (verified["action"], verified["cdata"]) == ("login", "session-42")


def test_a_site_without_the_accessible_path_refuses_it_and_glyph_passes_say_glyphs(stack: CaptchaStack) -> None:
    # Given a site that does not allow the accessible path
    plain = sites.create_site("plain.example")

    # When the widget asks for it, and when a glyph challenge is passed without action or cData
    refused = challenge(plain.site_key, path="accessible")
    challenge_id = challenge(plain.site_key).body["challenge_id"]
    passed = answer(challenge_id, stack.right_answer(challenge_id), pow.solve(challenge_id, 4))
    verified = verify(plain.secret, passed.body["token"]).body

    # Then the first is 403, and siteverify says glyphs, with null action and cData
    assert (refused.status, refused.body["error"]["code"]) == (403, "forbidden")
    assert (verified["metadata"], verified["action"], verified["cdata"]) == ({"path": "glyphs"}, None, None)


def test_the_admin_api_registers_a_site_and_changes_its_proof_of_work(stack: CaptchaStack) -> None:
    # Given an admin key
    key = admins.create_admin("tester").key

    def call(method: str, path: str, body: Any) -> Reply:
        event = api_event(method, path, json_body=body)
        event["headers"]["authorization"] = f"Bearer {key}"
        return invoke(admin_app.handler, event)

    # When a site is registered, then given 10 bits and the accessible path
    created = call("POST", "/admin/sites", {"domain": "admin.example", "pow_difficulty": 6})
    site_key = created.body["site_key"]
    changed = call("PATCH", f"/admin/sites/{site_key}", {"pow_difficulty": 10, "accessible": True})
    unknown = call("PATCH", "/admin/sites/dc_site_nobody-here", {"accessible": True})

    # Then the secret was shown once, and the stored site has the new settings
    assert created.status == 201
    assert created.body["secret"].startswith("dc_secret_")
    assert (changed.body["pow_difficulty"], changed.body["accessible"]) == (10, True)
    assert unknown.status == 404
    stack.clock.advance(61)  # the warm site cache lapses
    assert challenge(site_key).body["pow"]["difficulty"] == 10
    assert ChallengeItem.count() >= 1
