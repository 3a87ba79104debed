"""API Gateway HTTP API events, payload format 2.0: the event a request becomes, and the HTTP reply a handler's
return value becomes, both as API Gateway shapes them."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import flask

from drcaptcha_ops.template import ACCOUNT_ID

LOCAL_API_ID = "local"
# API Gateway hands these content types to the function as text; every other body arrives base64-encoded
# (form posts included, which surprises handlers that were only tried with JSON).
_TEXT_MIMETYPES = ("application/json", "application/xml", "application/javascript")


def _is_text(mimetype: str) -> bool:
    return mimetype.startswith("text/") or mimetype in _TEXT_MIMETYPES or mimetype.endswith(("+json", "+xml"))


def _event_body(request: flask.Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        return {"isBase64Encoded": False}
    if _is_text(request.mimetype):
        try:
            return {"body": raw.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass
    return {"body": base64.b64encode(raw).decode("ascii"), "isBase64Encoded": True}


def http_api_event(request: flask.Request, route_key: str, path_parameters: dict[str, str]) -> dict[str, Any]:
    """The event API Gateway (HTTP API, payload format 2.0) would send for `request` on the route `route_key`."""
    now = datetime.now(UTC)
    source_ip = request.remote_addr or "127.0.0.1"
    headers = {name.lower(): value for name, value in request.headers.items() if name.lower() != "cookie"}
    headers.setdefault("x-forwarded-for", source_ip)
    headers.setdefault("x-forwarded-proto", request.scheme)
    cookie_header = request.headers.get("Cookie", "")
    cookies = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
    query = {name: ",".join(request.args.getlist(name)) for name in request.args}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": request.host.split(":")[0],
            "domainPrefix": request.host.split(".")[0].split(":")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": source_ip,
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "stageVariables": None,
        **_event_body(request),
    }
    # API Gateway leaves these keys out, rather than empty, when there is nothing to put in them.
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def http_api_response(result: Any) -> flask.Response:
    """Shape a handler's return value into HTTP as API Gateway does for payload format 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # A return without a statusCode is taken as the JSON body of a 200.
        plain = result if isinstance(result, str) else json.dumps(result)
        return flask.Response(plain, status=200, content_type="application/json")
    status = result["statusCode"]
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    body: str | bytes = result.get("body") or ""
    if result.get("isBase64Encoded") and body:
        body = base64.b64decode(body)
    response = flask.Response(body, status=status)
    response.headers.remove("Content-Type")
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    return response
