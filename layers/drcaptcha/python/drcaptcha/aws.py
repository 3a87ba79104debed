"""The one factory for AWS clients. `AWS_ENDPOINT_URL` (through Settings) is the only switch."""

from __future__ import annotations

from typing import Any, Final

import boto3
from botocore.config import Config

from drcaptcha import warm
from drcaptcha.config import get_settings

_clients: Final[warm.LRUCache[str, Any]] = warm.lasting(32)


def client(service: str) -> Any:
    """A cached boto3 client for `service`, pointed at the configured endpoint."""
    if service not in _clients:
        _clients[service] = _new_client(service)
    return _clients[service]


def _new_client(service: str) -> Any:
    settings = get_settings()
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        config=Config(
            retries={"max_attempts": settings.aws_max_attempts, "mode": "standard"},
            connect_timeout=3,
            read_timeout=30,
        ),
    )


def reset_clients() -> None:
    """Forget cached clients, after the settings changed."""
    _clients.clear()
