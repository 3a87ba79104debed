"""The one factory for AWS clients. `AWS_ENDPOINT_URL` (through Settings) is the only switch."""

from __future__ import annotations

import threading
from typing import Any, Final

import boto3
import botocore.loaders
import botocore.session
import pynamodb.connection.base
from botocore.config import Config

from drcaptcha import warm
from drcaptcha.config import get_settings

_clients: Final[warm.LRUCache[str, Any]] = warm.lasting(32)

# botocore parses its service models and endpoint rules (large JSON files) once per session, and boto3 and pynamodb
# each make sessions of their own. All of them read through one loader here, which keeps what it parsed for the
# process's life: the loader holds no settings, only botocore's data files. A session and client took 289-447 ms
# (p50) with a fresh loader, and 54 ms with the shared one (`python -m bench.bench_aws_clients`, docs/BENCHMARKS.md).
# - boto3's clients come from one session, forgotten with the clients (a profile or config file may have changed).
#   Sessions are not thread-safe, so clients are made under a lock.
# - pynamodb makes a botocore session per thread and connection (every request thread of the local gateway).
_models: Final = botocore.loaders.create_loader()
_sessions: Final[warm.LRUCache[str, boto3.session.Session]] = warm.lasting(1)
_session_lock: Final = threading.Lock()


def botocore_session(env_vars: dict[str, Any] | None = None) -> botocore.session.Session:
    """A new botocore session that reads service models through the process's one loader (botocore's
    `get_session`, whose place it takes in pynamodb)."""
    session = botocore.session.get_session(env_vars)
    session.register_component("data_loader", _models)
    return session


pynamodb.connection.base.get_session = botocore_session  # type: ignore[attr-defined]


def client(service: str) -> Any:
    """A cached boto3 client for `service`, pointed at the configured endpoint."""
    if service not in _clients:
        _clients[service] = _new_client(service)
    return _clients[service]


def _shared_session() -> boto3.session.Session:
    session = _sessions.get("boto3")
    if session is None:
        session = _sessions["boto3"] = boto3.session.Session(botocore_session=botocore_session())
        # boto3 appends its own data folder to the loader's search paths at every new session: keep each path once.
        _models.search_paths[:] = list(dict.fromkeys(_models.search_paths))
    return session


def _new_client(service: str) -> Any:
    settings = get_settings()
    with _session_lock:
        return _shared_session().client(
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
    """Forget cached clients and their session, after the settings changed."""
    with _session_lock:
        _clients.clear()
        _sessions.clear()
