"""Siteverify, free of HTTP: a site's server checks a pass token once, with the site's secret.

AWS calls: one conditional update that redeems the token (drcaptcha/store/challenges.py), plus powertools' two
writes to the idempotency table when the caller sends an `idempotency_key`. The idempotency settings are made
once, here; the persistence layer (which names the table) once per warm process.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel

from drcaptcha import aws, warm
from drcaptcha.challenges import CaptchaRuntime
from drcaptcha.config import get_settings
from drcaptcha.errors import ServiceUnavailable
from drcaptcha.models.api.captcha import ACCESSIBLE_PATH, GLYPHS_PATH, SiteverifyResponse
from drcaptcha.sites import secret_matches, site_key_of_secret
from drcaptcha.store.sites import Site
from drcaptcha.tokens import TIMEOUT_OR_DUPLICATE, TokenRejected, accepted_token, token_key

MISSING_SECRET: Final = "missing-input-secret"  # noqa: S105 - an error code
INVALID_SECRET: Final = "invalid-input-secret"  # noqa: S105 - an error code
MISSING_RESPONSE: Final = "missing-input-response"
BAD_REQUEST: Final = "bad-request"
INTERNAL_ERROR: Final = "internal-error"

_IDEMPOTENCY_RESULTS_SECONDS: Final = 3600
_IDEMPOTENCY: Final = IdempotencyConfig(
    event_key_jmespath="[secret_hash, idempotency_key]",
    # The same key with another token is a client bug, not a repeat: powertools raises, we answer bad-request.
    payload_validation_jmespath="response",
    expires_after_seconds=_IDEMPOTENCY_RESULTS_SECONDS,
)
_REDEEM: Final = "redeem"
_idempotent: warm.LRUCache[str, Callable[..., dict[str, Any]]] = warm.lasting(1)


class _IdempotentRedeem(BaseModel):
    """What powertools hashes for an idempotent siteverify: the key is secret hash + idempotency key."""

    secret_hash: str
    idempotency_key: str
    response: str


def verify_pass(
    runtime: CaptchaRuntime,
    secret: str | None,
    response: str | None,
    idempotency_key: uuid.UUID | None = None,
    lambda_context: Any = None,
) -> SiteverifyResponse:
    """Siteverify: a token verifies once; repeating the first call's `idempotency_key` repeats its result.

    `lambda_context` lets powertools expire an in-progress idempotency record when the invocation would time out.
    """
    missing = [code for code, value in ((MISSING_SECRET, secret), (MISSING_RESPONSE, response)) if not value]
    if missing or secret is None or response is None:
        return SiteverifyResponse.failure(*missing)
    site = _site_of_secret(runtime, secret)
    if site is None:
        return SiteverifyResponse.failure(INVALID_SECRET)
    if idempotency_key is None:
        return redeem(runtime, site, response)
    request = _IdempotentRedeem(secret_hash=site.secret_hash, idempotency_key=str(idempotency_key), response=response)
    if lambda_context is not None:
        _IDEMPOTENCY.register_lambda_context(lambda_context)
    else:
        _IDEMPOTENCY.lambda_context = None  # not a stale one from an earlier invocation
    try:
        result = _idempotent_redeem()(request=request, runtime=runtime, site=site)
    except IdempotencyValidationError:
        return SiteverifyResponse.failure(BAD_REQUEST)
    except IdempotencyAlreadyInProgressError as error:
        raise ServiceUnavailable("the same idempotency key is being verified right now; try again") from error
    return SiteverifyResponse.model_validate(result)


def _site_of_secret(runtime: CaptchaRuntime, secret: str) -> Site | None:
    site_key = site_key_of_secret(secret)
    site = runtime.sites.get(site_key) if site_key else None
    if site is None or not secret_matches(site, secret):
        return None
    return site


def redeem(runtime: CaptchaRuntime, site: Site, response: str) -> SiteverifyResponse:
    """Check the token's signature, site and age, then redeem it with one conditional update."""
    now = runtime.clock()
    try:
        token = accepted_token(response, site.site_key, token_key(), now)
    except TokenRejected as rejection:
        return SiteverifyResponse.failure(rejection.code)
    redeemed = runtime.challenges.redeem(token.challenge_id, site.site_key, now)
    if redeemed is None:
        return SiteverifyResponse.failure(TIMEOUT_OR_DUPLICATE)
    return SiteverifyResponse(
        success=True,
        challenge_ts=_iso_time(token.issued_at),
        hostname=site.domain,
        action=redeemed.declared.action,
        cdata=redeemed.declared.cdata,
        metadata={"path": ACCESSIBLE_PATH if redeemed.accessible else GLYPHS_PATH},
        error_codes=[],
    )


def _redeem_once(request: _IdempotentRedeem, runtime: CaptchaRuntime, site: Site) -> dict[str, Any]:
    return redeem(runtime, site, request.response).model_dump(by_alias=True)


def _idempotent_redeem() -> Callable[..., dict[str, Any]]:
    """`_redeem_once` behind powertools' idempotency, on this process's table (made once per warm process)."""
    if _REDEEM not in _idempotent:
        persistence = DynamoDBPersistenceLayer(
            table_name=get_settings().idempotency_table, boto3_client=aws.client("dynamodb")
        )
        _idempotent[_REDEEM] = idempotent_function(
            _redeem_once,
            data_keyword_argument="request",
            persistence_store=persistence,
            config=_IDEMPOTENCY,
            key_prefix="siteverify",
        )
    return _idempotent[_REDEEM]


def _iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
