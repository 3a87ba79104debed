"""The one factory for AWS clients. `AWS_ENDPOINT_URL` (through Settings) is the only switch."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from drcaptcha.config import get_settings


@cache
def client(service: str) -> Any:
    """A cached boto3 client for `service`, pointed at the configured endpoint."""
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
    client.cache_clear()
