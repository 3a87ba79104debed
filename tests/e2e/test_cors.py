"""CORS in Chromium: every site's page may use the public routes; no other origin may call the admin routes.

Issue 19, item 5: a preflight from https://evil.example for /admin/* got `Access-Control-Allow-Origin: *` with
`Authorization` allowed, so any page could drive the admin API with a key it had. The demo site's origin stands
for that other page here: it is not the gateway's (another port).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.support import BrowserPage, Stack

FETCH = """async ([url, init]) => {
  try {
    const reply = await fetch(url, init);
    return { status: reply.status };
  } catch (error) {
    return { refused: String(error) };
  }
}"""


def fetch_from_page(browser_page: BrowserPage, url: str, init: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = browser_page.page.evaluate(FETCH, [url, init])
    return result


def test_another_origins_page_cannot_call_the_admin_api_but_can_use_the_public_routes(
    stack: Stack, browser_page: BrowserPage, admin_key: str
) -> None:
    # Given a page of another origin than the API (the demo site's), and a valid admin key in that page's hands
    browser_page.page.goto(stack.demo_url + "/")
    assert not stack.api_url.startswith(stack.demo_url)
    authorization = {"headers": {"Authorization": f"Bearer {admin_key}"}}

    # When it calls the admin API with the key, reading and deleting
    stats = fetch_from_page(browser_page, f"{stack.api_url}/admin/stats", authorization)
    delete = fetch_from_page(
        browser_page, f"{stack.api_url}/admin/ensembles/e2e-none", {**authorization, "method": "DELETE"}
    )

    # Then the browser refuses both at the preflight: nothing reaches the admin function
    assert "refused" in stats, stats
    assert "refused" in delete, delete

    # While the widget's own calls from that origin work as before
    challenge = fetch_from_page(browser_page, f"{stack.api_url}/v1/challenge?sitekey={stack.site.site_key}", {})
    assert challenge == {"status": 200}
    answer = fetch_from_page(
        browser_page,
        f"{stack.api_url}/v1/answer",
        {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": "{}"},
    )
    assert answer == {"status": 400}  # read by the page: a JSON error for an empty answer, not a CORS refusal
