"""`drcaptcha smoke --api URL --site-key KEY --secret SECRET`: the after-deploy check, through a test site."""

from __future__ import annotations

import argparse
from typing import Any

from drcaptcha_ops.smoke import SmokeTest


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "smoke", help="challenge, answer, siteverify and the widget against a deployed API, with a test site"
    )
    parser.add_argument("--api", required=True, help="the API's base URL (the stack's ApiUrl output)")
    parser.add_argument("--site-key", required=True, help="a test site's key (drcaptcha create-site --test-mode)")
    parser.add_argument("--secret", required=True, help="that test site's secret")
    parser.add_argument("--widget-url", help="where the widget script is served, e.g. https://example.com/widget.js")
    parser.set_defaults(run=run_smoke)


def run_smoke(args: argparse.Namespace) -> int:
    failed = 0
    for result in SmokeTest(args.api, args.site_key, args.secret, args.widget_url).run():
        print(f"{'ok  ' if result.ok else 'FAIL'}  {result.name:<30} {result.detail}")
        failed += not result.ok
    print("smoke test passed" if not failed else f"smoke test FAILED ({failed} steps)")
    return 1 if failed else 0
