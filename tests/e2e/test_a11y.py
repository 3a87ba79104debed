"""Accessibility in Chromium: axe-core (vendored from npm by `make web-vendor`) finds no serious or critical
violation on any page or on the widget in any of its states, and the accessible path (proof of work only, no
glyphs) passes and signs up with the keyboard alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import Stack, expire_challenge, right_answer, stored_challenge, wrong_answer
from tests.e2e.test_pages import GATEWAY_PAGES

AXE = Path(__file__).resolve().parents[2] / "web" / "vendor" / "axe-core" / "axe.min.js"
WIDGET = ".drcaptcha-box"
STATUS = ".drcaptcha-status"
ANSWER = ".drcaptcha-input"
# axe's impact levels that fail the test (moderate and minor ones are reported by axe, and allowed here).
SERIOUS_OR_CRITICAL = """async (context) => {
  const results = await axe.run(context || document, { resultTypes: ["violations"] });
  return results.violations
    .filter((violation) => ["serious", "critical"].includes(violation.impact))
    .map((violation) => violation.id + ": " + violation.nodes.map((node) => node.target.join(" ")).join(", "));
}"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page whose CSP (where a site sets one) lets the test add axe-core as a script."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make web-vendor` copies axe-core in from npm")
    context = browser.new_context(viewport={"width": 1000, "height": 760}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def violations(page: Page, selector: str | None = None) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(SERIOUS_OR_CRITICAL, selector)
    return found


def test_every_page_has_no_serious_or_critical_violation(stack: Stack, page: Page) -> None:
    for path, rendered in GATEWAY_PAGES.values():
        page.goto(stack.api_url + path)
        expect(page.locator(rendered).first).to_be_visible(timeout=15_000)
        assert violations(page) == [], path
    page.goto(stack.demo_url + "/")
    expect(page.locator(WIDGET)).to_have_attribute("data-state", "ready", timeout=15_000)
    assert violations(page) == [], "the demo form"


def test_the_widget_has_no_serious_or_critical_violation_in_any_state(stack: Stack, page: Page) -> None:
    # Ready: a challenge to read
    with page.expect_response(lambda response: "/v1/challenge?" in response.url) as loaded:
        page.goto(stack.demo_url + "/")
    challenge_id = loaded.value.json()["challenge_id"]
    expect(page.locator(WIDGET)).to_have_attribute("data-state", "ready")
    assert violations(page, WIDGET) == [], "ready"

    # Failed: a wrong answer, and a new image
    page.fill(ANSWER, wrong_answer(challenge_id))
    with page.expect_response(lambda response: "/v1/challenge?" in response.url) as reloaded:
        page.press(ANSWER, "Enter")
    challenge_id = reloaded.value.json()["challenge_id"]
    expect(page.locator(WIDGET)).to_have_attribute("data-state", "failed")
    assert violations(page, WIDGET) == [], "failed"

    # Expired: the server's deadline passed
    expire_challenge(challenge_id)
    page.fill(ANSWER, right_answer(challenge_id))
    page.press(ANSWER, "Enter")
    expect(page.locator(WIDGET)).to_have_attribute("data-state", "expired")
    assert violations(page, WIDGET) == [], "expired"

    # Verified
    with page.expect_response(lambda response: "/v1/challenge?" in response.url) as renewed:
        page.click(".drcaptcha-refresh")
    page.fill(ANSWER, right_answer(renewed.value.json()["challenge_id"]))
    page.press(ANSWER, "Enter")
    expect(page.locator(WIDGET)).to_have_attribute("data-state", "verified")
    assert violations(page, WIDGET) == [], "verified"

    # Error (no site key), waiting for execute(), and the dark theme, each rendered explicitly
    page.evaluate(
        """() => {
          const later = {sitekey: "dc_site_waiting1", execution: "execute"};
          const dark = {sitekey: "dc_site_darktheme", theme: "dark", execution: "execute"};
          const german = {sitekey: "dc_site_german01", language: "de", execution: "execute"};
          for (const [id, options] of [["no-key", {}], ["later", later], ["dark", dark], ["german", german]]) {
            const div = document.createElement("div");
            div.id = id;
            document.querySelector("form").appendChild(div);
            drcaptcha.render(div, options);
          }
        }"""
    )
    expect(page.locator(f"#no-key {WIDGET}")).to_have_attribute("data-state", "error")
    expect(page.locator("#german .drcaptcha-verify")).to_have_text("Prüfen")
    assert page.get_attribute(f"#german {WIDGET}", "lang") == "de"
    for selector in ("#no-key", "#later", "#dark", "#german"):
        assert violations(page, selector) == [], selector


def test_the_accessible_path_passes_and_signs_up_with_the_keyboard_alone(stack: Stack, page: Page) -> None:
    # Given the demo form, filled in from the keyboard
    page.goto(stack.demo_url + "/")
    expect(page.locator(".drcaptcha-accessible")).to_be_visible()
    page.focus("input[name='name']")
    page.keyboard.type("Ada Lovelace")
    page.keyboard.press("Tab")
    page.keyboard.type("ada@example.org")

    # When the visitor tabs to "I can't read these characters" and presses Enter
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('drcaptcha-accessible')"):
            break
    assert page.evaluate("document.activeElement.textContent") == "I can’t read these characters"
    with page.expect_response(lambda response: "/v1/answer" in response.url) as answered:
        page.keyboard.press("Enter")

    # Then no glyph was shown, the work was done, and the live region announced the pass
    status = page.locator(STATUS)
    expect(status).to_contain_text("Verified")
    assert status.get_attribute("aria-live") == "polite"
    expect(page.locator(".drcaptcha-image")).to_be_hidden()
    token_challenge = answered.value.request.post_data_json["challenge_id"]
    assert stored_challenge(token_challenge).glyph_ids == []
    assert violations(page, WIDGET) == [], "verified on the accessible path"
    # And the demo site, which renders the widget through drcaptcha.render, heard of it through its callback
    expect(page.locator("#captcha-note")).to_have_text("Captcha passed: you can send the form.")

    # When the visitor tabs on to the submit button and presses Enter
    for _ in range(6):
        if page.evaluate("document.activeElement.classList.contains('submit')"):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    # Then siteverify told the demo server which path was taken
    expect(page.locator("h1")).to_have_text("Welcome, Ada Lovelace!")
    assert "(path: accessible)" in page.inner_text("main")
