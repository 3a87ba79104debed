"""The widget on the demo site, end to end: Chromium, the demo site's server, the gateway, the emulator."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from drcaptcha import lookalikes, pow
from drcaptcha.config import reset_settings
from tests.e2e.support import (
    BrowserPage,
    Stack,
    expire_challenge,
    right_answer,
    stored_challenge,
    wrong_answer,
)

WIDGET = ".drcaptcha-box"
ANSWER = ".drcaptcha-input"
STATUS = ".drcaptcha-status"
HINT = ".drcaptcha-hint"
IMAGE = ".drcaptcha-image"
TOKEN = "input[name='drcaptcha-response']"
MAX_TABS = 5


def is_challenge(response_url: str) -> bool:
    return "/v1/challenge?" in response_url


def open_signup_form(page: Page, stack: Stack) -> str:
    """Open the demo form and fill it in; returns the id of the challenge the widget loaded."""
    with page.expect_response(lambda response: is_challenge(response.url)) as loaded:
        page.goto(stack.demo_url + "/")
    challenge_id: str = loaded.value.json()["challenge_id"]
    expect(page.locator(IMAGE)).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.fill("input[name='name']", "Ada Lovelace")
    page.fill("input[name='email']", "ada@example.org")
    return challenge_id


def test_a_visitor_who_reads_the_glyphs_right_is_verified_and_signed_up_through_siteverify(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given the demo sign-up form with a fresh challenge, whose input allows exactly its length
    challenge_id = open_signup_form(page, stack)
    expect(page.locator(ANSWER)).to_have_attribute("maxlength", str(len(stored_challenge(challenge_id).expected)))

    # When the visitor types the right characters and presses Enter
    page.fill(ANSWER, right_answer(challenge_id))
    page.press(ANSWER, "Enter")

    # Then the widget says so and holds a token, and Enter did not send the form early
    expect(page.locator(STATUS)).to_contain_text("Verified")
    assert page.input_value(TOKEN) != ""
    assert page.url == stack.demo_url + "/"
    browser_page.screenshot("demo-form-verified")
    browser_page.screenshot("widget-verified", selector=WIDGET)

    # When the form is sent
    page.click("button.submit")

    # Then the demo server's siteverify accepted it: the welcome page, and the token is spent
    expect(page.locator("h1")).to_have_text("Welcome, Ada Lovelace!")
    assert "for 127.0.0.1" in page.inner_text("main")
    assert stored_challenge(challenge_id).redeemed_at is not None
    browser_page.screenshot("demo-welcome")


def test_a_form_sent_without_solving_the_captcha_is_refused_by_the_demo_server(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given the filled-in form, with the captcha left unsolved
    open_signup_form(page, stack)

    # When it is sent
    page.click("button.submit")

    # Then the server refuses it with a clear message, and keeps what was typed
    expect(page.locator("#signup-error")).to_contain_text("Please complete the captcha")
    assert page.input_value("input[name='name']") == "Ada Lovelace"
    assert page.locator("h1").inner_text() == "Create your account"
    browser_page.screenshot("demo-form-refused")


def test_the_widget_says_which_characters_count_as_the_same(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    # Given the demo form with a challenge
    open_signup_form(page, stack)

    # Then the widget shows the lookalike groups as visible text, generated from the table (0 and O among them)
    hint = page.locator(HINT)
    expect(hint).to_be_visible()
    expect(hint).to_have_text(lookalikes.equivalence_hint())
    expect(hint).to_contain_text("0, O and o count as the same")
    # And a screen reader reads it with the answer field, before the status line
    answer = page.locator(ANSWER)
    expect(answer).to_have_accessible_description(re.compile(re.escape(lookalikes.equivalence_hint())))
    assert answer.get_attribute("aria-describedby") == f"{hint.get_attribute('id')} {page.get_attribute(STATUS, 'id')}"


def test_a_wrong_answer_shows_an_error_and_a_new_image(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    # Given a challenge on the form
    challenge_id = open_signup_form(page, stack)
    first_image = page.get_attribute(IMAGE, "src")
    browser_page.screenshot("demo-form")
    browser_page.screenshot("widget", selector=WIDGET)

    # When the visitor gets a scored character wrong
    page.fill(ANSWER, wrong_answer(challenge_id))
    with page.expect_response(lambda response: is_challenge(response.url)) as reloaded:
        page.click(".drcaptcha-verify")

    # Then the widget says so, shows another challenge, and holds no token
    expect(page.locator(STATUS)).to_contain_text("not right")
    assert reloaded.value.json()["challenge_id"] != challenge_id
    assert page.get_attribute(IMAGE, "src") != first_image
    assert page.input_value(ANSWER) == ""
    assert page.input_value(TOKEN) == ""
    assert stored_challenge(challenge_id).outcome == "fail"
    browser_page.screenshot("widget-wrong-answer", selector=WIDGET)


def test_an_answer_after_the_deadline_says_the_challenge_expired_and_a_new_one_passes(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given a challenge whose deadline the server has passed (the page's own timer has not)
    challenge_id = open_signup_form(page, stack)
    expire_challenge(challenge_id)

    # When the visitor answers it right
    page.fill(ANSWER, right_answer(challenge_id))
    page.press(ANSWER, "Enter")

    # Then the server's timeout-or-duplicate is shown as an expired challenge, and no token is given
    expect(page.locator(STATUS)).to_contain_text("expired")
    assert page.input_value(TOKEN) == ""

    # And a new image, asked for with the refresh button, can be solved
    with page.expect_response(lambda response: is_challenge(response.url)) as reloaded:
        page.click(".drcaptcha-refresh")
    new_id = reloaded.value.json()["challenge_id"]
    page.fill(ANSWER, right_answer(new_id))
    page.press(ANSWER, "Enter")
    expect(page.locator(STATUS)).to_contain_text("Verified")


def test_the_widget_marks_a_challenge_expired_when_its_lifetime_runs_out(
    stack: Stack, browser_page: BrowserPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = browser_page.page
    # Given challenges that live two seconds
    monkeypatch.setenv("CHALLENGE_TTL_SECONDS", "2")
    reset_settings()
    open_signup_form(page, stack)

    # When the visitor waits past that
    # Then the widget says the challenge expired, without a request, and offers a new one
    expect(page.locator(STATUS)).to_contain_text("expired", timeout=5_000)
    expect(page.locator(".drcaptcha-verify")).to_be_disabled()
    expect(page.locator(".drcaptcha-refresh")).to_be_enabled()
    browser_page.screenshot("widget-expired", selector=WIDGET)


def test_a_phone_width_visitor_can_pass_and_sign_up_with_the_keyboard_alone(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given the form on a 360 px wide screen
    page.set_viewport_size({"width": 360, "height": 740})
    challenge_id = open_signup_form(page, stack)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    browser_page.screenshot("demo-form-phone", full_page=True)

    # When the visitor tabs from the email field into the captcha, types, and tabs to Verify
    page.focus("input[name='email']")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('drcaptcha-input')")
    page.keyboard.type(right_answer(challenge_id))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('drcaptcha-verify')")
    page.keyboard.press("Enter")

    # Then the pass is announced in the live status line
    status = page.locator(STATUS)
    expect(status).to_contain_text("Verified")
    assert status.get_attribute("aria-live") == "polite"

    # When the visitor tabs on to the submit button and presses Enter
    for _ in range(MAX_TABS):
        if page.evaluate("document.activeElement.classList.contains('submit')"):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    # Then the account is created
    expect(page.locator("h1")).to_have_text("Welcome, Ada Lovelace!")


@pytest.mark.parametrize(
    "salt",
    [
        "Zq3vV1c6QyO0S2y9aXHn-w",  # a challenge id: one SHA-256 block
        "a-salt-long-enough-that-its-message-takes-two-sha256-blocks-of-64-bytes",
    ],
)
def test_the_widgets_own_sha256_finds_the_nonce_that_the_server_computes(
    stack: Stack, browser_page: BrowserPage, salt: str
) -> None:
    """The worker hashes in plain JavaScript (not Web Crypto): it must agree with hashlib to the bit."""
    page = browser_page.page
    page.goto(stack.demo_url + "/")
    # When the widget's solver looks for 12 leading zero bits, in its worker as on a visitor's page
    found = page.evaluate("([salt, bits]) => drcaptcha.solve(salt, bits)", [salt, 12])
    # Then it stops at the first nonce that hashlib says proves them, having tried every nonce before it
    assert found["nonce"] == pow.solve(salt, 12)
    assert found["hashes"] == int(found["nonce"]) + 1
    assert pow.achieved_bits(salt, found["nonce"]) >= 12
