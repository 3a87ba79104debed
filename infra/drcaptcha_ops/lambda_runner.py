"""The Lambda runner: a function of template.yaml run in this process as Lambda runs it.

Finding a function's code (CodeUri + Handler), its context, its environment, and its instances (one event at a
time each, a cold start when all are busy). The local gateway and the stream poller invoke functions through it;
tests use its context for handlers they call directly.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from drcaptcha.config import reset_settings
from drcaptcha.errors import DataError
from drcaptcha_ops.bootstrap import export_environment
from drcaptcha_ops.template import ACCOUNT_ID, LocalStack

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """What the Lambda runtime passes as `context` (the parts powertools and handlers read)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started_at: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_s - elapsed) * 1000))


@dataclass
class LocalFunction:
    """One AWS::Serverless::Function of the template, run in this process as Lambda runs it.

    Like Lambda, an instance handles one event at a time, and a request that finds every instance busy starts
    a new one (a cold start: the handler module imported afresh). Handlers keep per-instance state at module
    level (a powertools resolver's current event, a BatchProcessor), which threads must not share.
    """

    function_id: str
    function_name: str
    code_dir: Path
    handler_path: str
    memory_mb: int
    timeout_s: float
    arn: str
    environment: dict[str, str]
    _instances: list[ModuleType] = field(default_factory=list, repr=False)
    _idle: list[ModuleType] = field(default_factory=list, repr=False)
    _starts: Iterator[int] = field(default_factory=itertools.count, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def module(self) -> ModuleType:
        """The first instance's handler module (tests read what a fixture handler recorded there)."""
        with self._lock:
            if self._instances:
                return self._instances[0]
        self._release(self._start_instance())
        return self._instances[0]

    def invoke(self, event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(
            function_name=self.function_name,
            memory_limit_in_mb=self.memory_mb,
            invoked_function_arn=self.arn,
            timeout_s=self.timeout_s,
        )
        instance = self._acquire()
        try:
            return self._handler_of(instance)(event, context)
        finally:
            self._release(instance)

    def _acquire(self) -> ModuleType:
        with self._lock:
            if self._idle:
                return self._idle.pop()  # the most recently used instance: the warmest
        return self._start_instance()

    def _release(self, instance: ModuleType) -> None:
        with self._lock:
            self._idle.append(instance)

    def _start_instance(self) -> ModuleType:
        # Imported outside the lock, so that a cold start does not hold up the warm instances.
        module = self._import_module(next(self._starts))
        with self._lock:
            self._instances.append(module)
        return module

    def _handler_of(self, module: ModuleType) -> Handler:
        handler = getattr(module, self.handler_path.rpartition(".")[2], None)
        if not callable(handler):
            raise DataError(f"{self.function_id}: {module.__file__} has no function {self.handler_path!r}")
        return handler  # type: ignore[no-any-return]

    def _import_module(self, instance_number: int) -> ModuleType:
        module_path, _, attribute = self.handler_path.rpartition(".")
        if not module_path or not attribute:
            raise DataError(f"{self.function_id}: Handler {self.handler_path!r} is not MODULE.FUNCTION")
        source = self.code_dir / Path(*module_path.split(".")).with_suffix(".py")
        # Every function has an `app.py`: a name per function and instance keeps them apart.
        module_name = f"drcaptcha_local_functions.{self.function_id}.i{instance_number}.{module_path}"
        spec = importlib.util.spec_from_file_location(module_name, source)
        if spec is None or spec.loader is None or not source.is_file():
            raise DataError(f"{self.function_id}: no handler module at {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module


def function_properties(stack: LocalStack, function_id: str) -> dict[str, Any]:
    """A function's properties as SAM sees them: Globals.Function first, then its own."""
    merged = dict(stack.template.get("Globals", {}).get("Function", {}))
    merged.update(stack.resources[function_id].get("Properties", {}))
    return merged


def local_functions(stack: LocalStack, template_dir: Path) -> dict[str, LocalFunction]:
    functions = {}
    for function_id in stack.resources_of_type("AWS::Serverless::Function"):
        properties = function_properties(stack, function_id)
        code_uri = stack.resolve(properties.get("CodeUri", "."))
        if not isinstance(code_uri, str):
            raise DataError(f"{function_id}: only a local CodeUri folder runs locally, not {code_uri!r}")
        name = str(stack.resolve(properties.get("FunctionName", f"{stack.stack_name}-{function_id}")))
        functions[function_id] = LocalFunction(
            function_id=function_id,
            function_name=name,
            code_dir=(template_dir / code_uri).resolve(),
            handler_path=str(stack.resolve(properties.get("Handler", ""))),
            memory_mb=int(stack.resolve(properties.get("MemorySize", 128))),
            timeout_s=float(stack.resolve(properties.get("Timeout", 3))),
            arn=f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:{name}",
            environment=stack.function_environment(function_id),
        )
    return functions


def export_function_environments(stack: LocalStack, functions: Mapping[str, LocalFunction]) -> None:
    """Set the functions' environment process-wide, as SAM gives it to each function.

    The functions share one process here, so their variables must agree; Globals make most of them equal.
    A variable that two functions set differently cannot be honoured for both, so it is reported.
    """
    shared = export_environment(stack)
    extras: dict[str, tuple[str, str]] = {}
    for function in functions.values():
        for name, value in function.environment.items():
            if shared.get(name) == value:
                continue
            if name in extras and extras[name][1] != value:
                logger.warning(
                    "%s sets %s=%r but %s set %r; the local process keeps the first",
                    function.function_id,
                    name,
                    value,
                    extras[name][0],
                    extras[name][1],
                )
                continue
            extras[name] = (function.function_id, value)
    os.environ.update({name: value for name, (_, value) in extras.items()})
    reset_settings()
