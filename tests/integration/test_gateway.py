"""The local gateway, over real HTTP: template routes reach their handlers with API Gateway v2 events.

The routes come from a fixture template (tests/fixtures/local_functions) whose handlers echo what they get,
so these tests do not depend on the real functions.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from drcaptcha import aws
from drcaptcha.config import reset_settings
from drcaptcha_ops.commands.serve import local_service
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.gateway.app import running_gateway
from drcaptcha_ops.template import TEMPLATE_PATH

TESTS_DIR = Path(__file__).resolve().parents[1]
FIXTURE_TEMPLATE = TESTS_DIR / "fixtures" / "local_functions" / "template.yaml"
REFERENCE_EVENT = TESTS_DIR / "events" / "http_api_v2_reference.json"
SECRET_TEXT = "outside the web root"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RunningGateway:
    host: str
    port: int

    @classmethod
    def at(cls, url: str) -> RunningGateway:
        parts = urllib.parse.urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        # http.client sends the path exactly as given: no client-side normalisation of `..` or `%2e`.
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("site")
    web = tmp_path / "web"
    (web / "docs").mkdir(parents=True)
    (web / "index.html").write_text("<h1>home</h1>")
    (web / "docs" / "index.html").write_text("<h1>docs</h1>")
    (web / "widget.js").write_text("console.log('widget')")
    (tmp_path / "secret.txt").write_text(SECRET_TEXT)
    (web / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (web / "outside").symlink_to(tmp_path)
    # A page template (drcaptcha_ops.pages), and one that is a link out of web/pages/.
    (web / "pages").mkdir()
    (web / "pages" / "_base.html").write_text("<title>{% block title %}{% endblock %}</title>")
    (web / "pages" / "page.html").write_text('{% extends "_base.html" %}{% block title %}{{ page }}{% endblock %}')
    (tmp_path / "secret.html").write_text(SECRET_TEXT)
    (web / "pages" / "leak.html").symlink_to(tmp_path / "secret.html")
    return web


@pytest.fixture(scope="module")
def gateway(web_root: Path, emulator_session: Emulator) -> Iterator[RunningGateway]:
    # The gateway sets the functions' environment in this process; patch.dict gives the old one back. The
    # session's emulator starts first, so that the environment given back still points at it.
    with patch.dict(os.environ), running_gateway(FIXTURE_TEMPLATE, web_root=web_root) as url:
        yield RunningGateway.at(url)
    reset_settings()
    aws.reset_clients()


def test_a_route_with_a_path_parameter_reaches_its_handler_with_a_v2_event(gateway: RunningGateway) -> None:
    # Given a GET with a path parameter, a repeated query parameter, headers and cookies
    path = "/items/glyph-42?sitekey=abc&tag=a&tag=b"
    headers = {"X-Custom-Header": "Value", "User-Agent": "pytest-agent", "Cookie": "a=1; b=2"}

    # When it goes through the gateway
    reply = gateway.request("GET", path, headers=headers)

    # Then the handler got the event API Gateway would send
    assert reply.status == 200
    event = reply.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/glyph-42"
    assert event["rawQueryString"] == "sitekey=abc&tag=a&tag=b"
    assert event["pathParameters"] == {"item_id": "glyph-42"}
    assert event["queryStringParameters"] == {"sitekey": "abc", "tag": "a,b"}
    assert event["headers"]["x-custom-header"] == "Value"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/items/glyph-42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest-agent",
    }
    assert context["routeKey"] == "GET /items/{item_id}"
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key of a nested event, as dotted paths (header and parameter names excepted)."""
    if not isinstance(value, dict):
        return set()
    paths = set()
    for key, item in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if key not in {"headers", "queryStringParameters", "pathParameters"}:
            paths |= key_paths(item, f"{path}.")
    return paths


def test_the_event_has_every_key_of_api_gateways_own_and_powertools_reads_it(gateway: RunningGateway) -> None:
    # Given API Gateway's event for a request with a query, cookies and a path parameter
    reference = json.loads(REFERENCE_EVENT.read_text())

    # When the gateway builds its own for such a request
    event = gateway.request("GET", "/items/7?sitekey=k", headers={"Cookie": "session=abc"}).json()["event"]

    # Then no key that handlers may read is missing, and powertools parses it as an HTTP API v2 event
    assert key_paths(reference) - key_paths(event) == set()
    parsed = APIGatewayProxyEventV2(event)
    assert parsed.path_parameters == {"item_id": "7"}
    assert parsed.get_query_string_value("sitekey") == "k"
    assert parsed.request_context.http.source_ip == "127.0.0.1"


def test_the_handler_runs_with_a_lambda_context_and_the_templates_environment(gateway: RunningGateway) -> None:
    # When a function is called through the gateway
    reply = gateway.request("GET", "/items/1").json()

    # Then its context names the function, and its environment is what SAM would give it
    assert reply["context"]["function_name"] == "drcaptcha-local-EchoFunction"
    assert reply["context"]["memory_limit_in_mb"] == 256
    assert reply["context"]["invoked_function_arn"].endswith(":function:drcaptcha-local-EchoFunction")
    assert 0 < reply["context"]["remaining_ms"] <= 5000
    assert reply["environment"] == {
        "FIXTURE_STAGE": "fixture",
        "FIXTURE_STREAM": "drcaptcha-local-FixtureStream",
        "ECHO_GREETING": "hello from fixture",
    }


def test_concurrent_requests_get_instances_of_their_own_and_warm_ones_are_reused(gateway: RunningGateway) -> None:
    # Given two requests that overlap, each holding its instance for a while
    start = threading.Barrier(2)
    instances: list[str] = []

    def call() -> None:
        start.wait()
        instances.append(gateway.request("GET", "/items/1?sleep=0.6").json()["instance"])

    # When they run at once, and then one more runs alone
    callers = [threading.Thread(target=call) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=20)
    later = gateway.request("GET", "/items/1").json()["instance"]

    # Then each overlapping request had an instance to itself (as Lambda scales), and the later one reused one
    assert len(set(instances)) == 2
    assert later in instances


def test_an_exact_route_wins_over_a_path_parameter(gateway: RunningGateway) -> None:
    # When the path fits both /items/latest and /items/{item_id}
    event = gateway.request("GET", "/items/latest").json()["event"]

    # Then the exact route is chosen, as API Gateway does
    assert event["routeKey"] == "GET /items/latest"
    assert "pathParameters" not in event


def test_a_json_post_body_arrives_as_text_and_the_status_comes_back(gateway: RunningGateway) -> None:
    # Given a JSON body
    body = {"challenge_id": "c-1", "answer": "aB3xyz"}

    # When it is posted
    reply = gateway.request(
        "POST", "/items", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )

    # Then the handler reads it as text, and its status code reaches the client
    assert reply.status == 201
    assert reply.headers["Content-Type"] == "application/json"
    event = reply.json()["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == body


def test_binary_and_form_bodies_arrive_base64_encoded_on_a_greedy_any_route(gateway: RunningGateway) -> None:
    # Given a binary upload and a form post under a {proxy+} route that takes ANY method
    png = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"

    # When both go through the gateway
    binary = gateway.request("PUT", "/files/a/b/c.png", body=png, headers={"Content-Type": "image/png"}).json()
    form = gateway.request(
        "POST",
        "/files/form",
        body=b"secret=s&response=t",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()

    # Then each body is base64, as API Gateway sends any non-text body, and the greedy parameter holds the rest
    assert binary["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary["event"]["body"]) == png
    assert binary["event"]["pathParameters"] == {"proxy": "a/b/c.png"}
    assert binary["event"]["routeKey"] == "ANY /files/{proxy+}"
    assert form["event"]["isBase64Encoded"] is True
    assert base64.b64decode(form["event"]["body"]) == b"secret=s&response=t"


@pytest.mark.parametrize(
    ("shape", "status", "content_type", "body"),
    [
        ("string", 200, "application/json", b"just a string"),
        ("dict", 200, "application/json", b'{"plain": "dict", "count": 2}'),
        ("binary", 200, "image/png", b"\x89PNG\r\n\x1a\n\x00fixture\xff"),
    ],
)
def test_replies_are_shaped_as_api_gateway_shapes_them(
    gateway: RunningGateway, shape: str, status: int, content_type: str, body: bytes
) -> None:
    # When a handler returns a plain value, or a base64 body
    reply = gateway.request("GET", f"/shapes/{shape}")

    # Then the client gets what API Gateway would send
    assert reply.status == status
    assert reply.headers["Content-Type"] == content_type
    assert reply.body == body


def test_cookies_and_multi_value_headers_become_repeated_headers(gateway: RunningGateway) -> None:
    # When a handler returns cookies and a multi-value header
    reply = gateway.request("GET", "/shapes/cookies")

    # Then each is its own header line
    assert reply.status == 204
    assert reply.headers.get_all("Set-Cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert reply.headers.get_all("x-tag") == ["one", "two"]


def test_a_cors_preflight_is_answered_from_the_apis_cors_configuration(gateway: RunningGateway) -> None:
    # Given a browser on an allowed origin, and one on another origin
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

    # When each asks before a cross-origin POST, on a plain route and on an ANY route
    allowed = gateway.request("OPTIONS", "/items", headers={"Origin": "https://site.example", **preflight})
    on_any = gateway.request("OPTIONS", "/files/x", headers={"Origin": "https://site.example", **preflight})
    other = gateway.request("OPTIONS", "/items", headers={"Origin": "https://evil.example", **preflight})

    # Then the gateway answers from the template, as API Gateway does, without calling the function
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert allowed.headers["Access-Control-Allow-Headers"] == "content-type"
    assert allowed.headers["Access-Control-Max-Age"] == "600"
    assert (on_any.status, on_any.body) == (204, b"")
    assert on_any.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert other.status == 204
    assert "Access-Control-Allow-Origin" not in other.headers


def test_cors_headers_are_added_only_for_an_allowed_origin_on_an_api_with_cors(gateway: RunningGateway) -> None:
    # When an allowed origin calls a route of the API with CORS, and of the implicit API without
    with_cors = gateway.request("GET", "/items/1", headers={"Origin": "https://site.example"})
    other_origin = gateway.request("GET", "/items/1", headers={"Origin": "https://evil.example"})
    without_cors = gateway.request("GET", "/shapes/string", headers={"Origin": "https://site.example"})

    # Then only the first carries CORS headers
    assert with_cors.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert with_cors.headers["Access-Control-Expose-Headers"] == "x-request-id"
    assert "Access-Control-Allow-Origin" not in other_origin.headers
    assert "Access-Control-Allow-Origin" not in without_cors.headers


def test_a_body_over_lambdas_payload_limit_is_a_413(gateway: RunningGateway) -> None:
    # When a request body is larger than a Lambda invocation may be
    reply = gateway.request(
        "POST", "/items", body=b"x" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )

    # Then it is turned away before any function runs
    assert reply.status == 413
    assert reply.json()["error"]["code"] == "payload-too-large"


def test_an_unknown_route_is_a_json_404(gateway: RunningGateway) -> None:
    # When nothing matches: no route, no file
    reply = gateway.request("GET", "/v1/nothing-here")
    wrong_method = gateway.request("DELETE", "/items/1")

    # Then the client gets the project's error shape
    assert reply.status == 404
    assert reply.json()["error"]["code"] == "not-found"
    assert wrong_method.status == 404


def test_a_failing_handler_is_a_502_without_its_traceback(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    # When the handler raises, or returns something that is not a response
    reply = gateway.request("GET", "/broken")
    malformed = gateway.request("GET", "/shapes/malformed")

    # Then the client gets a 502 JSON error with no detail, and the log has the traceback
    assert reply.status == 502
    assert reply.json()["error"]["code"] == "bad-gateway"
    assert b"secret internal detail" not in reply.body
    assert b"Traceback" not in reply.body
    assert malformed.status == 502
    assert "secret internal detail" in caplog.text


def test_web_files_are_served_with_index_html_for_folders(gateway: RunningGateway) -> None:
    # When the site's files are asked for
    home = gateway.request("GET", "/")
    docs = gateway.request("GET", "/docs/")
    script = gateway.request("GET", "/widget.js")
    posted = gateway.request("POST", "/widget.js")

    # Then they come from the web root; only GET serves files
    assert (home.status, home.body) == (200, b"<h1>home</h1>")
    assert (docs.status, docs.body) == (200, b"<h1>docs</h1>")
    assert script.status == 200
    assert b"widget" in script.body
    assert "javascript" in script.headers["Content-Type"]
    assert posted.status == 404


def test_pages_are_rendered_from_their_templates_at_their_urls(gateway: RunningGateway) -> None:
    # When a page of web/pages/ is asked for by its URL, and its base template too
    page = gateway.request("GET", "/page.html")
    head = gateway.request("HEAD", "/page.html")
    base = gateway.request("GET", "/_base.html")

    # Then the page comes rendered from its template as HTML, and the base is no page
    assert (page.status, page.body) == (200, b"<title>page.html</title>")
    assert page.headers["Content-Type"].startswith("text/html")
    assert (head.status, head.body) == (200, b"")
    assert base.status == 404


def test_healthz_says_ok(gateway: RunningGateway) -> None:
    reply = gateway.request("GET", "/healthz")

    assert reply.status == 200
    assert reply.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/docs/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/leak.txt",
        "/outside/secret.txt",
        "/leak.html",
        "/pages/../../secret.html",
    ],
)
def test_paths_that_leave_the_web_root_are_refused(gateway: RunningGateway, path: str) -> None:
    # When a path tries to reach a file outside the web root
    reply = gateway.request("GET", path)

    # Then it is refused, and no outside content leaks
    assert reply.status == 404
    assert SECRET_TEXT.encode() not in reply.body
    assert b"root:" not in reply.body


def test_the_real_template_serves_healthz_and_404s_unknown_routes(tmp_path: Path) -> None:
    """The same gateway over template.yaml, whatever functions it holds today (handlers import on first use)."""
    # Given the gateway over the project's own template
    with patch.dict(os.environ), running_gateway(TEMPLATE_PATH, web_root=tmp_path) as url:
        # When it is asked for its health and for a path no function serves
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as health:
            status = json.loads(health.read())
        missing = RunningGateway.at(url).request("GET", "/no/such/route")

    # Then it is up, and an unknown path gets the JSON 404
    reset_settings()
    aws.reset_clients()
    assert status == {"status": "ok"}
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "not-found"


def test_drcaptcha_serve_runs_emulator_and_gateway_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`drcaptcha serve` as a user runs it: its own process, its own embedded emulator, stopped by SIGTERM."""
    # Given `drcaptcha serve` started in a folder of its own, with no AWS_ENDPOINT_URL
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"} | {"PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "drcaptcha_ops.cli", "serve", "--port", "0"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # When it says where the gateway is
        output = ""
        while (found := re.search(r"gateway: (http://\S+)", output)) is None:
            line = process.stdout.readline() if process.stdout else ""
            assert line, f"serve exited early: {output}"
            output += line
        with urllib.request.urlopen(f"{found.group(1)}/healthz", timeout=10) as health:
            status = json.loads(health.read())
        env_file = (tmp_path / ".drcaptcha" / "env").read_text()

        # Then it answers, and other shells can find its emulator
        assert status == {"status": "ok"}
        assert re.search(r"^AWS_ENDPOINT_URL=http://127\.0\.0\.1:\d+$", env_file, re.MULTILINE)

        # And SIGTERM stops it, removing what it wrote
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not (tmp_path / ".drcaptcha" / "env").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_with_aws_endpoint_url_set_uses_that_endpoint_and_polls_the_templates_streams(emulator: Emulator) -> None:
    """`drcaptcha serve` as against LocalStack: the session's moto server stands in for it."""
    # Given AWS_ENDPOINT_URL already set, as the emulator fixture leaves it
    assert os.environ["AWS_ENDPOINT_URL"] == emulator.endpoint

    # When the service starts, answers, and stops
    with patch.dict(os.environ), local_service("127.0.0.1", 0) as service:
        thread = threading.Thread(target=service.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            with urllib.request.urlopen(f"{service.url}/healthz", timeout=10) as health:
                status = json.loads(health.read())
            poller_was_running = service.poller.is_running
        finally:
            service.server.shutdown()
            thread.join(timeout=5)
    reset_settings()
    aws.reset_clients()

    # Then it used that endpoint (no emulator of its own), polled every Kinesis consumer of the template, and stopped
    consumers = {
        function_id
        for function_id, resource in emulator.stack.resources_of_type("AWS::Serverless::Function").items()
        if any(event.get("Type") == "Kinesis" for event in (resource["Properties"].get("Events") or {}).values())
    }
    assert status == {"status": "ok"}
    assert os.environ["AWS_ENDPOINT_URL"] == emulator.endpoint
    assert {subscription.function_id for subscription in service.poller.subscriptions} == consumers
    assert poller_was_running
    assert not service.poller.is_running
