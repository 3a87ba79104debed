"""The demo site's command line: it refuses to start without the site's secret, which never goes on argv."""

from __future__ import annotations

import pytest

from drcaptcha_ops.demo_site import SECRET_ENV, DemoSiteConfig, Verdict, main


def test_the_demo_site_will_not_start_without_the_secret_in_its_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no secret in the environment
    monkeypatch.delenv(SECRET_ENV, raising=False)

    # When the demo site is started
    status = main(["--api", "http://127.0.0.1:8080", "--site-key", "dc_site_abcdefgh", "--hostname", "shop.test"])

    # Then it stops with a clear message naming the variable
    assert status == 2
    assert SECRET_ENV in capsys.readouterr().err


def test_the_widget_and_siteverify_urls_come_from_the_api_base_without_a_doubled_slash() -> None:
    config = DemoSiteConfig(
        api_url="http://api.test/", site_key="k", secret="s", hostname="shop.test", widget_api_url="https://cdn.test"
    )

    assert config.siteverify_url == "http://api.test/v1/siteverify"
    assert config.widget_url == "https://cdn.test/widget.js"


def test_a_visitor_reads_the_first_known_reason_and_never_a_bare_error_code() -> None:
    verdict = Verdict(success=False, error_codes=("something-new", "timeout-or-duplicate"), hostname=None)

    assert "expired or was already used" in verdict.visitor_message
    assert "something-new" not in Verdict(False, ("something-new",), None).visitor_message
