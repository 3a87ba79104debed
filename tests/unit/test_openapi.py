"""The one OpenAPI document: merged by powertools from every function's resolver, and served by the captcha function."""

from __future__ import annotations

import json

from drcaptcha_ops.openapi import DOCUMENT_PATH, document_text, merged_document
from drcaptcha_ops.template import local_stack

STACK = local_stack()
SERVED_ELSEWHERE = {("GET", "/openapi.json")}  # the document itself


def template_routes() -> set[tuple[str, str]]:
    return {
        (str(properties["Method"]).upper(), str(properties["Path"]))
        for _, _, properties in STACK.function_events("HttpApi")
    }


def document_routes(document: dict[str, object]) -> set[tuple[str, str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_the_merged_document_lists_every_route_that_the_template_routes_and_no_other() -> None:
    # Given the routes that template.yaml gives the HTTP API (siteverify's, the admin's and recognize's included)
    routes = template_routes()
    assert ("POST", "/v1/siteverify") in routes

    # When the functions' documents are merged
    document = merged_document(STACK)

    # Then it documents exactly those routes, less the document's own
    assert document_routes(document) == routes - SERVED_ELSEWHERE


def test_the_committed_document_is_the_current_merge() -> None:
    # The captcha function serves the committed file: it must be what a merge gives now
    assert DOCUMENT_PATH.read_text() == document_text(merged_document(STACK)), (
        "functions/captcha/openapi.json is out of date: run python -m drcaptcha_ops.openapi"
    )


def test_siteverify_documents_its_http_200_errors_and_the_others_their_error_shape() -> None:
    document = json.loads(DOCUMENT_PATH.read_text())
    siteverify = document["paths"]["/v1/siteverify"]["post"]["responses"]
    answer = document["paths"]["/v1/answer"]["post"]["responses"]

    assert set(siteverify) == {"200"}
    assert "SiteverifyResponse" in json.dumps(siteverify["200"])
    assert "400" in answer and "ErrorBody" in json.dumps(answer["400"])
    assert "ErrorBody" in document["components"]["schemas"]
