"""docs/DEPLOY.md publishes the widget's versioned path and Subresource Integrity hash: they must be web/widget.js's.
When widget.js changes, `drcaptcha widget-sri` prints the new pair to paste there."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from drcaptcha_ops import webpublish

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md"


def test_the_published_path_and_integrity_hash_are_the_widgets() -> None:
    widget = (webpublish.WEB_DIR / "widget.js").read_bytes()
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(widget).digest()).decode()
    path = f"/widget/{hashlib.sha256(widget).hexdigest()[:16]}/widget.js"
    assert (webpublish.widget_sri(webpublish.WEB_DIR / "widget.js"), "/" + webpublish.widget_key()) == (integrity, path)

    doc = DEPLOY_DOC.read_text()
    hint = "web/widget.js changed: run `drcaptcha widget-sri` and put its path and integrity in docs/DEPLOY.md"
    assert path in doc, hint
    assert f'integrity="{integrity}"' in doc, hint
