"""Siteverify as reCAPTCHA, hCaptcha and Turnstile clients call it: always HTTP 200, with conventional error codes."""

from __future__ import annotations

import json
import urllib.parse
import uuid

import pytest

from drcaptcha import sites
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.models.tables.sites import SiteItem
from drcaptcha_ops import cli
from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.integration.captcha_support import CaptchaStack, Reply, api_event, invoke, proof


def pass_token(stack: CaptchaStack, site_key: str) -> str:
    """A token from a passed challenge of `site_key`."""
    challenge = invoke(captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": site_key}))
    challenge_id = challenge.body["challenge_id"]
    body = {
        "challenge_id": challenge_id,
        "answer": stack.right_answer(challenge_id),
        "pow_solution": proof(challenge_id),
    }
    answer = invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=body))
    token: str = answer.body["token"]
    return token


def verify_json(body: dict[str, str]) -> Reply:
    return invoke(siteverify_app.handler, api_event("POST", "/v1/siteverify", json_body=body))


def verify_form(fields: dict[str, str], base64_body: bool = True) -> Reply:
    # API Gateway (and the local gateway) hand a form body to the function base64-encoded.
    event = api_event(
        "POST",
        "/v1/siteverify",
        raw_body=urllib.parse.urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        base64_body=base64_body,
    )
    return invoke(siteverify_app.handler, event)


def assert_rejected(reply: Reply, *codes: str) -> None:
    assert reply.status == 200
    assert reply.body == {"success": False, "challenge_ts": None, "hostname": None, "error-codes": list(codes)}


def test_a_form_post_as_flask_wtf_and_django_turnstile_send_it_verifies(stack: CaptchaStack) -> None:
    # Given a pass token
    site = stack.create_site("forms.example.org")
    token = pass_token(stack, site.site_key)

    # When the backend posts the form fields secret, response and an empty remoteip
    reply = verify_form({"secret": site.secret, "response": token, "remoteip": ""})

    # Then it is a success for the site's domain
    assert reply.status == 200
    assert reply.body["success"] is True
    assert reply.body["hostname"] == "forms.example.org"


def test_a_multipart_form_as_turnstiles_formdata_example_sends_it_verifies(stack: CaptchaStack) -> None:
    site = stack.create_site()
    token = pass_token(stack, site.site_key)
    # When the backend posts a FormData (multipart/form-data), as Cloudflare's own Turnstile example does
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = {"secret": site.secret, "response": token, "remoteip": "203.0.113.7"}
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in parts.items()
    )
    event = api_event(
        "POST",
        "/v1/siteverify",
        raw_body=body + f"--{boundary}--\r\n",
        content_type=f"multipart/form-data; boundary={boundary}",
        base64_body=True,
    )
    reply = invoke(siteverify_app.handler, event)
    # Then the token verifies
    assert reply.status == 200
    assert reply.body["success"] is True
    assert reply.body["hostname"] == "example.com"


def test_fields_in_the_query_string_of_a_post_with_no_body_verify_as_recaptcha_accepts_them(
    stack: CaptchaStack,
) -> None:
    site = stack.create_site()
    token = pass_token(stack, site.site_key)
    # When a client posts to siteverify?secret=...&response=... with no body, as reCAPTCHA's curl examples do
    query = {"secret": site.secret, "response": token}
    reply = invoke(siteverify_app.handler, api_event("POST", "/v1/siteverify", query=query))
    # Then the token verifies, once
    assert reply.body["success"] is True
    again = invoke(siteverify_app.handler, api_event("POST", "/v1/siteverify", query=query))
    assert_rejected(again, "timeout-or-duplicate")
    # And a body, where there is one, is what counts: the query string is not read beside it
    other = pass_token(stack, site.site_key)
    both = api_event("POST", "/v1/siteverify", query={"secret": "wrong"}, json_body={"secret": site.secret})
    assert_rejected(invoke(siteverify_app.handler, both), "missing-input-response")
    assert verify_json({"secret": site.secret, "response": other}).body["success"] is True


def test_a_token_verifies_once(stack: CaptchaStack) -> None:
    # Given a token verified once
    site = stack.create_site()
    token = pass_token(stack, site.site_key)
    first = verify_json({"secret": site.secret, "response": token})

    # When it is verified again
    second = verify_json({"secret": site.secret, "response": token})

    # Then the second is timeout-or-duplicate
    assert first.body["success"] is True
    assert_rejected(second, "timeout-or-duplicate")


def test_repeating_the_idempotency_key_returns_the_first_result(stack: CaptchaStack) -> None:
    # Given a token verified with an idempotency key
    site = stack.create_site()
    token = pass_token(stack, site.site_key)
    key = str(uuid.uuid4())
    first = verify_json({"secret": site.secret, "response": token, "idempotency_key": key})

    # When the same call is repeated with the same key, and then without it
    repeat = verify_json({"secret": site.secret, "response": token, "idempotency_key": key})
    without_key = verify_json({"secret": site.secret, "response": token})

    # Then the repeat is the same success; without the key it is a duplicate
    assert first.body["success"] is True
    assert repeat.body == first.body
    assert_rejected(without_key, "timeout-or-duplicate")


def test_the_same_idempotency_key_with_another_token_is_a_bad_request(stack: CaptchaStack) -> None:
    # Given a key used for one token
    site = stack.create_site()
    key = str(uuid.uuid4())
    verify_json({"secret": site.secret, "response": pass_token(stack, site.site_key), "idempotency_key": key})

    # When it is reused for another token
    reused = verify_json({"secret": site.secret, "response": pass_token(stack, site.site_key), "idempotency_key": key})

    # Then that is refused as a bad request
    assert_rejected(reused, "bad-request")


def test_a_wrong_secret_is_invalid_input_secret(stack: CaptchaStack) -> None:
    # Given a token of a site
    site = stack.create_site()
    token = pass_token(stack, site.site_key)

    # When the secret is altered, or not a secret at all
    altered = verify_json({"secret": site.secret[:-2] + "xx", "response": token})
    foreign = verify_json({"secret": "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe", "response": token})

    # Then both are invalid-input-secret, and the token is still good for the right secret
    assert_rejected(altered, "invalid-input-secret")
    assert_rejected(foreign, "invalid-input-secret")
    assert verify_json({"secret": site.secret, "response": token}).body["success"] is True


def test_a_token_from_another_site_is_invalid_input_response(stack: CaptchaStack) -> None:
    # Given two sites, and a token passed on the first
    first, second = stack.create_site("one.example"), stack.create_site("two.example")
    token = pass_token(stack, first.site_key)

    # When the second site verifies it
    reply = verify_json({"secret": second.secret, "response": token})

    # Then it is refused, and the first site can still redeem it
    assert_rejected(reply, "invalid-input-response")
    assert verify_json({"secret": first.secret, "response": token}).body["success"] is True


def test_a_token_older_than_300_seconds_is_timeout_or_duplicate(stack: CaptchaStack) -> None:
    # Given a token, and the clock moved past its lifetime
    site = stack.create_site()
    token = pass_token(stack, site.site_key)
    stack.clock.advance(get_settings().token_ttl_seconds + 1)

    # When it is verified
    reply = verify_json({"secret": site.secret, "response": token})

    # Then it has timed out
    assert_rejected(reply, "timeout-or-duplicate")


def test_a_forged_or_tampered_token_is_invalid_input_response(stack: CaptchaStack) -> None:
    site = stack.create_site()
    token = pass_token(stack, site.site_key)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    assert_rejected(verify_json({"secret": site.secret, "response": tampered}), "invalid-input-response")
    assert_rejected(verify_json({"secret": site.secret, "response": "XXXX.DUMMY.TOKEN"}), "invalid-input-response")


def test_missing_fields_get_their_missing_codes() -> None:
    # Validation and these checks answer before any AWS call, so no emulator is needed
    assert_rejected(verify_json({}), "missing-input-secret", "missing-input-response")
    assert_rejected(verify_form({"secret": "", "response": "x"}), "missing-input-secret")
    assert_rejected(verify_form({"secret": "dc_secret_x.y", "response": ""}), "missing-input-response")


def test_an_oversized_response_is_invalid_input_response() -> None:
    reply = verify_json({"secret": "dc_secret_x.y", "response": "x" * 2049})

    assert_rejected(reply, "invalid-input-response")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"secret": "abc", ', "application/json"),
        ("[1, 2, 3]", "application/json"),
        ('{"secret": "s", "response": "r", "idempotency_key": "not-a-uuid"}', "application/json"),
        ("<xml/>", "application/xml"),
    ],
)
def test_malformed_requests_are_bad_request_with_http_200(body: str, content_type: str) -> None:
    event = api_event("POST", "/v1/siteverify", raw_body=body, content_type=content_type)

    reply = invoke(siteverify_app.handler, event)

    assert_rejected(reply, "bad-request")


def test_without_a_signing_key_siteverify_answers_internal_error(
    stack: CaptchaStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a site, and a deployment that lost its signing key
    site = stack.create_site()
    monkeypatch.setenv("TOKEN_SIGNING_KEY", "")
    monkeypatch.setenv("TOKEN_SIGNING_KEY_PARAMETER", "/drcaptcha/lost/token-signing-key")
    reset_settings()

    # When a token is verified
    reply = verify_json({"secret": site.secret, "response": "dc1.e30.abc"})

    # Then the client is told to retry later, still with HTTP 200
    assert_rejected(reply, "internal-error")


def test_create_site_prints_the_secret_once_and_stores_only_its_hash(
    stack: CaptchaStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # When an operator creates a site
    status = cli.main(["create-site", "--domain", "Shop.Example.com", "--json"])
    printed = json.loads(capsys.readouterr().out)

    # Then the key pair was printed, the stored item holds a hash that matches the secret, and not the secret
    item = SiteItem.get(printed["site_key"])
    stored = json.dumps(item.attribute_values, default=str)
    assert status == 0
    assert printed["domain"] == "shop.example.com" == item.domain
    assert printed["secret"] not in stored
    assert item.secret_hash == sites.hash_secret(printed["site_key"], printed["secret"])
    assert verify_json({"secret": printed["secret"], "response": "dc1.x.y"}).body["error-codes"] == [
        "invalid-input-response"
    ]
