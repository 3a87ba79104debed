"""The admin dashboard (web/admin/) in Chromium against the real admin function: sign in with a key, the networks
and their plots, the ensemble editor (create, re-weight, activate), the training launcher, and label progress.

The networks are two tiny ones trained once per session (`admin_networks`); the admin key comes from
`drcaptcha.admins.create_admin`, as `drcaptcha create-admin` makes one.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Response, expect

from drcaptcha import admins, ensemble_admin
from drcaptcha.models.api.admin import EnsembleSummary
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, UNLABELLED, GlyphItem
from tests.e2e.support import BrowserPage, Stack

DASHBOARD = "/admin/"
KEY_STORAGE = "drcaptcha-admin-key"
PLOTS = {"curves.png", "confusion.png", "architecture.png"}
# A key of the right form that no admin has: the API answers 403.
UNKNOWN_KEY = "dca_" + "x" * 43
PHONE_WIDTH = 360


def percent(value: float) -> str:
    """As the dashboard shows a fraction."""
    return f"{value * 100:.1f}%"


def sign_in(page: Page, stack: Stack, key: str) -> None:
    """Open the dashboard and sign in with the keyboard alone: the key field has the focus when the page opens."""
    page.goto(stack.api_url + DASHBOARD)
    expect(page.locator("#admin-key")).to_be_focused()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#dashboard-status")).to_contain_text("Signed in")


def loaded_plots(page: Page) -> list[dict[str, Any]]:
    """Every plot image once the browser has finished with it: its plot name, alt text and natural width."""
    page.wait_for_function("() => [...document.querySelectorAll('#network-plots img')].every(img => img.complete)")
    plots: list[dict[str, Any]] = page.eval_on_selector_all(
        "#network-plots img",
        "images => images.map(img => ({plot: img.dataset.plot, alt: img.alt, width: img.naturalWidth}))",
    )
    return plots


def ensemble_named(name: str) -> EnsembleSummary:
    return next(summary for summary in ensemble_admin.list_ensembles().ensembles if summary.name == name)


def errors_apart_from_status(browser_page: BrowserPage, status: int) -> list[str]:
    """Console errors, less Chromium's own line for a response with `status` that the test asked for."""
    return [error for error in browser_page.errors if f"status of {status}" not in error]


def test_a_wrong_key_gets_a_clear_error_and_the_right_key_opens_the_dashboard_until_sign_out(
    stack: Stack, admin_networks: list[str], admin_key: str, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given the dashboard, signed out
    page.goto(stack.api_url + DASHBOARD)
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    browser_page.screenshot("admin-signin")

    # When a key that no admin has is entered
    with page.expect_response(lambda response: "/admin/networks" in response.url) as refused:
        page.fill("#admin-key", UNKNOWN_KEY)
        page.click("#signin-button")

    # Then the API refused it, the page says so, and the key is not kept
    assert refused.value.status == 403
    expect(page.locator("#signin-error")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("admin key is not valid")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{KEY_STORAGE}')") is None

    # When the right key is entered
    page.fill("#admin-key", admin_key)
    page.press("#admin-key", "Enter")

    # Then the dashboard opens, and the key stays for this tab only: a reload keeps the admin signed in
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#signin-error")).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{KEY_STORAGE}')") == admin_key
    page.reload()
    expect(page.locator("#dashboard-status")).to_contain_text("Signed in")

    # When the admin signs out
    page.click("#signout")

    # Then the key and every presigned plot URL are gone from the page
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#admin-key")).to_be_focused()
    assert page.evaluate(f"sessionStorage.getItem('{KEY_STORAGE}')") is None
    expect(page.locator("#network-plots img")).to_have_count(0)
    assert errors_apart_from_status(browser_page, 403) == []


def test_the_networks_are_listed_with_their_metrics_and_plots_that_load(
    stack: Stack, admin_networks: list[str], admin_key: str, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given networks that the training job registered
    registered = {network.network_id: network for network in admins.list_networks().networks}
    assert set(admin_networks) <= set(registered)

    # When an admin signs in
    sign_in(page, stack, admin_key)

    # Then each network has a row with its name, id, accuracy and epochs
    rows = page.locator("#networks-table tbody tr")
    expect(rows).to_have_count(len(registered))
    for network_id in admin_networks:
        network = registered[network_id]
        row = rows.filter(has=page.locator("code", has_text=network_id))
        expect(row.locator("th")).to_have_text(network.name)
        expect(row.locator("td").nth(1)).to_have_text(percent(network.accuracy))
        expect(row.locator("td").nth(2)).to_have_text(str(network.epochs))

    # And its three plots are real images that the browser loaded from their presigned URLs
    plots = loaded_plots(page)
    for network_id in admin_networks:
        shown = [plot for plot in plots if plot["alt"].endswith(network_id)]
        assert {plot["plot"] for plot in shown} == PLOTS
        assert all(plot["width"] > 0 for plot in shown), shown
    page.wait_for_load_state("networkidle")
    assert browser_page.errors == []
    browser_page.screenshot("admin-networks", full_page=True)


def test_an_ensemble_is_created_then_reweighted_and_activated_from_the_editor(
    stack: Stack, admin_networks: list[str], admin_key: str, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    cnn2, nn = admin_networks
    name = "e2e pair"
    sign_in(page, stack, admin_key)
    weight_of = {
        network_id: page.locator(f"input[type=number][aria-label$=' {network_id}']") for network_id in (cnn2, nn)
    }

    expect(page.locator("#ensemble-cancel")).to_be_hidden()

    # When the admin names an ensemble of both networks, equally weighted, and evaluates it
    page.fill("#ensemble-name", name)
    weight_of[cnn2].fill("1")
    weight_of[nn].fill("1")
    with page.expect_response(lambda response: response.url.endswith("/admin/ensembles")) as created:
        page.click("#ensemble-submit")

    # Then it is created with its accuracy, shown in the result and in the ensembles table
    assert created.value.status == 201
    stored = ensemble_named(name)
    assert stored.weights == {cnn2: 0.5, nn: 0.5}
    assert stored.accuracy is not None
    expect(page.locator("#ensemble-result")).to_contain_text(f"accuracy {percent(stored.accuracy)}")
    row = page.locator(f"#ensembles-table tr[data-ensemble-id='{stored.ensemble_id}']")
    expect(row.locator(".ensemble-version")).to_have_text("1")
    expect(row.locator(".ensemble-status")).not_to_contain_text("Active")

    # When the admin edits its weights to 3 : 1 and saves
    row.get_by_role("button", name=f"Edit the weights of {name}").click()
    expect(page.locator("#ensemble-submit")).to_have_text("Save and re-evaluate")
    expect(page.locator("#ensemble-cancel")).to_be_visible()
    weight_of[cnn2].fill("3")
    weight_of[nn].fill("1")
    with page.expect_response(lambda response: _is_ensemble_call(response, "PATCH")) as updated:
        page.click("#ensemble-submit")

    # Then the weights are normalised, re-evaluated, and the version moves on
    assert updated.value.ok
    stored = ensemble_named(name)
    assert (stored.version, stored.weights) == (2, {cnn2: 0.75, nn: 0.25})
    expect(row.locator(".ensemble-version")).to_have_text("2")
    expect(row.locator(".ensemble-weights")).to_have_text("cnn2 0.75 · nn 0.25")
    expect(page.locator("#ensemble-result")).to_contain_text("version 2")

    # When the admin activates it
    with page.expect_response(lambda response: response.url.endswith("/activate")) as activated:
        row.get_by_role("button", name=f"Activate {name}").click()

    # Then the pointer names it, and the table marks it as the active one
    assert activated.value.ok
    pointer = ensemble_admin.read_pointer()
    assert pointer is not None
    assert (pointer.active_id, int(pointer.manifest_version)) == (stored.ensemble_id, 2)
    expect(row.locator(".ensemble-status .badge")).to_have_text("Active")
    expect(page.locator("#ensembles-table .badge")).to_have_count(1)
    expect(row.get_by_role("button", name=f"Activate {name}")).to_have_count(0)
    assert browser_page.errors == []
    browser_page.screenshot("admin-ensembles", selector="#ensembles-title + p + .table-scroll")
    browser_page.screenshot("admin-dashboard", full_page=True)


def _is_ensemble_call(response: Response, method: str) -> bool:
    return response.request.method == method and "/admin/ensembles/" in response.url


def test_the_training_launcher_reports_the_api_outcome_and_label_progress_matches_the_stats(
    stack: Stack, admin_networks: list[str], admin_key: str, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    sign_in(page, stack, admin_key)

    # When the admin asks for a training job of cnn2, 2 epochs
    page.select_option("#training-network", "cnn2")
    page.fill("#training-epochs", "2")
    with page.expect_response(lambda response: response.url.endswith("/admin/training-jobs")) as submitted:
        page.click("#training-submit")

    # Then the page reports what the API did: a submitted job, or why there is none (no Batch queue here)
    reply = submitted.value
    body = reply.json()
    result = page.locator("#training-result")
    if reply.ok:
        expect(result).to_contain_text(f"Submitted {body['name']}")
        expect(page.locator("#jobs-table tbody tr", has_text=body["job_id"])).to_have_count(1)
    else:
        assert reply.status == 409
        expect(result).to_have_class("admin-result error")
        expect(result).to_contain_text(body["error"]["message"])

    # And label progress shows the crowd's numbers, in the chart and in the figures beside it
    stats = admins.crowd_stats()
    for stat in ("votes", "glyphs_labelled_by_crowd", "glyphs_unlabelled", "challenges"):
        expect(page.locator(f"#stats dd[data-stat='{stat}']")).to_have_text(str(getattr(stats, stat)))
    bars = page.locator("#progress-chart g.bar")
    expect(bars).to_have_count(4)
    expect(page.locator("#progress-chart g.bar[data-name='Still unlabelled']")).to_have_attribute(
        "data-value", str(stats.glyphs_unlabelled)
    )
    assert stats.glyphs_unlabelled > 0
    assert (
        page.locator("#progress-chart g.bar[data-name='Still unlabelled'] rect.bar-fill").get_attribute("width") != "0"
    )
    expect(page.locator("#progress-chart title")).to_contain_text(f"{stats.glyphs_unlabelled} still unlabelled")
    # And, with glyphs still unlabelled, no "nothing left to label" note
    expect(page.locator("#label-status")).to_be_hidden()
    # And, the import being public EMNIST, a note that its scored glyphs can be learnt, and what to do about it
    assert stats.labels_public is True and stats.scored_glyphs == 3
    expect(page.locator("#pool-status")).to_be_visible()
    expect(page.locator("#pool-status")).to_contain_text("Challenges score 3 glyphs")
    expect(page.locator("#pool-status")).to_contain_text("drcaptcha import-emnist --private")
    expect(page.locator("#pool-status")).to_contain_text("drcaptcha add-private-glyphs FOLDER")
    assert errors_apart_from_status(browser_page, 409) == []


def test_the_dashboard_says_when_nothing_is_left_to_label(
    stack: Stack, admin_key: str, browser_page: BrowserPage
) -> None:
    """The session's unlabelled glyphs are marked labelled for this test only, and reopened afterwards."""
    # Given a stack where the crowd has labelled every glyph it was given
    still_open = list(GlyphItem.by_state.query(UNLABELLED)) + list(GlyphItem.by_state.query(AMBIGUOUS))
    states = {glyph.glyph_id: glyph.state for glyph in still_open}
    assert states
    try:
        for glyph in still_open:
            glyph.update(actions=[GlyphItem.state.set(CROWD)])

        # When an admin signs in
        sign_in(browser_page.page, stack, admin_key)

        # Then label progress says that nothing is left to label, and how to give the crowd more
        status = browser_page.page.locator("#label-status")
        expect(status).to_be_visible()
        expect(status).to_contain_text("Nothing left to label")
        expect(status).to_contain_text("drcaptcha remove-labels N")
        expect(browser_page.page.locator("#stats dd[data-stat='glyphs_unlabelled']")).to_have_text("0")
    finally:
        for glyph in still_open:
            glyph.update(actions=[GlyphItem.state.set(states[glyph.glyph_id])])
    assert browser_page.errors == []


def test_the_dashboard_fits_a_phone_screen(
    stack: Stack, admin_networks: list[str], admin_key: str, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    # Given a phone-width screen
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 780})

    # When an admin signs in there
    sign_in(page, stack, admin_key)
    loaded_plots(page)

    # Then nothing makes the page scroll sideways (wide tables scroll inside their own region)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH
    expect(page.locator("#networks-title")).to_be_focused()
    assert browser_page.errors == []
    browser_page.screenshot("admin-phone", full_page=True)
