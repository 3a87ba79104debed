"""The local gateway: API Gateway HTTP API (payload v2.0) in front of the template's functions, plus web/.

It is a functions-framework app: `create_gateway` asks `functions_framework.create_app` for the Flask app
that hosts `serve_request` (this file is its source), and hands it the routes read from template.yaml. Each
request becomes the event that API Gateway would send (`gateway.events`), the route's function
(`lambda_runner`) runs in this process with a Lambda-like context, and its reply is shaped back into HTTP the way
API Gateway does it. The exact same handlers run on AWS. What no route takes is a file of web/ (`gateway.web`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import flask
import functions_framework
from werkzeug.serving import make_server

from drcaptcha.errors import DrCaptchaError, NotFound, PayloadTooLarge
from drcaptcha_ops.gateway.events import http_api_event, http_api_response
from drcaptcha_ops.gateway.routes import DEFAULT_ROUTE_KEY, Route, http_routes
from drcaptcha_ops.gateway.web import WEB_ROOT, web_file
from drcaptcha_ops.lambda_runner import LocalFunction, export_function_environments, local_functions
from drcaptcha_ops.template import TEMPLATE_PATH, LocalStack, local_stack

logger = logging.getLogger(__name__)

GATEWAY_CONFIG_KEY = "DRCAPTCHA_GATEWAY"
# A synchronous Lambda invocation takes at most 6 MB; API Gateway turns a larger request away.
MAX_EVENT_BODY_BYTES = 6 * 1024 * 1024


class BadGateway(DrCaptchaError):
    """A function failed or replied with something that is not a response: API Gateway's own 5xx."""

    code = "bad-gateway"
    status = 502


def error_response(error: DrCaptchaError) -> flask.Response:
    return flask.Response(json.dumps(error.as_body()), status=error.status, content_type="application/json")


@dataclass
class Gateway:
    """The routes, functions and static root behind one gateway app."""

    routes: list[Route]
    functions: dict[str, LocalFunction]
    web_root: Path

    def dispatch(self, request: flask.Request) -> flask.Response:
        if request.path == "/healthz" and request.method in {"GET", "HEAD"}:
            return flask.jsonify(status="ok")
        if (request.content_length or 0) > MAX_EVENT_BODY_BYTES:
            return error_response(PayloadTooLarge(f"the request body is over {MAX_EVENT_BODY_BYTES} bytes"))
        preflight = self.preflight(request)
        if preflight is not None:
            return preflight
        for route in self.routes:
            if route.path == DEFAULT_ROUTE_KEY:
                break
            path_parameters = route.match(request.method, request.path)
            if path_parameters is not None:
                return self.call(route, request, path_parameters)
        static = web_file(request, self.web_root)
        if static is not None:
            return static
        default = next((route for route in self.routes if route.path == DEFAULT_ROUTE_KEY), None)
        if default is not None:
            return self.call(default, request, {})
        return error_response(NotFound(f"no route for {request.method} {request.path}"))

    def call(self, route: Route, request: flask.Request, path_parameters: dict[str, str]) -> flask.Response:
        function = self.functions[route.function_id]
        try:
            event = http_api_event(request, route.route_key, path_parameters)
            response = http_api_response(function.invoke(event))
        except Exception:
            # What API Gateway does when a function fails: an error to the client, the traceback to the log.
            logger.exception("%s failed on %s %s", function.function_id, request.method, request.path)
            response = error_response(BadGateway(f"{route.function_id} failed; the gateway log has the error"))
        if route.cors is not None:
            for name in {name for name, _ in response.headers.items() if name.lower().startswith("access-control-")}:
                del response.headers[name]
            response.headers.update(route.cors.response_headers(request.headers.get("Origin")))
        return response

    def preflight(self, request: flask.Request) -> flask.Response | None:
        """A CORS preflight that no OPTIONS route takes: API Gateway answers it from the API's CorsConfiguration.

        It does so before an `ANY` route could take it, so a function never sees a preflight.
        """
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        matching = [route for route in self.routes if route.match_path(request.path) is not None]
        if any(route.method == "OPTIONS" for route in matching):
            return None
        route = next((route for route in matching if route.cors is not None), None)
        if route is None or route.cors is None:
            return None
        response = flask.Response(status=204)
        response.headers.update(route.cors.preflight_headers(request.headers.get("Origin")))
        return response


@functions_framework.http
def serve_request(request: flask.Request) -> flask.Response:
    """The functions-framework target: every request, whatever its path and method."""
    gateway: Gateway = flask.current_app.config[GATEWAY_CONFIG_KEY]
    return gateway.dispatch(request)


def create_gateway(
    template_path: Path = TEMPLATE_PATH, web_root: Path = WEB_ROOT, stack: LocalStack | None = None
) -> flask.Flask:
    """The gateway as a WSGI app, for the template at `template_path` (tests pass a fixture template).

    It sets the functions' environment in this process, as SAM would for each function.
    """
    stack = stack or local_stack(template_path)
    functions = local_functions(stack, template_path.parent)
    export_function_environments(stack, functions)
    gateway = Gateway(routes=http_routes(stack), functions=functions, web_root=web_root)
    app = _functions_framework_app()
    app.config[GATEWAY_CONFIG_KEY] = gateway
    # functions-framework answers these two with its own 404; here they are ordinary paths under web/.
    app.view_functions["error"] = lambda: serve_request(flask.request)
    # A path Flask's router cannot match (a newline in it, say) still gets the gateway's JSON 404, not Flask's HTML.
    app.register_error_handler(404, lambda _error: serve_request(flask.request))
    for route in gateway.routes:
        logger.info("route %-30s -> %s", route.route_key, route.function_id)
    return app


@contextmanager
def running_gateway(
    template_path: Path = TEMPLATE_PATH, web_root: Path = WEB_ROOT, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve the gateway from a background thread (tests, benchmarks); yield its base URL."""
    server = make_server(host, port, create_gateway(template_path, web_root), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _functions_framework_app() -> flask.Flask:
    """functions-framework's app for `serve_request`, without the import-path side effects it leaves behind.

    create_app imports its source file as a top-level module and appends the file's folder to sys.path;
    that folder holds modules (routes, events, web) whose bare names must not become importable.
    """
    source = Path(__file__).resolve()
    path_before = list(sys.path)
    module_name = source.stem
    previous_module = sys.modules.get(module_name)
    try:
        app: flask.Flask = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target=serve_request.__name__, source=str(source)
        )
    finally:
        sys.path[:] = path_before
        if previous_module is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous_module
    return app
