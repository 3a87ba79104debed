"""Request and response bodies of the captcha API, siteverify and the legacy API (pydantic, so that powertools
validates every request and generates the OpenAPI document from them)."""

from __future__ import annotations

import uuid
from typing import Any, Final

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

SITE_KEY_PATTERN: Final = r"^dc_site_[A-Za-z0-9_-]{8,64}$"
CHALLENGE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{16,64}$"
MAX_ANSWER_LENGTH: Final = 32
MAX_RESPONSE_LENGTH: Final = 2048
INCORRECT_ANSWER: Final = "incorrect-answer"
# Turnstile's limits: an action names the widget's purpose ("login"), cData is the site's own opaque value.
ACTION_PATTERN: Final = r"^[A-Za-z0-9_-]{1,32}$"
CDATA_PATTERN: Final = r"^[A-Za-z0-9_-]{1,255}$"
GLYPHS_PATH: Final = "glyphs"
ACCESSIBLE_PATH: Final = "accessible"


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx of the JSON API (siteverify excepted, which always answers 200)."""

    error: ErrorDetail


class ProofOfWork(BaseModel):
    """Find a decimal `nonce` (at most 20 digits) such that SHA-256(`salt` ":" `nonce`) starts with `difficulty`
    zero bits; send it as the answer's `pow_solution`."""

    algorithm: str = Field(default="SHA-256")
    salt: str = Field(description="the challenge id")
    difficulty: int = Field(description="leading zero bits the hash must have (0: none needed)")


class ChallengeResponse(BaseModel):
    challenge_id: str
    image: str | None = Field(description="data:image/png;base64,…; null on the accessible path")
    length: int = Field(description="how many characters the answer has (0 on the accessible path)")
    expires_in: int = Field(description="seconds left to answer")
    pow: ProofOfWork
    path: str = Field(default=GLYPHS_PATH, description="`glyphs`, or `accessible` (proof of work only)")
    accessible_path: bool = Field(default=False, description="whether the site offers the accessible path")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge_id: str = Field(pattern=CHALLENGE_ID_PATTERN)
    answer: str = Field(default="", max_length=MAX_ANSWER_LENGTH, description="empty on the accessible path")
    sitekey: str | None = Field(default=None, pattern=SITE_KEY_PATTERN, description="checked when given")
    pow_solution: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$", description="the puzzle's nonce")
    action: str | None = Field(default=None, pattern=ACTION_PATTERN, description="returned by siteverify")
    cdata: str | None = Field(default=None, pattern=CDATA_PATTERN, description="returned by siteverify")


class AnswerResponse(BaseModel):
    """A pass carries the single-use token for siteverify; a fail only `error-codes`, never which part was wrong."""

    success: bool
    token: str | None = None
    expires_in: int | None = None
    error_codes: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("error_codes", "error-codes"),
        serialization_alias="error-codes",
    )


class SiteverifyRequest(BaseModel):
    """The reCAPTCHA / hCaptcha / Turnstile request, as a JSON object or as form fields.

    Every field is optional here: a missing one is answered with its error code (HTTP 200), not a 4xx.
    """

    secret: str | None = Field(default=None, max_length=256)
    response: str | None = Field(default=None, max_length=MAX_RESPONSE_LENGTH)
    remoteip: str | None = Field(default=None, max_length=64)
    idempotency_key: uuid.UUID | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_form_values(cls, data: Any) -> Any:
        """Form bodies arrive as lists of values (powertools keeps them so); each field takes its first."""
        if isinstance(data, dict):
            return {name: value[0] if isinstance(value, list) and value else value for name, value in data.items()}
        return data

    @model_validator(mode="after")
    def _blanks_are_missing(self) -> SiteverifyRequest:
        # Form posts send an empty field for an unset value (Flask-WTF sends `remoteip=` this way).
        for name in ("secret", "response", "remoteip"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        return self


class SiteverifyResponse(BaseModel):
    success: bool
    challenge_ts: str | None = Field(default=None, description="ISO 8601 time the challenge was passed")
    hostname: str | None = Field(default=None, description="the site's registered domain")
    action: str | None = Field(default=None, description="the widget's action, as sent with the answer")
    cdata: str | None = Field(default=None, description="the widget's cData, as sent with the answer")
    metadata: dict[str, str] | None = Field(
        default=None, description='`{"path": "glyphs"}`, or `"accessible"` for the proof-of-work-only path'
    )
    error_codes: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("error_codes", "error-codes"),
        serialization_alias="error-codes",
    )

    @classmethod
    def failure(cls, *codes: str) -> SiteverifyResponse:
        return cls(success=False, error_codes=list(codes))

    @model_serializer(mode="wrap")
    def _pass_details_only_on_a_pass(self, serialize: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A rejection keeps the reCAPTCHA shape: `action`, `cdata` and `metadata` belong to a pass."""
        body: dict[str, Any] = serialize(self)
        if not self.success:
            for name in ("action", "cdata", "metadata"):
                body.pop(name, None)
        return body


class LegacyCaptchaResponse(BaseModel):
    """`GET /api/get-captcha` of the original: `captcha` (now a string id) and `image` (now a data URL)."""

    captcha: str
    image: str


class LegacyTestResponse(BaseModel):
    """`GET /api/test-captcha` of the original: `test`, and `message` when something was wrong."""

    test: bool
    message: str | None = None
