"""The embedded AWS emulator: a moto server in this process, bootstrapped from template.yaml."""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.core.common_models import BaseModel
from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

from drcaptcha import aws
from drcaptcha.config import LOCAL_ENV_FILE, reset_settings
from drcaptcha_ops.bootstrap import bootstrap, delete_resources, export_environment
from drcaptcha_ops.template import LocalStack, local_stack

# moto accepts any credentials; these keep boto3 from looking for real ones.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class Emulator:
    """The stack the process talks to: an embedded moto server, or (server None) an external endpoint."""

    server: ThreadedMotoServer | None
    endpoint: str
    stack: LocalStack

    def reset(self) -> None:
        """Clear every resource and create the template's again (between tests)."""
        if self.server is not None:
            request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own loopback server
                pass
        else:
            # LocalStack has no moto reset: delete the template's resources and create them again.
            delete_resources(self.stack)
        bootstrap(self.stack)


def point_at(endpoint: str) -> None:
    """Make this process (and boto3, pynamodb) use `endpoint` for every AWS call."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    for name, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    reset_settings()
    aws.reset_clients()


# moto (5.x) appends every model object it ever creates to its class's `instances_tracked` list
# (moto.core.model_instances), only so that its dashboard (/moto-api/data.json) can list them. Nothing drops
# them short of a full /moto-api/reset, so a long-lived server keeps every object alive: each DynamoDB
# TransactWriteItems deep-copies the tables it touches (every Item included) as a rollback backup, and each copy
# stays tracked. One bench process grew to ~10 GB and took 75 s to exit; without the tracking it exits in 2 s at
# the same throughput. moto has no setting for this, and reset_model_data() only clears the lists once, so we
# switch the tracking hook (BaseModel.__new__) off for as long as one of our embedded servers runs (its dashboard
# then lists nothing; nothing of ours reads it). S3's reset still disposes of every live key through its buckets,
# and an overwritten key is now garbage-collected like any other object instead of living until a reset. The hook
# is process-wide, so it is restored when the last embedded server stops (later in-process `mock_aws` users get it
# back).
_TRACKING_LOCK = threading.Lock()
_untracked_servers = 0
_tracking_new: Any = None


def _new_untracked(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
    """BaseModel.__new__ without the append to `cls.instances_tracked`."""
    return object.__new__(cls)


@contextmanager
def untracked_moto_models() -> Iterator[None]:
    """Stop moto from keeping every model instance alive for its dashboard, while this block runs."""
    global _untracked_servers, _tracking_new
    with _TRACKING_LOCK:
        if _untracked_servers == 0:
            _tracking_new = BaseModel.__dict__["__new__"]
            setattr(BaseModel, "__new__", staticmethod(_new_untracked))  # noqa: B010 - mypy forbids assigning a method
        _untracked_servers += 1
    try:
        yield
    finally:
        with _TRACKING_LOCK:
            _untracked_servers -= 1
            if _untracked_servers == 0:
                setattr(BaseModel, "__new__", _tracking_new)  # noqa: B010
                _tracking_new = None


# moto's TransactWriteItems is not isolated from the server's other threads: it deep-copies each table it touches
# before it starts, and when any of its conditions fails it puts those copies back whole. A write that another
# request made to the same table meanwhile is then lost (and a read may see the half-applied transaction). Two
# activations racing for the ensemble pointer showed it: the loser's rollback erased the winner's pointer, a failure
# real DynamoDB cannot produce (its transactions are serializable). So, while an embedded server runs, every
# DynamoDB item operation takes one process-wide lock: requests still run on the server's threads, but each item
# read, write and transaction sees the table whole. The GIL serialized most of this work already; the lock costs
# about nothing measurable (bench_aws_calls runs one request at a time).
_SERIALIZED_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "query", "scan", "transact_write_items")
_ITEM_LOCK = threading.RLock()
_serialized_servers = 0
_unserialized: dict[str, Any] = {}


def _serialized(operation: Any) -> Any:
    def run_alone(*args: Any, **kwargs: Any) -> Any:
        with _ITEM_LOCK:
            return operation(*args, **kwargs)

    run_alone.__wrapped__ = operation  # type: ignore[attr-defined]
    return run_alone


@contextmanager
def serialized_dynamodb_items() -> Iterator[None]:
    """Make the emulator's DynamoDB item operations run one at a time (see above), while this block runs."""
    global _serialized_servers
    with _TRACKING_LOCK:
        if _serialized_servers == 0:
            for name in _SERIALIZED_OPERATIONS:
                _unserialized[name] = DynamoDBBackend.__dict__[name]
                setattr(DynamoDBBackend, name, _serialized(_unserialized[name]))
        _serialized_servers += 1
    try:
        yield
    finally:
        with _TRACKING_LOCK:
            _serialized_servers -= 1
            if _serialized_servers == 0:
                for name, operation in _unserialized.items():
                    setattr(DynamoDBBackend, name, operation)
                _unserialized.clear()


@contextmanager
def running_emulator(port: int = 0, host: str = "127.0.0.1") -> Iterator[Emulator]:
    """Start a moto server, point this process at it, and create the template's resources there."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    with untracked_moto_models(), serialized_dynamodb_items():
        server.start()
        try:
            bound_host, bound_port = server.get_host_and_port()
            endpoint = f"http://{bound_host}:{bound_port}"
            point_at(endpoint)
            stack = local_stack()
            export_environment(stack)
            emulator = Emulator(server=server, endpoint=endpoint, stack=stack)
            # moto keeps its state in the process, not in the server: an embedded emulator started after another
            # (the simulation bench runs one per scenario) would otherwise find the earlier one's tables, items
            # and objects. So each starts empty; one embedded emulator at a time per process.
            emulator.reset()
            yield emulator
        finally:
            server.stop()


@contextmanager
def attached_stack(endpoint: str) -> Iterator[Emulator]:
    """Point this process at an emulator that runs elsewhere (LocalStack) and create the template's resources."""
    point_at(endpoint)
    stack = local_stack()
    export_environment(stack)
    bootstrap(stack)
    yield Emulator(server=None, endpoint=endpoint, stack=stack)


def write_env_file(environment: dict[str, str], path: Path = LOCAL_ENV_FILE) -> None:
    """Let other shells' `drcaptcha` commands find this emulator or stack (Settings reads LOCAL_ENV_FILE)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={value}" for name, value in sorted(environment.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def remove_env_file() -> None:
    LOCAL_ENV_FILE.unlink(missing_ok=True)
