"""The pages of web/ and the demo site in Chromium: each loads without a console error, and does its job."""

from __future__ import annotations

import base64
import io
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from drcaptcha.glyphs import GlyphStore
from drcaptcha_ops import pages
from tests.e2e.support import BrowserPage, Stack, right_answer

# Each page, and an element that shows its content has rendered (not just that the HTML arrived).
GATEWAY_PAGES = {
    "index": ("/index.html", "main h1"),
    "methodology": ("/methodology.html", "text=Consensus: 2.5 with a margin"),
    "try": ("/try.html", "#try-image[src^='data:image/png']"),
    "canvas": ("/canvas.html", "#pad"),
    "docs": ("/docs.html", ".swagger-ui .opblock"),
    "admin": ("/admin/", "#admin-key"),
}
# The navigation every page shows (web/pages/_base.html), in its order.
NAVIGATION = [
    ("Home", "/index.html"),
    ("Try a captcha", "/try.html"),
    ("Draw a character", "/canvas.html"),
    ("Methodology", "/methodology.html"),
    ("API docs", "/docs.html"),
    ("Admin", "/admin/"),
]
# The glyphs the canvas test may draw: the first test glyphs of the session's import.
CANVAS_CANDIDATES = 20
PAD_SIDE = 280  # the canvas's own size (web/pages/canvas.html)
SWAGGER_BUNDLE = Path(__file__).resolve().parents[2] / "web" / "vendor" / "swagger-ui" / "swagger-ui-bundle.js"


@pytest.mark.parametrize("name", sorted(GATEWAY_PAGES))
def test_each_page_renders_without_console_errors_under_the_one_navigation(
    stack: Stack, browser_page: BrowserPage, name: str
) -> None:
    if name == "docs" and not SWAGGER_BUNDLE.is_file():
        pytest.fail(f"{SWAGGER_BUNDLE} is missing: `make web-vendor` copies swagger-ui in from npm")
    page = browser_page.page
    path, rendered = GATEWAY_PAGES[name]

    # When the page is opened on the gateway
    response = page.goto(stack.api_url + path)

    # Then it comes with the site's Content-Security-Policy (script-src 'self', issue 19 item 8), its content
    # renders, and nothing was logged as an error: Chromium logs every script, style or worker the policy refuses
    assert response is not None
    assert response.headers["content-security-policy"] == pages.content_security_policy(stack.emulator.endpoint)
    expect(page.locator(rendered).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert browser_page.errors == []
    # And it has the site's one navigation, with itself, and only itself, marked as the current page
    links = page.get_by_role("navigation", name="Pages").get_by_role("link")
    assert [(link.inner_text(), link.get_attribute("href")) for link in links.all()] == NAVIGATION
    current = page.locator("nav a[aria-current='page']")
    expect(current).to_have_count(1)
    assert current.get_attribute("href") == path
    browser_page.screenshot(f"page-{name}")
    # And from the top of the page, the keyboard's first stop is the link that skips the navigation, to the content
    page.evaluate("document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex')")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_the_demo_form_loads_the_widget_from_the_api_without_console_errors(
    stack: Stack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # When the demo site's form is opened (its own origin; the widget comes from the API's)
    page.goto(stack.demo_url + "/")

    # Then the widget shows a challenge, and nothing was logged as an error
    expect(page.locator(".drcaptcha-image")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(page.locator(".drcaptcha-image")).to_have_attribute("alt", re.compile(r"6 handwritten characters"))
    page.wait_for_load_state("networkidle")
    assert browser_page.errors == []


def test_the_try_page_passes_a_right_answer_on_the_original_api(stack: Stack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    # Given the try page with a captcha of the original API
    with page.expect_response(lambda response: "/api/get-captcha" in response.url) as loaded:
        page.goto(stack.api_url + "/try.html")
    captcha_id = loaded.value.json()["captcha"]
    expect(page.locator("#try-check")).to_be_enabled()

    # When the visitor types the right characters and presses Enter
    page.fill("#try-answer", right_answer(captcha_id))
    page.press("#try-answer", "Enter")

    # Then the page says it passed
    expect(page.locator("#try-status")).to_contain_text("Passed")


def test_the_canvas_page_shows_the_top_three_for_a_drawn_stroke(
    stack: Stack, browser_page: BrowserPage, admin_networks: list[str]
) -> None:
    # Given an active ensemble (of the session's tiny networks) and the canvas page
    from drcaptcha.ensemble_admin import activate_ensemble, create_ensemble
    from drcaptcha.models.api.admin import MemberRequest

    ensemble = create_ensemble("canvas", [MemberRequest(network_id=admin_networks[0], weight=1.0)])
    activate_ensemble(ensemble.ensemble_id)
    page = browser_page.page
    page.goto(stack.api_url + "/canvas.html")
    box = page.locator("#pad").bounding_box()
    assert box is not None

    # When a vertical stroke (a "1") is drawn with the mouse
    with page.expect_response(lambda response: "/v1/recognize" in response.url) as recognized:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.15)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * (0.15 + 0.07 * step))
        page.mouse.up()

    # Then the drawing went up scaled down to 128x128, with the stroke still in it
    sent = json.loads(recognized.value.request.post_data or "{}")["image"]
    drawing = Image.open(io.BytesIO(base64.b64decode(sent.split(",", 1)[1])))
    assert drawing.size == (128, 128)
    assert np.asarray(drawing.convert("L")).min() < 64

    # And the page shows exactly the service's predictions (at most three, each with its label and probability),
    # or, when none passes the threshold, the service's best guess marked as unsure
    assert recognized.value.ok
    body = recognized.value.json()
    answered = body["predictions"] or [body["best"]]
    assert len(answered) <= 3
    assert all(prediction["probability"] > 0.1 for prediction in body["predictions"])
    expect(page.locator("#canvas-status")).to_contain_text("Top" if body["predictions"] else "unsure")
    predictions = page.locator("#predictions li")
    expect(predictions).to_have_count(len(answered))
    for index, prediction in enumerate(answered):
        shown = predictions.nth(index).inner_text().replace("\n", " ").strip()
        assert re.fullmatch(r"\S\s*\d+\.\d%" + ("" if body["predictions"] else r"\s*unsure"), shown)
        assert shown.startswith(prediction["label"])
    browser_page.screenshot("page-canvas-recognized")


def glyph_png(glyph: np.ndarray, side: int = PAD_SIDE) -> str:
    """An upright EMNIST glyph as a person draws it on the pad: black ink on white, the pad's size, a PNG data URL."""
    image = Image.fromarray(255 - glyph).resize((side, side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def best_probability(api_url: str, image: str) -> float:
    """The highest probability /v1/recognize gives the image (0 when it names no class)."""
    request = urllib.request.Request(
        api_url + "/v1/recognize",
        data=json.dumps({"image": image}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        predictions = json.loads(reply.read())["predictions"]
    return max((prediction["probability"] for prediction in predictions), default=0.0)


def inkiest_pixel(glyph: np.ndarray) -> tuple[int, int]:
    """(row, column) of the glyph pixel whose 3x3 neighbourhood holds the most ink: a tap there adds none."""
    padded = np.pad(glyph, 1)
    neighbourhood = np.min([padded[r : r + 28, c : c + 28] for r in range(3) for c in range(3)], axis=0)
    row, column = np.unravel_index(int(neighbourhood.argmax()), neighbourhood.shape)
    return int(row), int(column)


def test_the_canvas_page_shows_what_the_networks_read_in_a_real_handwritten_character(
    stack: Stack, browser_page: BrowserPage, admin_networks: list[str]
) -> None:
    # Given an active ensemble of the session's tiny networks, and the EMNIST test glyph it reads most surely
    from drcaptcha.ensemble_admin import activate_ensemble, create_ensemble
    from drcaptcha.models.api.admin import MemberRequest
    from drcaptcha.serving import replace_active_ensemble

    members = [MemberRequest(network_id=network_id, weight=1.0) for network_id in admin_networks]
    ensemble_id = create_ensemble("canvas-glyph", members).ensemble_id
    activate_ensemble(ensemble_id)
    # The gateway's functions run in this process: forget their warm ensemble, so they serve this one at once.
    replace_active_ensemble(None)
    glyphs, _ = GlyphStore().load_split("test")
    glyph = max(glyphs[:CANVAS_CANDIDATES], key=lambda image: best_probability(stack.api_url, glyph_png(image)))
    page = browser_page.page
    page.goto(stack.api_url + "/canvas.html")
    box = page.locator("#pad").bounding_box()
    assert box is not None

    # When the character is on the pad, and the visitor taps the pen down inside its ink (which starts the reading)
    page.evaluate(
        """source => new Promise((resolve, reject) => {
            const image = new Image();
            image.onload = () => {
                const pad = document.getElementById("pad");
                pad.getContext("2d").drawImage(image, 0, 0, pad.width, pad.height);
                resolve();
            };
            image.onerror = reject;
            image.src = source;
        })""",
        glyph_png(glyph),
    )
    row, column = inkiest_pixel(glyph)
    scale = box["width"] / 28
    with page.expect_response(lambda response: "/v1/recognize" in response.url) as recognized:
        page.mouse.click(box["x"] + (column + 0.5) * scale, box["y"] + (row + 0.5) * scale)

    # Then the networks made at least one prediction, and the page shows exactly those
    assert recognized.value.ok
    assert recognized.value.json()["ensemble_id"] == ensemble_id
    answered = recognized.value.json()["predictions"]
    assert 1 <= len(answered) <= 3
    expect(page.locator("#canvas-status")).to_contain_text(f"Top {len(answered)}")
    predictions = page.locator("#predictions li")
    expect(predictions).to_have_count(len(answered))
    for index, prediction in enumerate(answered):
        shown = predictions.nth(index).inner_text().replace("\n", " ").strip()
        match = re.fullmatch(r"(\S)\s*(\d+\.\d)%", shown)
        assert match is not None, shown
        assert match[1] == prediction["label"]
        assert float(match[2]) == pytest.approx(prediction["probability"] * 100, abs=0.051)


def test_the_canvas_page_shows_the_best_guess_as_unsure_when_no_class_passes_the_threshold(
    stack: Stack, browser_page: BrowserPage
) -> None:
    """The reply is the one a weak ensemble gave for a clearly drawn L (issue 14), served by the browser's route
    in place of /v1/recognize: the page's handling of it is what is tested here, the service's in
    tests/unit/test_recognition.py and tests/integration/test_recognize.py."""
    # Given the canvas page, and a recognize reply with no prediction above the threshold
    page = browser_page.page
    reply = {"predictions": [], "best": {"label": "L", "probability": 0.0812}, "threshold": 0.1, "ensemble_id": "weak"}
    page.route("**/v1/recognize", lambda route: route.fulfill(status=200, json=reply))
    page.goto(stack.api_url + "/canvas.html")
    box = page.locator("#pad").bounding_box()
    assert box is not None

    # When an L is drawn
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.85, steps=8)
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.85, steps=8)
    page.mouse.up()

    # Then the page shows the best guess, marked unsure, and says why
    guess = page.locator("#predictions li")
    expect(guess).to_have_count(1)
    expect(guess).to_have_class("unsure")
    expect(guess.locator(".label")).to_have_text("L")
    expect(guess.locator(".probability")).to_have_text("8.1%")
    expect(guess.locator(".unsure-mark")).to_have_text("unsure")
    expect(page.locator("#canvas-status")).to_contain_text("Best guess: L 8.1%, unsure")
    expect(page.locator("#canvas-status")).to_contain_text("above 10.0%")
    assert browser_page.errors == []
