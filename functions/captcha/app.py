"""The captcha function: challenges, answers, the original project's API, and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import challenges, metrics, tokens
from drcaptcha.config import requires_settings
from drcaptcha.errors import BadRequest, ServiceUnavailable
from drcaptcha.http import create_resolver, json_response
from drcaptcha.models.api.captcha import (
    ACCESSIBLE_PATH,
    CHALLENGE_ID_PATTERN,
    MAX_ANSWER_LENGTH,
    SITE_KEY_PATTERN,
    AnswerRequest,
    AnswerResponse,
    ChallengeResponse,
    LegacyCaptchaResponse,
    LegacyTestResponse,
)
from drcaptcha.store.challenges import Declared

logger = Logger()
# What this function cannot start without (a signing key, where one is needed, is checked when it is used).
REQUIRED_SETTINGS = (
    "glyphs_table",
    "challenges_table",
    "sites_table",
    "rate_limits_table",
    "ensembles_table",
    "bucket_name",
    "votes_stream",
    "outbox_table",
)
app = create_resolver()
LEGACY_MISSING_INPUT = "You must specify captcha id and value"


def source_ip() -> str:
    return app.current_event.request_context.http.source_ip


@app.get("/v1/challenge", summary="A new captcha for a site")
def get_challenge(
    sitekey: Annotated[str, Query(pattern=SITE_KEY_PATTERN)],
    path: Annotated[Literal["glyphs", "accessible"], Query(description="`accessible`: proof of work only")] = "glyphs",
) -> ChallengeResponse:
    runtime = challenges.warm_runtime()
    challenge = challenges.issue_challenge(runtime, sitekey, source_ip(), accessible=path == ACCESSIBLE_PATH)
    metrics.count(metrics.CHALLENGES_ISSUED)
    return challenge


@app.post("/v1/answer", summary="Answer a captcha once: a pass returns a token for siteverify")
def post_answer(body: AnswerRequest) -> AnswerResponse:
    result = challenges.answer_challenge(
        challenges.warm_runtime(),
        body.challenge_id,
        body.answer,
        body.sitekey,
        pow_solution=body.pow_solution,
        declared=Declared(body.action, body.cdata),
        source_ip=source_ip(),
    )
    metrics.count(metrics.PASSES if result.success else metrics.FAILS)
    return result


@app.get("/api/get-captcha", summary="Legacy: a captcha id and image", deprecated=True)
def legacy_get_captcha() -> LegacyCaptchaResponse:
    challenge = challenges.legacy_get_captcha(challenges.warm_runtime(), source_ip())
    metrics.count(metrics.CHALLENGES_ISSUED)
    return challenge


class LegacyMissingInput(BadRequest):
    """The original answered a missing `captcha` or `value` with `{"message": …}`; the 400 keeps that field."""


def legacy_missing_input(error: LegacyMissingInput) -> Response[str]:
    return json_response(error.status, {"test": False, "message": error.message, **error.as_body()})


app.exception_handler(LegacyMissingInput)(legacy_missing_input)


@app.get("/api/test-captcha", summary="Legacy: whether a value passes a captcha (once)", deprecated=True)
def legacy_test_captcha(
    captcha: Annotated[str | None, Query(pattern=CHALLENGE_ID_PATTERN)] = None,
    value: Annotated[str | None, Query(max_length=MAX_ANSWER_LENGTH)] = None,
) -> LegacyTestResponse:
    if not captcha or not value:
        raise LegacyMissingInput(LEGACY_MISSING_INPUT)
    result = challenges.legacy_test_captcha(challenges.warm_runtime(), captcha, value)
    metrics.count(metrics.PASSES if result.test else metrics.FAILS)
    return result


def openapi_text() -> str:
    """Every routed function's OpenAPI document in one, merged by powertools' OpenAPIMerge and committed beside
    this module by `python -m drcaptcha_ops.openapi` (this function is deployed without the others' code).
    Read on each request: a small file, and no per-process cache to keep in `drcaptcha.warm`."""
    return Path(__file__).with_name("openapi.json").read_text()


@app.get("/openapi.json", include_in_schema=False)
def serve_openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=openapi_text())


def count_missing_signing_key() -> None:
    """After a 503: was it the token-signing key? (Read once per warm process, so this costs nothing when well.)"""
    try:
        tokens.signing_key()
    except ServiceUnavailable:
        metrics.count(metrics.SIGNING_KEY_MISSING)


@metrics.published
@logger.inject_lambda_context
@requires_settings("captcha", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    if response.get("statusCode") == 503:
        count_missing_signing_key()
    return response
