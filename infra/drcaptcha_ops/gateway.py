"""The local gateway: API Gateway HTTP API (payload v2.0) in front of the template's functions, plus web/.

It is a functions-framework app: `create_gateway` asks `functions_framework.create_app` for the Flask app
that hosts `serve_request` (this file is its source), and hands it the routes read from template.yaml. Each
request becomes the event that API Gateway would send, the function's handler (CodeUri + Handler) runs in
this process with a Lambda-like context, and its reply is shaped back into HTTP the way API Gateway does it.
The exact same handlers run on AWS.

The pieces that any local invocation needs (finding a function's code, its context, its environment) live
here too; the stream poller reuses them.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import functions_framework
from werkzeug.security import safe_join
from werkzeug.serving import make_server

from drcaptcha.config import reset_settings
from drcaptcha.errors import DataError, DrCaptchaError, NotFound, PayloadTooLarge
from drcaptcha_ops import pages
from drcaptcha_ops.bootstrap import export_environment
from drcaptcha_ops.template import ACCOUNT_ID, REPO_ROOT, TEMPLATE_PATH, LocalStack, local_stack

logger = logging.getLogger(__name__)

WEB_ROOT = REPO_ROOT / "web"
GATEWAY_CONFIG_KEY = "DRCAPTCHA_GATEWAY"
LOCAL_API_ID = "local"
DEFAULT_ROUTE_KEY = "$default"
# A synchronous Lambda invocation takes at most 6 MB; API Gateway turns a larger request away.
MAX_EVENT_BODY_BYTES = 6 * 1024 * 1024
# API Gateway hands these content types to the function as text; every other body arrives base64-encoded
# (form posts included, which surprises handlers that were only tried with JSON).
_TEXT_MIMETYPES = ("application/json", "application/xml", "application/javascript")

Handler = Callable[[dict[str, Any], Any], Any]


# --- running one function locally -----------------------------------------------------------------------


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


# --- routes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorsRules:
    """An HttpApi's CorsConfiguration. API Gateway applies it itself and ignores the functions' CORS headers."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("*",)
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_template(cls, configuration: Any) -> CorsRules | None:
        if configuration is True:
            return cls()
        if not isinstance(configuration, dict):
            return None

        def names(key: str) -> tuple[str, ...]:
            return tuple(str(item) for item in configuration.get(key, []) or [])

        max_age = configuration.get("MaxAge")
        return cls(
            allow_origins=names("AllowOrigins"),
            allow_methods=names("AllowMethods"),
            allow_headers=names("AllowHeaders"),
            expose_headers=names("ExposeHeaders"),
            max_age=None if max_age is None else int(max_age),
            allow_credentials=bool(configuration.get("AllowCredentials", False)),
        )

    def allowed_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        return origin if origin in self.allow_origins else None

    def response_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed}
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        headers = self.response_headers(origin)
        if not headers:
            return {}
        headers["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        return headers


@dataclass(frozen=True)
class Route:
    """One HttpApi event: `GET /v1/challenge`, `ANY /admin/{proxy+}` or `$default`."""

    function_id: str
    method: str
    path: str
    pattern: re.Pattern[str]
    cors: CorsRules | None = None

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE_KEY if self.path == DEFAULT_ROUTE_KEY else f"{self.method} {self.path}"

    @property
    def priority(self) -> tuple[int, int, int, int]:
        """API Gateway's order: exact paths, then path variables, then greedy ones; a set method before ANY."""
        segments = self.path.strip("/").split("/")
        variables = sum(segment.startswith("{") for segment in segments)
        greedy = int(self.path.endswith("+}")) + 2 * int(self.path == DEFAULT_ROUTE_KEY)
        return (greedy, variables, -len(segments), int(self.method == "ANY"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in {"ANY", method}:
            return None
        return self.match_path(path)

    def match_path(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()


def _path_pattern(path: str) -> re.Pattern[str]:
    if path == DEFAULT_ROUTE_KEY:
        return re.compile(r".*", re.DOTALL)
    pattern = ""
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("+}"):
            pattern += f"(?P<{piece[1:-2]}>.+)"
        elif piece.startswith("{"):
            pattern += f"(?P<{piece[1:-1]}>[^/]+)"
        else:
            pattern += re.escape(piece)
    return re.compile(pattern, re.DOTALL)


def _api_cors(stack: LocalStack, api_id: Any) -> CorsRules | None:
    """The CORS rules of the HttpApi an event names (ApiId), or of the implicit API (Globals.HttpApi)."""
    configuration = stack.template.get("Globals", {}).get("HttpApi", {}).get("CorsConfiguration")
    if isinstance(api_id, dict) and isinstance(api_id.get("Ref"), str) and api_id["Ref"] in stack.resources:
        own = stack.resources[api_id["Ref"]].get("Properties", {}).get("CorsConfiguration")
        configuration = own if own is not None else configuration
    return CorsRules.from_template(stack.resolve(configuration))


def http_routes(stack: LocalStack) -> list[Route]:
    """Every HttpApi event of every function, most specific first."""
    routes = []
    for function_id in stack.resources_of_type("AWS::Serverless::Function"):
        events = stack.resources[function_id].get("Properties", {}).get("Events", {}) or {}
        for event_id, event in events.items():
            if event.get("Type") != "HttpApi":
                continue
            raw_properties = event.get("Properties", {}) or {}
            properties = stack.resolve(raw_properties)
            if str(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
                raise DataError(f"{function_id}.{event_id}: the local gateway speaks payload format 2.0 only")
            path = str(properties.get("Path", DEFAULT_ROUTE_KEY))
            method = str(properties.get("Method", "ANY")).upper()
            cors = _api_cors(stack, raw_properties.get("ApiId"))
            routes.append(Route(function_id, method, path, _path_pattern(path), cors))
    return sorted(routes, key=lambda route: route.priority)


# --- API Gateway v2 events and responses ---------------------------------------------------------------------


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


def http_api_event(request: flask.Request, route: Route, path_parameters: dict[str, str]) -> dict[str, Any]:
    """The event API Gateway (HTTP API, payload format 2.0) would send for `request`."""
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
        "routeKey": route.route_key,
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
            "routeKey": route.route_key,
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


class BadGateway(DrCaptchaError):
    """A function failed or replied with something that is not a response: API Gateway's own 5xx."""

    code = "bad-gateway"
    status = 502


def error_response(error: DrCaptchaError) -> flask.Response:
    return flask.Response(json.dumps(error.as_body()), status=error.status, content_type="application/json")


# --- the gateway -----------------------------------------------------------------------------------------------


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
        static = pages.page_response(request, self.web_root) or self.static_file(request)
        if static is not None:
            return static
        default = next((route for route in self.routes if route.path == DEFAULT_ROUTE_KEY), None)
        if default is not None:
            return self.call(default, request, {})
        return error_response(NotFound(f"no route for {request.method} {request.path}"))

    def call(self, route: Route, request: flask.Request, path_parameters: dict[str, str]) -> flask.Response:
        function = self.functions[route.function_id]
        try:
            response = http_api_response(function.invoke(http_api_event(request, route, path_parameters)))
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

    def static_file(self, request: flask.Request) -> flask.Response | None:
        if request.method not in {"GET", "HEAD"}:
            return None
        root = self.web_root.resolve()
        # safe_join refuses `..`, absolute paths and drive names; werkzeug has decoded %2e%2e to `..` already.
        joined = safe_join(str(root), request.path.lstrip("/"))
        if joined is None or "\x00" in joined:  # a NUL byte is no file name (and makes the OS calls raise)
            return None
        target = Path(joined).resolve()
        if target.is_dir():
            target = target / "index.html"
        # A symlink inside web/ must not lead outside it.
        if not target.is_file() or not target.is_relative_to(root):
            return None
        return flask.send_file(target)


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
    that folder holds modules (template, cli, commands) whose bare names must not become importable.
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
