"""Fuzzing every HTTP route of template.yaml through the local gateway, with schemathesis.

The captcha function serves the one OpenAPI document at /openapi.json: every function's resolver's document,
merged by powertools' OpenAPIMerge (drcaptcha_ops.openapi). Every route of the template must be in it.

Each operation gets valid (positive) and invalid (negative) requests, a bounded number with a fixed seed, and
each reply must be: no 5xx, a documented status, the documented content type, and a body that fits the
documented schema; an invalid request must be refused with a 4xx (siteverify excepted: it answers every request
HTTP 200 with `error-codes`, as clients expect). `FUZZ_EXAMPLES` and `FUZZ_SEED` set the budget and the seed:
`make fuzz` runs a longer campaign.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from drcaptcha import warm
from drcaptcha.admins import create_admin
from drcaptcha.config import get_settings
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.gateway.routes import http_routes
from drcaptcha_ops.template import local_stack
from tests.integration.captcha_support import start_captcha_stack
from tests.integration.reliability_support import label_every_glyph_by_consensus, served_gateway

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("FUZZ_SEED", "20261126"))
# Functions whose every reply is HTTP 200 with its own error field (the siteverify convention).
ERRORS_AS_200 = {"SiteverifyFunction"}
ADMIN_FUNCTION = "AdminFunction"
# The states of the data every test runs in (issue 14: with nothing left to label, challenges still work).
UNLABELLED_LEFT = "unlabelled-left"
NOTHING_TO_LABEL = "nothing-to-label"
STACK = local_stack()
ROUTES = sorted(
    (route.method, route.path, route.function_id) for route in http_routes(STACK) if route.path != "/openapi.json"
)


@dataclass
class FuzzTarget:
    url: str
    schema: Any
    site_key: str
    admin_key: str
    state: str


def merged_document(url: str) -> dict[str, Any]:
    """The served /openapi.json, which holds every function's routes (siteverify's, admin's, recognize's too)."""
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=30) as reply:
        document: dict[str, Any] = json.loads(reply.read())
    return document


@pytest.fixture(scope="module", params=[UNLABELLED_LEFT, NOTHING_TO_LABEL])
def target(request: pytest.FixtureRequest, emulator_session: Emulator, emnist_dir: Path) -> Iterator[FuzzTarget]:
    """Glyphs and a site in a fresh emulator, the gateway serving the template, and the merged document.

    Every test runs in two states of the data: with glyphs left to label, and once the crowd has labelled every
    one (through real passes and the labels consumer), when challenges are made of known glyphs only."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        emulator_session.reset()
        warm.reset()
        stack = start_captcha_stack(emnist_dir, monkeypatch)
        site = stack.create_site("fuzz.example")
        if request.param == NOTHING_TO_LABEL:
            label_every_glyph_by_consensus(stack, emulator_session, site.site_key)
            stack.clock.advance(get_settings().unlabelled_cache_seconds + 1)
            assert all(pick.known for pick in stack.runtime.selector.pick())
        admin = create_admin("fuzzer")
        with served_gateway() as url:
            schema = schemathesis.openapi.from_dict(merged_document(url))
            yield FuzzTarget(url, schema, site.site_key, admin.key, request.param)
    warm.reset()


def test_every_template_route_is_in_the_document(target: FuzzTarget) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in target.schema.raw_schema["paths"].items()
        for method in operations
    }

    assert [(method, path) for method, path, _ in ROUTES if (method, path) not in documented] == []


@pytest.mark.parametrize(("method", "path", "function_id"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@pytest.mark.parametrize("mode", ["valid", "invalid", "anonymous"])
def test_fuzzed_requests_get_no_5xx_and_replies_that_fit_the_document(
    target: FuzzTarget, method: str, path: str, function_id: str, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`valid` and `invalid` requests carry an admin key on admin routes; `anonymous` ones (admin routes only)
    carry none, and every one of them must be refused with a 401."""
    # Given the route's operation in the document
    operation = target.schema[path][method.lower()]
    definition = operation.definition.raw
    is_admin = function_id == ADMIN_FUNCTION
    if mode == "anonymous" and not is_admin:
        pytest.skip("only the admin routes need a key")
    if mode == "invalid" and not definition.get("parameters") and not definition.get("requestBody"):
        pytest.skip("an operation without inputs has no invalid request")
    generation = GenerationMode.NEGATIVE if mode == "invalid" else GenerationMode.POSITIVE
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode == "invalid" and function_id not in ERRORS_AS_200:
        checks.append(negative_data_rejection)
    headers = {"Authorization": f"Bearer {target.admin_key}"} if is_admin and mode != "anonymous" else {}
    # A valid request to the challenge route names the real site, to reach past the key check (invalid requests
    # still fuzz the key itself).
    overrides = (
        {"query": {"sitekey": target.site_key}} if (method, path, mode) == ("GET", "/v1/challenge", "valid") else {}
    )
    sent: list[int] = []

    # When a bounded, seeded run of generated requests goes through the gateway
    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=generation, **overrides))
    def send(case: Any) -> None:
        response = case.call(base_url=target.url, headers=headers, timeout=30)
        sent.append(response.status_code)
        # Then each reply passes every check (schemathesis raises a failure group naming the ones that failed)
        case.validate_response(response, checks=checks)

    send()
    with capsys.disabled():  # one line a route and mode, for docs/RELIABILITY.md's counts
        statuses = dict(sorted(Counter(sent).items()))
        print(f"\nfuzz {target.state} {method} {path} {mode}: {len(sent)} requests, statuses {statuses}")

    assert sent, "no request was generated"
    assert all(status < 500 for status in sent)
    if mode == "anonymous":
        assert set(sent) == {401}
