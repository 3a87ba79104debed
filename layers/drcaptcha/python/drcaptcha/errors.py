"""Typed errors. Each carries its machine-readable code and HTTP status; each app maps them in one place."""

from __future__ import annotations

from typing import ClassVar


class DrCaptchaError(Exception):
    """Base of every error the library raises on purpose."""

    code: ClassVar[str] = "internal-error"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(DrCaptchaError):
    code = "bad-request"
    status = 400


class Unauthorized(DrCaptchaError):
    code = "unauthorized"
    status = 401


class Forbidden(DrCaptchaError):
    code = "forbidden"
    status = 403


class NotFound(DrCaptchaError):
    code = "not-found"
    status = 404


class Conflict(DrCaptchaError):
    code = "conflict"
    status = 409


class Gone(DrCaptchaError):
    """A challenge or token that was used already or expired."""

    code = "timeout-or-duplicate"
    status = 410


class PayloadTooLarge(DrCaptchaError):
    code = "payload-too-large"
    status = 413


class RateLimited(DrCaptchaError):
    code = "rate-limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DrCaptchaError):
    """A dependency (DynamoDB, S3, Kinesis) failed; the client may retry."""

    code = "service-unavailable"
    status = 503


class DataError(DrCaptchaError):
    """Input data (an EMNIST file, a shard, a manifest) is malformed or truncated."""

    code = "bad-data"
    status = 422


class NotImported(DrCaptchaError):
    """The glyph store holds no import yet."""

    code = "not-imported"
    status = 409


class UnknownSite(DrCaptchaError):
    """A site key that no registered site has."""

    code = "invalid-sitekey"
    status = 400
