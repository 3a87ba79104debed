"""The siteverify function: the reCAPTCHA / hCaptcha / Turnstile server-side check of a pass token.

Clients treat any non-2xx as an outage, so every answer is HTTP 200 with `success` and `error-codes`: a request
that fails validation is `bad-request` (or the code of the field at fault), and a failure of ours is
`internal-error`, which clients may retry.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import ValidationException
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import challenges, metrics, tokens
from drcaptcha import siteverify as verification
from drcaptcha.config import requires_settings
from drcaptcha.errors import DrCaptchaError
from drcaptcha.http import (
    DEPENDENCY_ERRORS,
    REQUEST_ERRORS,
    UNREADABLE_BODY_ERRORS,
    create_resolver,
    json_response,
    query_as_form_body,
)
from drcaptcha.models.api.captcha import SiteverifyRequest, SiteverifyResponse

logger = Logger()
# What this function cannot start without (a signing key, where one is needed, is checked when it is used).
REQUIRED_SETTINGS = (
    "challenges_table",
    "sites_table",
    "idempotency_table",
)
app = create_resolver()
# Errors are HTTP 200 with `success: false`, not the `{"error": …}` shape (see drcaptcha_ops.openapi).
OPENAPI_ERRORS_AS_JSON = False
# Which error code a field that fails validation gets; any other failure is `bad-request`.
FIELD_ERROR_CODES = {"secret": verification.INVALID_SECRET, "response": tokens.INVALID_RESPONSE}


@app.post(
    "/v1/siteverify",
    summary="Verify a pass token once (JSON, form or multipart body, or the query string of a POST with no body; "
    "always HTTP 200)",
)
def siteverify(body: SiteverifyRequest) -> SiteverifyResponse:
    result = verification.verify_pass(
        challenges.warm_runtime(), body.secret, body.response, body.idempotency_key, app.lambda_context
    )
    metrics.count(metrics.SITEVERIFY_PASSED if result.success else metrics.SITEVERIFY_REJECTED)
    return result


def rejected(*codes: str) -> Response[str]:
    metrics.count(metrics.SITEVERIFY_REJECTED)
    return json_response(200, SiteverifyResponse.failure(*codes).model_dump(by_alias=True))


def invalid_request(error: ValidationException) -> Response[str]:
    fields = {str(detail.get("loc", ("", ""))[-1]) for detail in error.errors()}
    codes = sorted({FIELD_ERROR_CODES.get(field, verification.BAD_REQUEST) for field in fields})
    return rejected(*(codes or [verification.BAD_REQUEST]))


def internal_error(error: Exception) -> Response[str]:
    logger.exception("siteverify failed")
    return rejected(verification.INTERNAL_ERROR)


def unreadable_body(error: Exception) -> Response[str]:
    return rejected(verification.BAD_REQUEST)


app.exception_handler(REQUEST_ERRORS)(invalid_request)
app.exception_handler(UNREADABLE_BODY_ERRORS)(unreadable_body)
app.exception_handler([Exception, DrCaptchaError, *DEPENDENCY_ERRORS])(internal_error)


@metrics.published
@logger.inject_lambda_context
@requires_settings("siteverify", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(query_as_form_body(event), context)
