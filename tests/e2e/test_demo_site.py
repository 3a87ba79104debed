"""The demo site's server side over HTTP: what it does with a spent token and with an unreachable siteverify."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from drcaptcha_ops.demo_site import DemoSiteConfig, create_demo_site
from tests.e2e.support import Stack, proof, right_answer

SIGNUP = {"name": "Grace Hopper", "email": "grace@example.org"}
DOMAIN = "127.0.0.1"  # the stack's site (tests/e2e/conftest.py: DEMO_DOMAIN)


def post_json(url: str, body: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer: dict[str, object] = json.load(reply)
    return answer


def pass_token(stack: Stack, action: str = "signup") -> str:
    """A pass token from the API, as the demo's widget would get it (the answer is read from the table)."""
    query = urllib.parse.urlencode({"sitekey": stack.site.site_key})
    with urllib.request.urlopen(f"{stack.api_url}/v1/challenge?{query}", timeout=10) as reply:
        challenge_id = json.load(reply)["challenge_id"]
    body = {"challenge_id": challenge_id, "answer": right_answer(challenge_id), "pow_solution": proof(challenge_id)}
    body["action"] = action
    answer = post_json(f"{stack.api_url}/v1/answer", body)
    assert answer["success"] is True
    return str(answer["token"])


def test_a_token_is_accepted_once_and_its_replay_is_refused_with_a_clear_message(stack: Stack) -> None:
    # Given a sign-up that has already been accepted with a token
    client = create_demo_site(
        DemoSiteConfig(api_url=stack.api_url, site_key=stack.site.site_key, secret=stack.site.secret, hostname=DOMAIN)
    ).test_client()
    token = pass_token(stack)
    first = client.post("/signup", data={**SIGNUP, "drcaptcha-response": token})
    assert first.status_code == 200
    assert "Welcome, Grace Hopper!" in first.get_data(as_text=True)

    # When the same token is posted again
    replay = client.post("/signup", data={**SIGNUP, "drcaptcha-response": token})

    # Then siteverify's timeout-or-duplicate refuses it, and the visitor reads why
    assert replay.status_code == 400
    assert "expired or was already used" in replay.get_data(as_text=True)


def test_a_token_made_for_another_action_is_refused(stack: Stack) -> None:
    # Given a pass whose widget declared another action than the demo's "signup" (siteverify returns it)
    client = create_demo_site(
        DemoSiteConfig(api_url=stack.api_url, site_key=stack.site.site_key, secret=stack.site.secret, hostname=DOMAIN)
    ).test_client()
    token = pass_token(stack, action="newsletter")

    # When it is posted with the sign-up form
    reply = client.post("/signup", data={**SIGNUP, "drcaptcha-response": token})

    # Then the demo server refuses it
    assert reply.status_code == 400
    assert "Welcome" not in reply.get_data(as_text=True)


def test_a_token_whose_siteverify_names_another_domain_is_refused(stack: Stack) -> None:
    """Issue 19, item 9: the reference integration must compare siteverify's `hostname`, as the docs tell sites to."""
    # Given a site whose backend expects its own domain, and a valid token of a site registered for 127.0.0.1
    # (the same key pair reused on another site is the mistake this check catches)
    client = create_demo_site(
        DemoSiteConfig(
            api_url=stack.api_url, site_key=stack.site.site_key, secret=stack.site.secret, hostname="shop.test"
        )
    ).test_client()
    token = pass_token(stack)

    # When it is posted with the sign-up form
    reply = client.post("/signup", data={**SIGNUP, "drcaptcha-response": token})

    # Then the demo server refuses it, although siteverify said success
    assert reply.status_code == 400
    assert "Welcome" not in reply.get_data(as_text=True)


def test_a_made_up_token_is_refused(stack: Stack) -> None:
    client = create_demo_site(
        DemoSiteConfig(api_url=stack.api_url, site_key=stack.site.site_key, secret=stack.site.secret, hostname=DOMAIN)
    ).test_client()

    # When a form arrives with a token that DrCaptcha never issued
    reply = client.post("/signup", data={**SIGNUP, "drcaptcha-response": "not-a-token"})

    # Then it is refused
    assert reply.status_code == 400
    assert "Welcome" not in reply.get_data(as_text=True)
    assert "solve the captcha again" in reply.get_data(as_text=True)


def test_an_unreachable_siteverify_refuses_the_form_as_an_outage(stack: Stack) -> None:
    # Given a demo site whose API address answers nothing (port 9 is discard, closed here)
    client = create_demo_site(
        DemoSiteConfig(
            api_url="http://127.0.0.1:9", site_key=stack.site.site_key, secret=stack.site.secret, hostname=DOMAIN
        )
    ).test_client()

    # When a form with a token arrives
    reply = client.post("/signup", data={**SIGNUP, "drcaptcha-response": "some-token"})

    # Then the form is refused with a try-again message and a 503, never accepted
    assert reply.status_code == 503
    assert "could not check the captcha right now" in reply.get_data(as_text=True)
