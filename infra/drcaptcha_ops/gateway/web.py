"""The files of web/ that the gateway serves where no route takes the request.

`web_file` is the one place a GET or HEAD becomes a file of web/; a page of web/pages/ comes rendered from its
template (drcaptcha_ops.pages).
"""

from __future__ import annotations

from pathlib import Path

import flask
from werkzeug.security import safe_join

from drcaptcha.config import get_settings
from drcaptcha_ops import pages
from drcaptcha_ops.pages import WEB_ROOT as WEB_ROOT


def web_file(request: flask.Request, web_root: Path) -> flask.Response | None:
    """The file of `web_root` that a GET or HEAD asks for (a folder's index.html), or None: never one outside it."""
    if request.method not in {"GET", "HEAD"}:
        return None
    response = _file_response(request, web_root)
    if response is not None:
        response.headers["Content-Security-Policy"] = pages.content_security_policy(get_settings().aws_endpoint_url)
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _file_response(request: flask.Request, web_root: Path) -> flask.Response | None:
    page = pages.page_response(request, web_root)
    if page is not None:
        return page
    root = web_root.resolve()
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
