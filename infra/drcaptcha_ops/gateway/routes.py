"""The gateway's routes: every HttpApi event of the template's functions, matched in API Gateway's order, with
the CORS rules of the API each belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from drcaptcha.errors import DataError
from drcaptcha_ops.template import LocalStack

DEFAULT_ROUTE_KEY = "$default"


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
    for function_id, event_id, raw_properties in stack.function_events("HttpApi"):
        properties = stack.resolve(raw_properties)
        if str(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
            raise DataError(f"{function_id}.{event_id}: the local gateway speaks payload format 2.0 only")
        path = str(properties.get("Path", DEFAULT_ROUTE_KEY))
        method = str(properties.get("Method", "ANY")).upper()
        cors = _api_cors(stack, raw_properties.get("ApiId"))
        routes.append(Route(function_id, method, path, _path_pattern(path), cors))
    return sorted(routes, key=lambda route: route.priority)
