"""Every function in template.yaml has a handler that imports, and the HTTP routes agree both ways."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from drcaptcha_ops.template import REPO_ROOT, local_stack

STACK = local_stack()
FUNCTIONS = STACK.resources_of_type("AWS::Serverless::Function")


def load_handler_module(function_id: str) -> tuple[ModuleType, str]:
    properties = FUNCTIONS[function_id]["Properties"]
    module_name, handler_name = properties["Handler"].rsplit(".", 1)
    path = REPO_ROOT / properties["CodeUri"] / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"template_check_{function_id}", path)
    assert spec is not None and spec.loader is not None, f"{function_id}: no module at {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, handler_name


def template_routes(function_id: str) -> set[tuple[str, str]]:
    events: dict[str, Any] = FUNCTIONS[function_id]["Properties"].get("Events", {})
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values()
        if event["Type"] == "HttpApi"
    }


def handler_routes(module: ModuleType) -> set[tuple[str, str]]:
    resolver = getattr(module, "app", None)
    if resolver is None:
        return set()
    routes = resolver._static_routes + resolver._dynamic_routes
    return {(route.method.upper(), route.openapi_path) for route in routes if route.method.upper() != "OPTIONS"}


def test_the_template_declares_functions() -> None:
    assert FUNCTIONS, "template.yaml declares no AWS::Serverless::Function"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_each_functions_handler_imports_and_is_callable(function_id: str) -> None:
    module, handler_name = load_handler_module(function_id)

    assert callable(getattr(module, handler_name, None)), f"{function_id}: {handler_name} is not callable"
    assert Path(module.__file__ or "").is_relative_to(REPO_ROOT / "functions")


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_template_routes_and_handler_routes_are_the_same_set(function_id: str) -> None:
    module, _ = load_handler_module(function_id)

    assert template_routes(function_id) == handler_routes(module)


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_each_functions_memory_timeout_and_reserved_concurrency_are_parameters(function_id: str) -> None:
    properties = FUNCTIONS[function_id]["Properties"]
    parameters = STACK.template["Parameters"]

    assert properties["MemorySize"] == {"Ref": f"{function_id.removesuffix('Function')}MemorySize"}
    assert properties["Timeout"]["Ref"] in parameters
    reserved = properties["ReservedConcurrentExecutions"]["Fn::If"]
    assert reserved[1]["Ref"] in parameters
    assert reserved[2] == {"Ref": "AWS::NoValue"}
