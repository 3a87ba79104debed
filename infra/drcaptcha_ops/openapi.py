"""The one OpenAPI document for every route that template.yaml gives the HTTP API, siteverify included.

Each function has its own resolver; powertools' `OpenAPIMerge` joins their documents (each first given the error
replies it really sends, by `drcaptcha.http.openapi_document`). The captcha function serves the result as
/openapi.json, but it is deployed alone (its CodeUri is functions/captcha/) and cannot import the other
functions, so the merged document is generated here and committed beside it:

    .venv/bin/python -m drcaptcha_ops.openapi           # rewrite functions/captcha/openapi.json
    .venv/bin/python -m drcaptcha_ops.openapi --check   # exit 1 if the committed file is out of date

tests/unit/test_openapi.py fails when the committed file differs from a fresh merge.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

from drcaptcha.http import openapi_document
from drcaptcha_ops.template import REPO_ROOT, LocalStack, local_stack

TITLE = "DrCaptcha"
VERSION = "1.0.0"
DOCUMENT_PATH = REPO_ROOT / "functions" / "captcha" / "openapi.json"


def routed_functions(stack: LocalStack) -> list[str]:
    """Every function with an HttpApi event, in template order."""
    return list(dict.fromkeys(function_id for function_id, _, _ in stack.function_events("HttpApi")))


def function_module(stack: LocalStack, function_id: str) -> ModuleType:
    """A function's handler module, imported from its CodeUri under a name of its own (every one is `app`)."""
    properties = stack.resources[function_id]["Properties"]
    module_path = properties["Handler"].rpartition(".")[0]
    source = REPO_ROOT / properties["CodeUri"] / Path(*module_path.split(".")).with_suffix(".py")
    name = f"drcaptcha_openapi_functions.{function_id}"
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{function_id}: no handler module at {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def merged_document(stack: LocalStack | None = None) -> dict[str, Any]:
    """Every routed function's document, merged by powertools, with the stable key order of a JSON dump.

    A function whose errors are not the `{"error": …}` shape (siteverify answers HTTP 200 with its own body)
    says so with `OPENAPI_ERRORS_AS_JSON = False` in its module.
    """
    stack = stack or local_stack()
    merge = OpenAPIMerge(title=TITLE, version=VERSION, on_conflict="error")
    for function_id in routed_functions(stack):
        module = function_module(stack, function_id)
        errors_as_json = bool(getattr(module, "OPENAPI_ERRORS_AS_JSON", True))
        merge.add_schema(openapi_document(module.app, title=TITLE, version=VERSION, errors_as_json=errors_as_json))
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    return document


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed document is current")
    args = parser.parse_args(argv)
    text = document_text(merged_document())
    if args.check:
        current = DOCUMENT_PATH.is_file() and DOCUMENT_PATH.read_text() == text
        print(f"{DOCUMENT_PATH}: {'up to date' if current else 'out of date: run python -m drcaptcha_ops.openapi'}")
        return 0 if current else 1
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
