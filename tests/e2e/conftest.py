"""The served site in headless Chromium, against the real stack in this process.

One session stack: the embedded emulator, a small EMNIST import with some labels removed, one registered site,
the local gateway (API + web/) and the demo site, each on 127.0.0.1 with a free port in a thread. Tests read the
expected answers from the Challenges table directly (test-only knowledge), never through the API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright
from werkzeug.serving import make_server

from drcaptcha import aws, challenges
from drcaptcha.config import reset_settings
from drcaptcha.sites import create_site
from drcaptcha_ops.demo_site import DemoSiteConfig, demo_server
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.gateway.app import GATEWAY_CONFIG_KEY, create_gateway
from drcaptcha_ops.importer import import_emnist, remove_labels
from tests.e2e.support import BrowserPage, Stack, answers_cors_preflight, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GLYPH_LIMIT = 1500
UNLABELLED_GLYPHS = 40
DEMO_DOMAIN = "127.0.0.1"
# The tests only need a key that signs; the deployed stack gets its own through the template parameter.
TEST_SIGNING_KEY = "e2e-signing-key-0123456789abcdef0123456789"


@pytest.fixture(scope="session")
def stack(emulator_session: Emulator, emnist_dir: Path) -> Iterator[Stack]:
    saved_environment = dict(os.environ)
    emulator_session.reset()
    try:
        reset_settings()
        aws.reset_clients()
        gateway_app = create_gateway(stack=emulator_session.stack)
        route_keys = frozenset(route.route_key for route in gateway_app.config[GATEWAY_CONFIG_KEY].routes)
        reset_settings()
        import_emnist(emnist_dir, limit=GLYPH_LIMIT, progress=False)
        remove_labels(UNLABELLED_GLYPHS, progress=False)
        challenges.replace_runtime(None)
        site = create_site(DEMO_DOMAIN, accessible=True)  # the widget offers "I can't read these characters"
        # The widget on the demo site's origin posts JSON: the gateway must answer the browser's preflight.
        assert answers_cors_preflight(gateway_app)
        gateway = serve_in_thread(make_server("127.0.0.1", 0, gateway_app, threaded=True))
        demo_config = DemoSiteConfig(
            api_url=gateway.url, site_key=site.site_key, secret=site.secret, hostname=DEMO_DOMAIN
        )
        demo = serve_in_thread(demo_server(demo_config, port=0))
        try:
            yield Stack(emulator_session, site, gateway.url, demo.url, route_keys)
        finally:
            demo.stop()
            gateway.stop()
    finally:
        challenges.replace_runtime(None)
        os.environ.clear()
        os.environ.update(saved_environment)
        reset_settings()
        aws.reset_clients()


@pytest.fixture(autouse=True)
def e2e_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Per test, so that nothing leaks into the tests that run after these in the same session."""
    # A session of browser tests asks for more challenges a minute than the per-client limit lets a visitor.
    monkeypatch.setenv("RATE_LIMIT_CHALLENGES", "1000")
    if not os.environ.get("TOKEN_SIGNING_KEY"):
        monkeypatch.setenv("TOKEN_SIGNING_KEY", TEST_SIGNING_KEY)
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` (make system-packages) installs it")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    page = context.new_page()
    page.set_default_timeout(10_000)
    recorded = BrowserPage(page)
    page.on("console", recorded.record_console)
    page.on("pageerror", recorded.record_exception)
    yield recorded
    context.close()


# --- the admin dashboard (tests/e2e/test_admin_dashboard.py) -------------------------------------------------
ADMIN_NETWORKS = ("cnn2", "nn")


@pytest.fixture(scope="session")
def admin_networks(stack: Stack) -> list[str]:
    """Two tiny networks (one epoch each), trained once per session on the stack's own import, plots and all.

    tests/fixtures/tiny_networks.py is not used here: it seeds a glyph store of its own over the bucket, which
    would replace the import that the widget and page tests of this session read.
    """
    from drcaptcha_train.job import TrainingOptions, run_training  # TensorFlow: only in the tests' process

    return [
        run_training(TrainingOptions(name, epochs=1, network_id=f"e2e-{name}", verbose=0)).network_id
        for name in ADMIN_NETWORKS
    ]


@pytest.fixture(scope="session")
def admin_key(stack: Stack) -> str:
    from drcaptcha.admins import create_admin  # imported here so that this section only appends to the file

    return create_admin("e2e dashboard").key
