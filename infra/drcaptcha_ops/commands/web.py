"""`drcaptcha widget-sri` and `drcaptcha publish-web`: the widget's versioned path and integrity hash, and web/
uploaded to a deployed stack's private web bucket (served by its CloudFront distribution, docs/DEPLOY.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from drcaptcha.errors import DataError
from drcaptcha_ops import webpublish
from drcaptcha_ops.deployment import describe_stack


def register(subparsers: Any) -> None:
    sri = subparsers.add_parser("widget-sri", help="the widget's versioned path and Subresource Integrity hash")
    sri.add_argument("--web-dir", type=Path, default=webpublish.WEB_DIR, help="default: %(default)s")
    sri.add_argument("--json", action="store_true", help="print one JSON document")
    sri.set_defaults(run=run_widget_sri)

    publish = subparsers.add_parser(
        "publish-web", help="upload web/ to a deployed stack's web bucket (content types and cache headers)"
    )
    where = publish.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the CloudFormation stack name: its WebBucket and WebUrl Outputs")
    where.add_argument("--bucket", help="a bucket name instead of a stack (an emulator's, for a try)")
    publish.add_argument("--web-dir", type=Path, default=webpublish.WEB_DIR, help="default: %(default)s")
    publish.set_defaults(run=run_publish_web)


def run_widget_sri(args: argparse.Namespace) -> int:
    widget = args.web_dir / webpublish.WIDGET
    path, integrity = "/" + webpublish.widget_key(args.web_dir), webpublish.widget_sri(widget)
    if args.json:
        print(json.dumps({"path": path, "integrity": integrity}))
    else:
        print(f"path       {path}")
        print(f"integrity  {integrity}")
    return 0


def run_publish_web(args: argparse.Namespace) -> int:
    base = ""
    bucket = args.bucket
    if args.stack:
        outputs = describe_stack(args.stack).outputs
        if "WebBucket" not in outputs:
            raise DataError(f"stack {args.stack!r} has no WebBucket Output: was it deployed from this template.yaml?")
        bucket, base = outputs["WebBucket"], outputs.get("WebUrl", "")
    uploaded = webpublish.publish(bucket, args.web_dir)
    print(f"publish-web: {len(uploaded)} files -> s3://{bucket}")
    widget = args.web_dir / webpublish.WIDGET
    print(f"widget     {base}/{webpublish.widget_key(args.web_dir)}")
    print(f"integrity  {webpublish.widget_sri(widget)}")
    return 0
