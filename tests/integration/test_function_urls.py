"""The FrontDoor=FunctionUrl choice of template.yaml: the captcha and siteverify handlers answer the events a Lambda
function URL sends, through the whole loop (challenge, answer, siteverify), against the emulator.

A function URL's event is API Gateway's payload format 2.0 with `$default` as its route key and stage and a
`lambda-url` domain; there is no function URL here, so the events are built in that shape (AWS's documented
example), as the other handler tests build HTTP API events.
"""

from __future__ import annotations

import copy
from typing import Any

from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.integration.captcha_support import CaptchaStack, api_event, invoke, proof

URL_ID = "abcdefghijklmnopqrstuvwxyz123456"


def function_url_event(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    event = copy.deepcopy(api_event(method, path, **kwargs))
    event["routeKey"] = "$default"
    context = event["requestContext"]
    context.update(
        routeKey="$default",
        stage="$default",
        apiId=URL_ID,
        accountId="anonymous",
        domainName=f"{URL_ID}.lambda-url.us-east-1.on.aws",
        domainPrefix=URL_ID,
    )
    return event


def test_the_captcha_loop_works_through_function_url_events(stack: CaptchaStack) -> None:
    # Given a site, and the captcha and siteverify functions reached through their function URLs
    site = stack.create_site("shop.example.com")

    # When a visitor gets a challenge, answers it, and the site verifies the token
    challenge = invoke(
        captcha_app.handler, function_url_event("GET", "/v1/challenge", query={"sitekey": site.site_key})
    )
    challenge_id = challenge.body["challenge_id"]
    body = {
        "challenge_id": challenge_id,
        "answer": stack.right_answer(challenge_id),
        "pow_solution": proof(challenge_id),
    }
    answer = invoke(captcha_app.handler, function_url_event("POST", "/v1/answer", json_body=body))
    verify = {"secret": site.secret, "response": answer.body["token"]}
    verified = invoke(siteverify_app.handler, function_url_event("POST", "/v1/siteverify", json_body=verify))

    # Then each step answers as it does behind the HttpApi
    assert challenge.status == 200 and challenge.body["length"] == 6
    assert answer.status == 200 and answer.body["success"] is True
    assert verified.status == 200 and verified.body["success"] is True
    assert verified.body["hostname"] == "shop.example.com"


def test_an_unknown_path_on_the_captcha_url_is_a_404_in_the_error_shape() -> None:
    reply = invoke(captcha_app.handler, function_url_event("GET", "/v1/nothing-here"))

    assert reply.status == 404
    assert reply.body["error"]["code"] == "not-found"
