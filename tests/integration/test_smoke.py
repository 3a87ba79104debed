"""`drcaptcha smoke` against the local gateway (template.yaml's routes, the handlers, the moto server), as CI
runs it; and the test-site rules it depends on: every answer passes, no answer is a vote, and a test site's token
is worth nothing to any other site."""

from __future__ import annotations

import os
from collections.abc import Iterator
from unittest.mock import patch

import pytest

from drcaptcha import pow, sites
from drcaptcha.config import reset_settings
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.models.tables.outbox import OutboxItem
from drcaptcha_ops.cli import main
from drcaptcha_ops.gateway.app import running_gateway
from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.integration.captcha_support import SIGNING_KEY, CaptchaStack, api_event, invoke
from tests.integration.reliability_support import stream_votes


@pytest.fixture
def gateway(stack: CaptchaStack) -> Iterator[str]:
    """The local gateway; it exports the template's environment, so the test signing key is set again."""
    with patch.dict(os.environ), running_gateway() as url:
        os.environ["TOKEN_SIGNING_KEY"] = SIGNING_KEY
        reset_settings()
        yield url


def test_the_smoke_test_passes_on_a_test_site_and_casts_no_vote(
    stack: CaptchaStack, gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a test site, as the operator creates it
    assert main(["create-site", "--domain", "smoke.invalid", "--test-mode"]) == 0
    printed = capsys.readouterr().out
    site_key = printed.split("site key:")[1].split()[0]
    secret = printed.split("secret:")[1].split()[0]
    assert "TEST SITE" in printed

    # When the smoke test runs against the gateway
    status = main(
        ["smoke", "--api", gateway, "--site-key", site_key, "--secret", secret, "--widget-url", f"{gateway}/widget.js"]
    )

    # Then every step passed, and the stream and the outbox hold no vote
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.count("ok  ") == 6 and "smoke test passed" in out
    assert stream_votes() == []
    assert list(OutboxItem.scan()) == []


def test_on_a_real_site_the_smoke_test_fails_at_the_answer_and_says_why(
    stack: CaptchaStack, gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    site = stack.create_site("www.example.com")
    status = main(["smoke", "--api", gateway, "--site-key", site.site_key, "--secret", site.secret])
    out = capsys.readouterr().out
    assert status == 1
    assert "ok    challenge" in out and "FAIL  answer" in out and "--test-mode" in out
    assert "siteverify" not in out  # the steps after a failed answer do not run
    assert stream_votes() == []


def test_a_test_sites_token_is_refused_by_any_other_sites_secret(stack: CaptchaStack) -> None:
    # Given a pass on a test site, with an answer no human would type
    test_site = sites.create_site("smoke.invalid", test_mode=True)
    real_site = stack.create_site("www.example.com")
    issued = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": test_site.site_key}))
    challenge_id = issued.body["challenge_id"]
    typed = "0" * issued.body["length"]
    body = {"challenge_id": challenge_id, "answer": typed, "sitekey": test_site.site_key}
    body["pow_solution"] = pow.solve(challenge_id, issued.body["pow"]["difficulty"])
    passed = invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=body))
    assert passed.body["success"] is True
    assert ChallengeItem.get(challenge_id).test_mode is True

    # When a real site's backend is handed that token
    verify = {"secret": real_site.secret, "response": passed.body["token"]}
    verified = invoke(siteverify_app.handler, api_event("POST", "/v1/siteverify", json_body=verify))

    # Then it is refused, and the pass cast no vote
    assert verified.body["success"] is False
    assert stream_votes() == []


def test_a_real_sites_challenge_still_scores_the_answer(stack: CaptchaStack) -> None:
    """The test-site rule must not leak: the same all-zero answer fails on a real site."""
    site = stack.create_site("www.example.com")
    issued = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site.site_key}))
    body = {"challenge_id": issued.body["challenge_id"], "answer": stack.wrong_answer(issued.body["challenge_id"])}
    failed = invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=body))
    assert failed.body["success"] is False
    assert ChallengeItem.get(issued.body["challenge_id"]).test_mode is None


def test_only_http_urls_are_fetched(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--api", "file:///etc", "--site-key", "dc_site_x", "--secret", "dc_secret_x.y"]) == 1
    assert "not an http(s) URL: file:///etc/v1/challenge" in capsys.readouterr().out
