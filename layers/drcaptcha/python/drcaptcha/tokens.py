"""Pass tokens: `dc1.<payload>.<signature>`, an HMAC-SHA256-signed reference to the challenge, its site and the
time it was passed, under the signing key. A token holds no answer and needs no storage of its own.

The key is TOKEN_SIGNING_KEY where set (tests, benchmarks), else the SSM SecureString named by
TOKEN_SIGNING_KEY_PARAMETER, read through powertools Parameters, which caches it for `KEY_MAX_AGE_SECONDS` (longer
than a Lambda process lives, so once per warm process, as before).

That key is never used as it is: HKDF (RFC 5869, the `cryptography` package) derives one subkey that signs pass
tokens (`token_key`) and another that hashes client addresses (`client_key`), each with a generation number in
its `info`, so either can be rotated alone (TOKEN_KEY_GENERATION, CLIENT_KEY_GENERATION; docs/DEPLOY.md, "Rotating
the keys"): new tokens without resetting every client's identity, or new identities without voiding the tokens
in flight.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Final

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from drcaptcha import aws, warm
from drcaptcha.config import get_settings
from drcaptcha.errors import ServiceUnavailable

TOKEN_PREFIX: Final = "dc1"  # noqa: S105 - a format tag, not a secret
KEY_MAX_AGE_SECONDS: Final = 24 * 3600
# A token a few seconds "from the future" is clock skew between two warm processes, not forgery.
_CLOCK_SKEW_SECONDS: Final = 5
_PROVIDER: Final = "ssm"

# `dc1.<base64url payload>.<base64url HMAC-SHA256: 43 characters>`: anything else is malformed, and is refused
# before any decoding or comparison.
TOKEN_PATTERN: Final = re.compile(rf"{TOKEN_PREFIX}\.[A-Za-z0-9_-]{{1,1500}}\.[A-Za-z0-9_-]{{43}}")

INVALID_RESPONSE: Final = "invalid-input-response"
TIMEOUT_OR_DUPLICATE: Final = "timeout-or-duplicate"

# One provider per warm process, on the one client factory's SSM client (so AWS_ENDPOINT_URL applies); its cache
# of parameter values goes with it on `warm.reset()`.
_providers: warm.LRUCache[str, SSMProvider] = warm.lasting(1)


def _provider() -> SSMProvider:
    if _PROVIDER not in _providers:
        _providers[_PROVIDER] = SSMProvider(boto3_client=aws.client("ssm"))
    return _providers[_PROVIDER]


def signing_key() -> bytes:
    """The pass-token key: TOKEN_SIGNING_KEY if set, else the SSM SecureString (cached by powertools)."""
    settings = get_settings()
    if settings.token_signing_key:
        return settings.token_signing_key.encode()
    name = settings.token_signing_key_parameter
    if not name:
        raise ServiceUnavailable("no token signing key is configured: the captcha API cannot sign or check tokens")
    try:
        value = _provider().get(name, max_age=KEY_MAX_AGE_SECONDS, decrypt=True)
    except GetParameterError as error:
        raise ServiceUnavailable(f"the token signing key parameter {name} cannot be read: {error}") from error
    return str(value).encode()


def _subkey(purpose: str, generation: int) -> bytes:
    info = f"drcaptcha/{purpose}/generation-{generation}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(signing_key())


def token_key() -> bytes:
    """The subkey that signs and checks pass tokens."""
    return _subkey("pass-tokens", get_settings().token_key_generation)


def client_key() -> bytes:
    """The subkey that hashes client addresses into identities (rate limits, reliability, proof of work)."""
    return _subkey("client-identity", get_settings().client_key_generation)


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
    if not TOKEN_PATTERN.fullmatch(text):
        return None
    _, payload, signature = text.split(".")
    if not hmac.compare_digest(signature.encode("ascii"), _signature(payload, key).encode("ascii")):
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
