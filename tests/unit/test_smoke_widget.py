"""`drcaptcha smoke --widget-url`: a versioned widget URL (/widget/<version>/widget.js, what publish-web uploads)
must serve the content its version names; a plain HTTP server on this machine stands in for CloudFront."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drcaptcha_ops import webpublish
from drcaptcha_ops.smoke import SmokeFailure, SmokeTest

WIDGET = b"(function () { 'use strict'; })();\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    right = tmp_path / "widget" / webpublish.version(WIDGET)
    stale = tmp_path / "widget" / "0123456789abcdef"
    for folder in (right, stale):
        folder.mkdir(parents=True)
        (folder / "widget.js").write_bytes(WIDGET)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def smoke(widget_url: str) -> SmokeTest:
    return SmokeTest(api="http://unused.invalid", site_key="dc_site_x", secret="dc_secret_x", widget_url=widget_url)


def test_a_versioned_widget_with_its_own_content_passes_and_reports_its_integrity(server: str) -> None:
    detail = smoke(f"{server}/widget/{webpublish.version(WIDGET)}/widget.js").widget()

    assert webpublish.integrity(WIDGET) in detail


def test_a_versioned_widget_serving_other_content_fails(server: str) -> None:
    with pytest.raises(SmokeFailure, match="is version"):
        smoke(f"{server}/widget/0123456789abcdef/widget.js").widget()
