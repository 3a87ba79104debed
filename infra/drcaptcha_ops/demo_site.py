"""The demo site: a sign-up form guarded by the DrCaptcha widget, as a real integration looks.

It plays the part of someone else's website. Its page loads `widget.js` from the DrCaptcha API, and its server
checks the `drcaptcha-response` token with `POST /v1/siteverify` and the site's secret, server to server, before
it accepts the form. Without a valid token the form is refused with a clear message.

    python -m drcaptcha_ops.demo_site --api http://127.0.0.1:8080 --site-key dc_site_… --hostname DOMAIN (secret in
    DRCAPTCHA_DEMO_SECRET)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import flask
from werkzeug.serving import BaseWSGIServer, make_server

from drcaptcha.errors import ServiceUnavailable
from drcaptcha_ops.template import REPO_ROOT

DEMO_ROOT: Final = REPO_ROOT / "web" / "demo"
RESPONSE_FIELD: Final = "drcaptcha-response"
SECRET_ENV: Final = "DRCAPTCHA_DEMO_SECRET"  # noqa: S105 - the name of a variable, not a secret
SITEVERIFY_TIMEOUT_S: Final = 10.0
DEMO_SITE_CONFIG_KEY: Final = "DRCAPTCHA_DEMO_SITE"
DEFAULT_PORT: Final = 8081

# What a visitor should read for each siteverify error code; the code itself goes to the log, not the page.
VISITOR_MESSAGES: Final = {
    "missing-input-response": "Please complete the captcha before you send the form.",
    "invalid-input-response": "The captcha answer was not valid for this site. Please solve the captcha again.",
    "timeout-or-duplicate": "The captcha expired or was already used. Please solve it again.",
    "missing-input-secret": "This site's captcha is not set up correctly (no secret). Please tell the site owner.",
    "invalid-input-secret": "This site's captcha is not set up correctly (its secret was refused). Please tell "
    "the site owner.",
    "internal-error": "The captcha service had a problem. Please try again in a moment.",
}
SIGNUP_ACTION: Final = "signup"
GENERIC_MESSAGE: Final = "The captcha check failed. Please solve the captcha again."


@dataclass(frozen=True)
class DemoSiteConfig:
    """`api_url` is where this server calls siteverify; `widget_api_url` is where browsers load the widget from;
    `hostname` is the domain the site was registered with (`create-site DOMAIN`), which siteverify must name."""

    api_url: str
    site_key: str
    secret: str
    hostname: str
    widget_api_url: str | None = None

    @property
    def widget_url(self) -> str:
        return (self.widget_api_url or self.api_url).rstrip("/") + "/widget.js"

    @property
    def siteverify_url(self) -> str:
        return self.api_url.rstrip("/") + "/v1/siteverify"


@dataclass(frozen=True)
class Verdict:
    success: bool
    error_codes: tuple[str, ...]
    hostname: str | None
    action: str | None = None  # what the widget declared (web/demo/static/signup.js: "signup")
    path: str | None = None  # siteverify's metadata.path: "glyphs", or "accessible" (proof of work only)

    @property
    def visitor_message(self) -> str:
        for code in self.error_codes:
            if code in VISITOR_MESSAGES:
                return VISITOR_MESSAGES[code]
        return GENERIC_MESSAGE


def siteverify(config: DemoSiteConfig, token: str, remote_ip: str | None) -> Verdict:
    """The server-to-server check, form-encoded as reCAPTCHA clients send it; ServiceUnavailable if unreachable."""
    fields = {"secret": config.secret, "response": token}
    if remote_ip:
        fields["remoteip"] = remote_ip
    request = urllib.request.Request(  # noqa: S310 - the URL is the configured API, http(s) only
        config.siteverify_url,
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=SITEVERIFY_TIMEOUT_S) as reply:  # noqa: S310 - see above
            body: Any = json.load(reply)
    except (urllib.error.URLError, TimeoutError, ValueError) as error:
        # siteverify answers every verdict with 200, so a non-2xx (HTTPError) or garbage is an outage.
        raise ServiceUnavailable(f"siteverify at {config.siteverify_url} failed: {error}") from error
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        raise ServiceUnavailable(f"siteverify at {config.siteverify_url} answered without a `success` field")
    codes = body.get("error-codes") or []
    hostname, action, metadata = body.get("hostname"), body.get("action"), body.get("metadata")
    path = metadata.get("path") if isinstance(metadata, dict) else None
    return Verdict(
        success=body["success"],
        error_codes=tuple(str(code) for code in codes),
        hostname=hostname if isinstance(hostname, str) else None,
        action=action if isinstance(action, str) else None,
        path=path if isinstance(path, str) else None,
    )


def _config() -> DemoSiteConfig:
    config: DemoSiteConfig = flask.current_app.config[DEMO_SITE_CONFIG_KEY]
    return config


def _form(error: str | None = None, status: int = 200) -> tuple[str, int]:
    config = _config()
    page = flask.render_template(
        "signup.html",
        site_key=config.site_key,
        widget_url=config.widget_url,
        error=error,
        name=flask.request.form.get("name", ""),
        email=flask.request.form.get("email", ""),
    )
    return page, status


def signup_form() -> tuple[str, int]:
    return _form()


def signup() -> tuple[str, int]:
    """Refuse the form unless siteverify accepts its token; only then "create the account"."""
    name = flask.request.form.get("name", "").strip()
    if not name or not flask.request.form.get("email", "").strip():
        return _form("Please give your name and email.", 400)
    token = flask.request.form.get(RESPONSE_FIELD, "")
    if not token:
        return _form(VISITOR_MESSAGES["missing-input-response"], 400)
    try:
        verdict = siteverify(_config(), token, flask.request.remote_addr)
    except ServiceUnavailable as error:
        flask.current_app.logger.error("%s", error.message)
        return _form("We could not check the captcha right now. Please try again in a moment.", 503)
    if not verdict.success:
        flask.current_app.logger.info("siteverify refused the token: %s", ", ".join(verdict.error_codes))
        return _form(verdict.visitor_message, 400)
    if verdict.hostname != _config().hostname:
        # As reCAPTCHA and Turnstile tell integrators: a token that names another site's domain is refused, whatever
        # else it says (docs/RELIABILITY.md, "Siteverify's hostname").
        flask.current_app.logger.warning(
            "siteverify named %r, not this site's %r", verdict.hostname, _config().hostname
        )
        return _form(GENERIC_MESSAGE, 400)
    if verdict.action != SIGNUP_ACTION:
        # A token made for another form of this site (the widget's action) is no sign-up.
        return _form(GENERIC_MESSAGE, 400)
    return flask.render_template("welcome.html", name=name, hostname=verdict.hostname, path=verdict.path), 200


def create_demo_site(config: DemoSiteConfig) -> flask.Flask:
    """The demo site as a WSGI app."""
    app = flask.Flask(
        __name__,
        template_folder=str(DEMO_ROOT),
        static_folder=str(DEMO_ROOT / "static"),
        static_url_path="/static",
    )
    app.config[DEMO_SITE_CONFIG_KEY] = config
    app.add_url_rule("/", "signup_form", signup_form, methods=["GET"])
    app.add_url_rule("/signup", "signup", signup, methods=["POST"])
    app.add_url_rule("/healthz", "healthz", lambda: flask.jsonify(status="ok"), methods=["GET"])
    return app


def demo_server(config: DemoSiteConfig, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> BaseWSGIServer:
    """The demo site on a threaded werkzeug server (port 0 picks a free one); the caller runs and closes it."""
    return make_server(host, port, create_demo_site(config), threaded=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drcaptcha_ops.demo_site", description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the DrCaptcha API's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--site-key", required=True, help="the site key from `drcaptcha create-site`")
    parser.add_argument(
        "--hostname", required=True, help="the DOMAIN given to `drcaptcha create-site`: siteverify must name it"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"demo_site: error: set {SECRET_ENV} to the site's secret", file=sys.stderr)
        return 2
    config = DemoSiteConfig(api_url=args.api, site_key=args.site_key, secret=secret, hostname=args.hostname)
    server = demo_server(config, args.host, args.port)
    print(f"demo site: http://{args.host}:{server.server_port}/ (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # pragma: no cover - an interactive stop
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
