"""The captcha loop, free of HTTP: issue a challenge, answer it, and verify the pass token (siteverify).

AWS calls per operation, with warm caches (bench/bench_aws_calls.py measures them):
- issue: one TransactWriteItems that counts the request against the rate limit and stores the challenge;
- answer: one conditional update that marks the challenge used *and* records the outcome, plus one PutRecords of
  the votes on a pass (when the stream fails, one PutItem keeps them in the vote outbox instead: no vote is lost,
  and the visitor still gets their token). The update's condition holds the typed answer itself (each position
  must be unlabelled or name its expected class), so a pass is decided and recorded by the same write. Only when
  that condition fails does a second conditional update record the fail, or tell a replay or an expired challenge;
- siteverify: one conditional update that redeems the token (plus powertools' two writes to the idempotency table
  when the caller sends an `idempotency_key`).

The pass token is `dc1.<payload>.<signature>`: an HMAC-SHA256-signed reference to the challenge, its site and
the time it was passed, under Settings.token_signing_key. It holds no answer and needs no storage of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.transactions import TransactWrite

from drcaptcha import aws, charset, outbox
from drcaptcha.config import get_settings
from drcaptcha.errors import Gone, ServiceUnavailable, UnknownSite
from drcaptcha.glyphs import REMOVED, GlyphStore
from drcaptcha.models.api.captcha import (
    INCORRECT_ANSWER,
    AnswerResponse,
    ChallengeResponse,
    LegacyCaptchaResponse,
    LegacyTestResponse,
    SiteverifyResponse,
)
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.challenges import FAILED, PASSED, ChallengeItem
from drcaptcha.ratelimit import Window, client_identity, count_in, raise_if_limited
from drcaptcha.selection import GLYPHS_PER_CHALLENGE, GlyphSelector
from drcaptcha.sites import LEGACY_SITE, Site, SiteDirectory, secret_matches, site_key_of_secret

logger = logging.getLogger(__name__)

TOKEN_PREFIX: Final = "dc1"  # noqa: S105 - a format tag, not a secret
# A token a few seconds "from the future" is clock skew between two warm processes, not forgery.
_CLOCK_SKEW_SECONDS: Final = 5
_IDEMPOTENCY_RESULTS_SECONDS: Final = 3600
NO_CLASS: Final = -2

MISSING_SECRET: Final = "missing-input-secret"  # noqa: S105 - an error code
INVALID_SECRET: Final = "invalid-input-secret"  # noqa: S105 - an error code
MISSING_RESPONSE: Final = "missing-input-response"
INVALID_RESPONSE: Final = "invalid-input-response"
TIMEOUT_OR_DUPLICATE: Final = "timeout-or-duplicate"
BAD_REQUEST: Final = "bad-request"
INTERNAL_ERROR: Final = "internal-error"

Renderer = Callable[[Sequence[NDArray[np.uint8]], np.random.Generator], bytes]
Clock = Callable[[], float]


# --- what a warm process keeps ------------------------------------------------------------------------------
@dataclass
class CaptchaRuntime:
    """The caches a warm process keeps between requests, the clock, and the renderer."""

    glyphs: GlyphStore
    selector: GlyphSelector
    sites: SiteDirectory
    renderer: Renderer
    clock: Clock
    rng: np.random.Generator

    @classmethod
    def create(cls, *, clock: Clock = time.time, renderer: Renderer | None = None) -> CaptchaRuntime:
        if renderer is None:
            from drcaptcha.render import render_captcha

            renderer = render_captcha
        rng = np.random.default_rng()
        store = GlyphStore()
        return cls(
            glyphs=store,
            selector=GlyphSelector(store, rng, clock),
            sites=SiteDirectory(clock),
            renderer=renderer,
            clock=clock,
            rng=rng,
        )


_runtime: CaptchaRuntime | None = None


def warm_runtime() -> CaptchaRuntime:
    """This process's runtime, made on first use."""
    global _runtime
    if _runtime is None:
        _runtime = CaptchaRuntime.create()
    return _runtime


def replace_runtime(runtime: CaptchaRuntime | None) -> None:
    """Start over with `runtime`, or with a fresh one on next use (after the stack behind the caches changed)."""
    global _runtime
    _runtime = runtime


_parameter_keys: dict[str, bytes] = {}


def signing_key() -> bytes:
    """The pass-token key: TOKEN_SIGNING_KEY if set, else the SSM SecureString, read once per warm process."""
    settings = get_settings()
    if settings.token_signing_key:
        return settings.token_signing_key.encode()
    name = settings.token_signing_key_parameter
    if not name:
        raise ServiceUnavailable("no token signing key is configured: the captcha API cannot sign or check tokens")
    if name not in _parameter_keys:
        ssm = aws.client("ssm")
        try:
            value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound as error:
            raise ServiceUnavailable(f"the token signing key parameter {name} does not exist") from error
        _parameter_keys[name] = str(value).encode()
    return _parameter_keys[name]


# --- issue ----------------------------------------------------------------------------------------------------
def issue_challenge(runtime: CaptchaRuntime, site_key: str, source_ip: str) -> ChallengeResponse:
    site = runtime.sites.get(site_key)
    if site is None:
        raise UnknownSite(f"no site has the key {site_key!r}")
    return _issue(runtime, site, source_ip)


def _issue(runtime: CaptchaRuntime, site: Site, source_ip: str) -> ChallengeResponse:
    settings = get_settings()
    client = client_identity(source_ip, signing_key())
    picks = runtime.selector.pick()
    png = runtime.renderer(runtime.selector.images(picks), runtime.rng)
    now = runtime.clock()
    challenge = ChallengeItem(
        challenge_id=secrets.token_urlsafe(16),
        site_key=site.site_key,
        glyph_ids=[pick.ref.key for pick in picks],
        expected=[REMOVED if pick.label is None else pick.label for pick in picks],
        client=client,
        created_at=now,
        expires_at=now + settings.challenge_ttl_seconds,
        used=False,
    )
    window = Window.at(site.site_key, client, now)
    try:
        with TransactWrite(connection=ChallengeItem._get_connection().connection) as transaction:
            transaction.save(challenge, condition=ChallengeItem.challenge_id.does_not_exist())
            count_in(transaction, window)
    except TransactWriteError as error:
        raise_if_limited(error, window, now)
        raise ServiceUnavailable("could not store the challenge; try again") from error
    return ChallengeResponse(
        challenge_id=challenge.challenge_id,
        image="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        length=len(picks),
        expires_in=settings.challenge_ttl_seconds,
    )


# --- answer ---------------------------------------------------------------------------------------------------
def answer_challenge(
    runtime: CaptchaRuntime, challenge_id: str, answer: str, site_key: str | None = None
) -> AnswerResponse:
    """Single use: a pass returns a token, a fail `incorrect-answer`; a replay or late answer raises Gone."""
    typed = charset.normalise_answer(answer)
    now = runtime.clock()
    challenge = ChallengeItem(challenge_id=challenge_id)
    if _record_pass(challenge, typed, now, site_key):
        put_votes(challenge_id, _votes(challenge, typed, now), now)
        settings = get_settings()
        token = sign_token(PassToken(challenge_id, challenge.site_key, int(now)), signing_key())
        return AnswerResponse(success=True, token=token, expires_in=settings.token_ttl_seconds)
    _record_fail(challenge, now, site_key)
    return AnswerResponse(success=False, error_codes=[INCORRECT_ANSWER])


def _open_condition(now: float, site_key: str | None) -> Condition:
    condition: Condition = (ChallengeItem.used == False) & (ChallengeItem.expires_at > now)  # noqa: E712 - an expression
    if site_key is not None:
        condition &= ChallengeItem.site_key == site_key
    return condition


def typed_labels(typed: str) -> list[int] | None:
    """The class each typed character names under the merge rule, or None if the length is wrong.

    A character that names no class becomes NO_CLASS, which equals no expected label.
    """
    if len(typed) != GLYPHS_PER_CHALLENGE:
        return None
    return [NO_CLASS if (label := charset.class_of(character)) is None else label for character in typed]


def _record_pass(challenge: ChallengeItem, typed: str, now: float, site_key: str | None) -> bool:
    """Mark the challenge passed if, and only if, it is open and `typed` is right at every scored position."""
    labels = typed_labels(typed)
    if labels is None:
        return False
    length = size(ChallengeItem.expected)  # type: ignore[no-untyped-call]
    condition = _open_condition(now, site_key) & (length == len(labels))
    for position, typed_label in enumerate(labels):
        expected = ChallengeItem.expected[position]
        condition &= (expected == typed_label) | (expected == REMOVED)
    # The pass also keeps the item until its token expires, so that siteverify can still redeem it.
    actions = [
        ChallengeItem.used.set(True),
        ChallengeItem.outcome.set(PASSED),
        ChallengeItem.answered_at.set(now),
        ChallengeItem.expires_at.set(now + get_settings().token_ttl_seconds),
    ]
    return _conditional_update(challenge, actions, condition)


def _record_fail(challenge: ChallengeItem, now: float, site_key: str | None) -> None:
    actions = [ChallengeItem.used.set(True), ChallengeItem.outcome.set(FAILED), ChallengeItem.answered_at.set(now)]
    if not _conditional_update(challenge, actions, _open_condition(now, site_key)):
        raise Gone("this challenge was answered already, has expired, or does not exist: fetch a new one")


def _conditional_update(challenge: ChallengeItem, actions: list[Any], condition: Condition) -> bool:
    """Apply `actions` if `condition` holds (the item then holds its new values); False if it does not."""
    try:
        challenge.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise ServiceUnavailable("could not record the answer; try again") from error
    return True


def _votes(challenge: ChallengeItem, typed: str, now: float) -> list[VoteRecord]:
    """One vote per unlabelled position of a passed challenge."""
    return [
        VoteRecord(
            vote_id=f"{challenge.challenge_id}:{position}",
            glyph_id=glyph_id,
            answer=typed[position],
            label=charset.class_of(typed[position]),
            source=challenge.client,
            site_key=challenge.site_key,
            challenge_id=challenge.challenge_id,
            ts=now,
        )
        for position, (glyph_id, expected) in enumerate(zip(challenge.glyph_ids, challenge.expected, strict=True))
        if expected == REMOVED
    ]


def put_votes(challenge_id: str, votes: Sequence[VoteRecord], now: float) -> None:
    """Put the votes of a pass on the stream, or keep them in the outbox: the pass is recorded, so no raise.

    The visitor gets their token either way; a vote the stream refused is replayed later (drcaptcha/outbox.py).
    """
    try:
        outbox.deliver_votes(challenge_id, votes, now)
    except PynamoDBException:
        return  # logged with the votes themselves by deliver_votes: the record of last resort


# --- pass tokens ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PassToken:
    challenge_id: str
    site_key: str
    issued_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, key: bytes) -> str:
    return _b64(hmac.new(key, f"{TOKEN_PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def sign_token(token: PassToken, key: bytes) -> str:
    payload = _b64(json.dumps([token.challenge_id, token.site_key, token.issued_at], separators=(",", ":")).encode())
    return f"{TOKEN_PREFIX}.{payload}.{_signature(payload, key)}"


def read_token(text: str, key: bytes) -> PassToken | None:
    """The token if `text` is one that `key` signed, else None; its age is the caller's to check."""
    prefix, _, rest = text.partition(".")
    payload, _, signature = rest.partition(".")
    if prefix != TOKEN_PREFIX or not payload or not hmac.compare_digest(signature, _signature(payload, key)):
        return None
    try:
        challenge_id, site_key, issued_at = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(challenge_id, str) or not isinstance(site_key, str) or not isinstance(issued_at, int):
        return None
    return PassToken(challenge_id, site_key, issued_at)


class TokenRejected(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def accepted_token(text: str, site_key: str, key: bytes, now: float) -> PassToken:
    """The token if `key` signed it for `site_key` and it is younger than the token TTL; else TokenRejected."""
    token = read_token(text, key)
    if token is None or token.site_key != site_key:
        raise TokenRejected(INVALID_RESPONSE)
    age = now - token.issued_at
    if age > get_settings().token_ttl_seconds or age < -_CLOCK_SKEW_SECONDS:
        raise TokenRejected(TIMEOUT_OR_DUPLICATE)
    return token


# --- siteverify -----------------------------------------------------------------------------------------------
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
    return _redeem_idempotently(runtime, site, request, lambda_context)


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
        token = accepted_token(response, site.site_key, signing_key(), now)
    except TokenRejected as rejection:
        return SiteverifyResponse.failure(rejection.code)
    condition = (
        (ChallengeItem.outcome == PASSED)
        & (ChallengeItem.site_key == site.site_key)
        & ChallengeItem.redeemed_at.does_not_exist()
    )
    try:
        ChallengeItem(challenge_id=token.challenge_id).update(
            actions=[ChallengeItem.redeemed_at.set(now)], condition=condition
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return SiteverifyResponse.failure(TIMEOUT_OR_DUPLICATE)
        raise ServiceUnavailable("could not redeem the token; try again") from error
    return SiteverifyResponse(
        success=True, challenge_ts=_iso_time(token.issued_at), hostname=site.domain, error_codes=[]
    )


def _redeem_idempotently(
    runtime: CaptchaRuntime, site: Site, request: _IdempotentRedeem, lambda_context: Any
) -> SiteverifyResponse:
    # Imported here: the captcha function never needs powertools' idempotency machinery.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=aws.client("dynamodb")
    )
    config = IdempotencyConfig(
        event_key_jmespath="[secret_hash, idempotency_key]",
        # The same key with another token is a client bug, not a repeat: powertools raises, we answer bad-request.
        payload_validation_jmespath="response",
        expires_after_seconds=_IDEMPOTENCY_RESULTS_SECONDS,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    def redeem_once(request: _IdempotentRedeem) -> dict[str, Any]:
        return redeem(runtime, site, request.response).model_dump(by_alias=True)

    idempotent_redeem: Callable[..., dict[str, Any]] = idempotent_function(
        redeem_once,
        data_keyword_argument="request",
        persistence_store=persistence,
        config=config,
        key_prefix="siteverify",
    )
    try:
        return SiteverifyResponse.model_validate(idempotent_redeem(request=request))
    except IdempotencyValidationError:
        return SiteverifyResponse.failure(BAD_REQUEST)
    except IdempotencyAlreadyInProgressError as error:
        raise ServiceUnavailable("the same idempotency key is being verified right now; try again") from error


def _iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the original project's API -------------------------------------------------------------------------------
def legacy_get_captcha(runtime: CaptchaRuntime, source_ip: str) -> LegacyCaptchaResponse:
    """`/api/get-captcha`: a challenge under the built-in legacy site (no site key, no siteverify)."""
    challenge = _issue(runtime, LEGACY_SITE, source_ip)
    return LegacyCaptchaResponse(captcha=challenge.challenge_id, image=challenge.image)


def legacy_test_captcha(runtime: CaptchaRuntime, captcha: str, value: str) -> LegacyTestResponse:
    """`/api/test-captcha`: `test` is whether `value` passes. Unlike the original, a captcha tests once."""
    try:
        result = answer_challenge(runtime, captcha, value, site_key=LEGACY_SITE.site_key)
    except Gone as error:
        return LegacyTestResponse(test=False, message=error.message)
    return LegacyTestResponse(test=result.success)
