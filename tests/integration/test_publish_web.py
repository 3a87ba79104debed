"""`drcaptcha publish-web` against the moto server: web/ lands in the stack's web bucket with the types and cache
lifetimes CloudFront passes on, and the versioned widget is byte for byte the file its integrity hash names.

moto cannot deploy template.yaml (no SAM transform), so the stack is a stand-in whose Outputs name the emulator's
web bucket, which `drcaptcha bootstrap` creates from the template like every other bucket.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from drcaptcha import aws
from drcaptcha_ops import pages, webpublish
from drcaptcha_ops.cli import main
from drcaptcha_ops.emulator import Emulator

STACK = "drcaptcha-web"
WEB_URL = "https://d111111abcdef8.cloudfront.net"


def create_stand_in_stack(bucket: str) -> None:
    body = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"WebBucket": {"Value": bucket}, "WebUrl": {"Value": WEB_URL}},
    }
    aws.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(body))


def test_publish_web_uploads_web_with_types_and_cache_headers(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed stack whose web bucket is empty
    bucket = emulator.stack.physical_name("WebBucket")
    create_stand_in_stack(bucket)

    # When the operator publishes web/
    assert main(["publish-web", "--stack", STACK]) == 0

    # Then the versioned widget is the file, cached for a year, and the printed URL and hash name it
    s3 = aws.client("s3")
    key = webpublish.widget_key()
    widget = s3.get_object(Bucket=bucket, Key=key)
    body = widget["Body"].read()
    assert body == (webpublish.WEB_DIR / "widget.js").read_bytes()
    assert widget["ContentType"] == "text/javascript; charset=utf-8"
    assert widget["CacheControl"] == "public, max-age=31536000, immutable"
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    printed = capsys.readouterr().out
    assert f"{WEB_URL}/{key}" in printed and integrity in printed

    # And the pages, the dashboard and the unversioned widget carry their types and a short lifetime
    expected = {
        "index.html": "text/html; charset=utf-8",
        "site.css": "text/css; charset=utf-8",
        "widget.js": "text/javascript; charset=utf-8",
        "admin/index.html": "text/html; charset=utf-8",
        "admin/": "text/html; charset=utf-8",
        "admin/admin.js": "text/javascript; charset=utf-8",
    }
    for name, content_type in expected.items():
        head = s3.head_object(Bucket=bucket, Key=name)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, "public, max-age=300"), name

    # And the pages are rendered from their Jinja templates: the bucket holds HTML, not the templates
    index = s3.get_object(Bucket=bucket, Key="index.html")["Body"].read().decode()
    assert index.lstrip().lower().startswith("<!doctype html>") and "{%" not in index and "{{" not in index
    assert s3.get_object(Bucket=bucket, Key="admin/")["Body"].read().decode() == pages.render("admin/index.html")

    # And neither the templates nor the demo site's, which only `drcaptcha demo` serves, are published
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert not any(name.startswith(("demo/", "pages/")) for name in keys)


def test_publish_web_refuses_a_stack_without_a_web_bucket(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"Other": {"Value": "x"}}}
    aws.client("cloudformation").create_stack(StackName="drcaptcha-old", TemplateBody=json.dumps(body))

    assert main(["publish-web", "--stack", "drcaptcha-old"]) == 2
    assert "no WebBucket Output" in capsys.readouterr().err


def test_widget_sri_prints_the_path_and_hash_of_the_given_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = b"console.log(1);\n"
    (tmp_path / "widget.js").write_bytes(source)

    assert main(["widget-sri", "--web-dir", str(tmp_path), "--json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    digest = hashlib.sha384(source).digest()
    assert printed["integrity"] == "sha384-" + base64.b64encode(digest).decode()
    assert printed["path"] == f"/widget/{hashlib.sha256(source).hexdigest()[:16]}/widget.js"
