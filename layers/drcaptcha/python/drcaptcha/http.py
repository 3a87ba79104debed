"""The HTTP side that every function shares: one resolver set-up, with validation, CORS and one error mapping.

Typed errors become `{"error": {"code", "message"}}` with their status (and `Retry-After` when rate-limited);
a request that fails validation is a 400 `bad-request`; anything unexpected is logged and becomes a 500 (or a 503
when AWS failed), never a traceback.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ValidationException,
)
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from drcaptcha.errors import BadRequest, DrCaptchaError, NotFound, RateLimited, ServiceUnavailable
from drcaptcha.models.api.captcha import ErrorBody

logger = logging.getLogger(__name__)

CORS = CORSConfig(allow_origin="*", allow_headers=["Content-Type"], expose_headers=["Retry-After"], max_age=600)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body), headers=headers
    )


def error_response(error: DrCaptchaError) -> Response[str]:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return json_response(error.status, error.as_body(), headers)


# What powertools raises for a request that does not fit the route's models, or whose body it cannot read.
REQUEST_ERRORS: list[type[Exception]] = [RequestValidationError, RequestUnsupportedContentType]
# A body that is not UTF-8 text (API Gateway hands it over base64-encoded; powertools cannot decode it as JSON).
UNREADABLE_BODY_ERRORS: list[type[Exception]] = [UnicodeDecodeError]
# A failure of AWS, through boto3 or pynamodb.
DEPENDENCY_ERRORS: list[type[Exception]] = [ClientError, BotoCoreError, PynamoDBException]


def validation_message(error: ValidationException) -> str:
    """`query sitekey: Field required; body answer: String should have at most 32 characters`."""
    parts = []
    for detail in error.errors():
        where = " ".join(str(part) for part in detail.get("loc", ()))
        parts.append(f"{where}: {detail.get('msg', 'invalid')}" if where else str(detail.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def _typed_error(error: DrCaptchaError) -> Response[str]:
    return error_response(error)


def _invalid_request(error: ValidationException) -> Response[str]:
    return error_response(BadRequest(validation_message(error)))


def _unreadable_body(error: Exception) -> Response[str]:
    return error_response(BadRequest("the request body is not UTF-8 text"))


def _dependency_failed(error: Exception) -> Response[str]:
    logger.exception("an AWS call failed")
    return error_response(ServiceUnavailable("a backing service failed; try again"))


def _unexpected(error: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return error_response(DrCaptchaError("unexpected error"))


def _error_statuses() -> dict[int, str]:
    """Every status a typed error maps to (the errors module is the one list), with its codes; 500 is a bug."""
    statuses: dict[int, set[str]] = {}
    pending: list[type[DrCaptchaError]] = [DrCaptchaError]
    while pending:
        error = pending.pop()
        pending += error.__subclasses__()
        # The library's errors only: a tool's own subclass (the local gateway's 502) is not the function's reply.
        if error.__module__.startswith("drcaptcha.") and error.status != HTTPStatus.INTERNAL_SERVER_ERROR:
            statuses.setdefault(error.status, set()).add(error.code)
    return {status: ", ".join(sorted(codes)) for status, codes in sorted(statuses.items())}


def openapi_document(
    app: APIGatewayHttpResolver, *, title: str, version: str, errors_as_json: bool = True
) -> dict[str, Any]:
    """The app's OpenAPI document, with the error replies it really sends.

    Powertools documents a 422 with its own validation-error shape; this resolver answers a bad request 400 and
    every typed error in `{"error": {"code", "message"}}`, so each operation gets those statuses with that shape.
    `errors_as_json=False` is for an API that answers errors with HTTP 200 in its own body (siteverify).
    """
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=title, version=version))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    error_reply = {content_types.APPLICATION_JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop(str(HTTPStatus.UNPROCESSABLE_ENTITY.value), None)
            if not errors_as_json:
                continue
            for status, codes in _error_statuses().items():
                responses.setdefault(str(status), {"description": f"error: {codes}", "content": error_reply})
    return document


def create_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (v2 payload) resolver that validates with pydantic and answers errors in the JSON shape."""
    app = APIGatewayHttpResolver(enable_validation=True, cors=CORS)
    register_handlers(app)
    return app


def register_handlers(app: APIGatewayHttpResolver) -> None:
    # powertools' decorators are untyped; registering by call keeps these functions typed.
    app.exception_handler(DrCaptchaError)(_typed_error)
    app.exception_handler(REQUEST_ERRORS)(_invalid_request)
    app.exception_handler(UNREADABLE_BODY_ERRORS)(_unreadable_body)
    app.exception_handler(DEPENDENCY_ERRORS)(_dependency_failed)
    app.exception_handler(Exception)(_unexpected)

    def no_route(error: Exception) -> Response[str]:
        return error_response(NotFound(f"no route {app.current_event.http_method} {app.current_event.path}"))

    app.not_found(no_route)


def query_as_form_body(event: dict[str, Any]) -> dict[str, Any]:
    """A POST with no body whose fields are in the query string, as reCAPTCHA's siteverify also accepts them (curl
    examples and some clients send it so), handed on as the same fields in a form body; any other event as it is."""
    if event.get("body") or not event.get("rawQueryString"):
        return event
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "content-type"}
    return {
        **event,
        "body": event["rawQueryString"],
        "isBase64Encoded": False,
        "headers": {**headers, "content-type": "application/x-www-form-urlencoded"},
    }
