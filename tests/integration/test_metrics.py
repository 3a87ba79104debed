"""The handlers' CloudWatch metrics: the EMF documents a captcha loop writes (to the `drcaptcha.metrics` log here,
to stdout on Lambda, where CloudWatch reads them)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest

from drcaptcha import metrics
from drcaptcha.config import reset_settings
from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.integration.captcha_support import CaptchaStack, api_event, invoke, proof


@pytest.fixture
def written(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="drcaptcha.metrics")
    return caplog


def emitted(lines: list[str]) -> Counter[str]:
    """Sum of each metric over the EMF documents in `lines`."""
    totals: Counter[str] = Counter()
    for line in lines:
        if not line.startswith('{"_aws"'):
            continue
        document: dict[str, Any] = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == metrics.metrics.namespace
        for metric in directive["Metrics"]:
            values = document[metric["Name"]]
            totals[metric["Name"]] += int(sum(values) if isinstance(values, list) else values)
    return totals


def test_a_pass_a_fail_and_siteverify_are_counted(stack: CaptchaStack, written: pytest.LogCaptureFixture) -> None:
    # Given a site, and two challenges
    site = stack.create_site()
    written.clear()
    first = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site.site_key}))
    second = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site.site_key}))
    first_id, second_id = first.body["challenge_id"], second.body["challenge_id"]

    # When one is answered right and one wrong, and the pass is verified twice
    answer = {"challenge_id": first_id, "answer": stack.right_answer(first_id), "sitekey": site.site_key}
    answer["pow_solution"] = proof(first_id)
    passed = invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=answer))
    wrong = {"challenge_id": second_id, "answer": stack.wrong_answer(second_id), "sitekey": site.site_key}
    invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=wrong))
    verify = {"secret": site.secret, "response": passed.body["token"]}
    for _ in range(2):
        invoke(siteverify_app.handler, api_event("POST", "/v1/siteverify", json_body=verify))

    # Then each outcome is counted once under its name
    totals = emitted(written.messages)
    assert totals[metrics.CHALLENGES_ISSUED] == 2
    assert totals[metrics.PASSES] == 1 and totals[metrics.FAILS] == 1
    assert totals[metrics.SITEVERIFY_PASSED] == 1 and totals[metrics.SITEVERIFY_REJECTED] == 1
    assert totals[metrics.SIGNING_KEY_MISSING] == 0


def test_a_missing_signing_key_is_counted(
    stack: CaptchaStack, monkeypatch: pytest.MonkeyPatch, written: pytest.LogCaptureFixture
) -> None:
    # Given a site, and a deployment whose signing-key parameter was never created
    site = stack.create_site()
    monkeypatch.delenv("TOKEN_SIGNING_KEY")
    monkeypatch.setenv("TOKEN_SIGNING_KEY_PARAMETER", "/drcaptcha/never-created/token-signing-key")
    reset_settings()
    written.clear()

    # When a visitor asks for a challenge
    reply = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site.site_key}))

    # Then it is a 503, and the metric the SigningKeyMissing alarm watches says why
    assert reply.status == 503
    totals = emitted(written.messages)
    assert totals[metrics.SIGNING_KEY_MISSING] == 1
    assert totals[metrics.CHALLENGES_ISSUED] == 0


def test_an_invocation_that_counts_nothing_writes_no_metrics(
    stack: CaptchaStack, written: pytest.LogCaptureFixture
) -> None:
    written.clear()
    invoke(captcha_app.handler, api_event("GET", "/openapi.json"))
    assert not emitted(written.messages)


def test_on_lambda_the_documents_go_to_stdout(
    stack: CaptchaStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CloudWatch Logs extracts EMF from what a Lambda function writes to stdout."""
    site = stack.create_site()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "drcaptcha-dev-CaptchaFunction")
    capsys.readouterr()
    invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site.site_key}))
    assert emitted(capsys.readouterr().out.splitlines())[metrics.CHALLENGES_ISSUED] == 1
