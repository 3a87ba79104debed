"""The original project's API (`api/get-captcha`, `api/test-captcha`) keeps its shapes, mapped onto challenges."""

from __future__ import annotations

import pytest

from functions.captcha import app as captcha_app
from tests.integration.captcha_support import CaptchaStack, Reply, api_event, invoke


def get_captcha() -> Reply:
    return invoke(captcha_app.handler, api_event("GET", "/api/get-captcha"))


def check_value(query: dict[str, str]) -> Reply:
    return invoke(captcha_app.handler, api_event("GET", "/api/test-captcha", query=query))


def test_get_captcha_returns_an_id_and_an_image_like_the_original(stack: CaptchaStack) -> None:
    # When a legacy client asks for a captcha
    reply = get_captcha()

    # Then it gets exactly the original's two fields: the image is now a data URL
    assert reply.status == 200
    assert set(reply.body) == {"captcha", "image"}
    assert reply.body["image"].startswith("data:image/png;base64,")
    assert stack.challenge_item(reply.body["captcha"]).site_key == "legacy"


def test_test_captcha_says_true_for_the_right_value_once(stack: CaptchaStack) -> None:
    # Given a legacy captcha
    captcha = get_captcha().body["captcha"]
    value = stack.right_answer(captcha)

    # When the right value is tested twice
    first = check_value({"captcha": captcha, "value": value})
    second = check_value({"captcha": captcha, "value": value})

    # Then the first is `{"test": true}` and the replay is false with a message (the original allowed replays)
    assert first.status == 200
    assert first.body == {"test": True, "message": None}
    assert second.body["test"] is False
    assert "answered already" in second.body["message"]


def test_test_captcha_says_false_for_a_wrong_value(stack: CaptchaStack) -> None:
    captcha = get_captcha().body["captcha"]

    reply = check_value({"captcha": captcha, "value": stack.wrong_answer(captcha)})

    assert reply.status == 200
    assert reply.body == {"test": False, "message": None}


def test_a_site_challenge_cannot_be_answered_through_the_legacy_route(stack: CaptchaStack) -> None:
    # Given a challenge of a registered site
    site = stack.create_site()
    challenge = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site.site_key}))
    challenge_id = challenge.body["challenge_id"]

    # When it is tested through the legacy route with the right value
    reply = check_value({"captcha": challenge_id, "value": stack.right_answer(challenge_id)})

    # Then it does not pass there, and stays open for the site's widget
    assert reply.body["test"] is False
    assert stack.challenge_item(challenge_id).used is False


@pytest.mark.parametrize("query", [{}, {"captcha": "0123456789abcdefgh"}, {"value": "123456"}])
def test_test_captcha_without_id_or_value_keeps_the_originals_message(query: dict[str, str]) -> None:
    # Validation answers before any AWS call, so no emulator is needed
    reply = check_value(query)

    assert reply.status == 400
    assert reply.body["message"] == "You must specify captcha id and value"
    assert reply.body["error"]["code"] == "bad-request"
