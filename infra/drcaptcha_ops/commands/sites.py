"""`drcaptcha create-site` and `drcaptcha generate-captchas`."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Final

import numpy as np
from tqdm import tqdm

from drcaptcha import sites
from drcaptcha.charset import character_of
from drcaptcha.errors import BadRequest
from drcaptcha.glyphs import GlyphRef, GlyphStore, truth_key
from drcaptcha.models.api.admin import DOMAIN_PATTERN, MAX_POW_DIFFICULTY
from drcaptcha.render import render_captcha
from drcaptcha.selection import GlyphSelector, PickedGlyph
from drcaptcha_ops.commands.output import stdout_to_stderr

_DOMAIN: Final = re.compile(DOMAIN_PATTERN)


def register(subparsers: Any) -> None:
    create = subparsers.add_parser("create-site", help="register a site: prints its site key and secret once")
    create.add_argument("--domain", required=True, help="the site's host name, e.g. example.com")
    create.add_argument("--json", action="store_true", help='print {"site_key", "secret", "domain"}')
    create.add_argument(
        "--test-mode",
        action="store_true",
        help="a test site for `drcaptcha smoke`: every answer passes and none is a vote (it cannot be undone)",
    )
    create.add_argument(
        "--pow-difficulty",
        type=int,
        default=None,
        metavar="BITS",
        help="the proof of work's base difficulty in leading zero bits (default: POW_DEFAULT_DIFFICULTY, 16)",
    )
    create.add_argument(
        "--accessible",
        action="store_true",
        help="let the widget offer the accessible path: proof of work only, no glyphs (siteverify reports it)",
    )
    create.set_defaults(run=run_create_site)

    generate = subparsers.add_parser("generate-captchas", help="write N sample captcha PNGs and a manifest")
    generate.add_argument("count", type=int, metavar="N")
    generate.add_argument("--out", type=Path, required=True, metavar="DIR")
    generate.add_argument("--seed", type=int, default=None, help="repeatable samples")
    generate.set_defaults(run=run_generate_captchas)


def run_create_site(args: argparse.Namespace) -> int:
    domain = args.domain.strip().lower()
    if len(domain) > 253 or not _DOMAIN.match(domain):
        raise BadRequest(f"not a host name: {args.domain!r} (e.g. example.com or localhost:8000)")
    if args.pow_difficulty is not None and not 0 <= args.pow_difficulty <= MAX_POW_DIFFICULTY:
        raise BadRequest(f"--pow-difficulty must be 0 to {MAX_POW_DIFFICULTY} bits")
    with stdout_to_stderr(args.json):
        site = sites.create_site(
            domain, test_mode=args.test_mode, pow_difficulty=args.pow_difficulty, accessible=args.accessible
        )
    if args.json:
        print(json.dumps({"site_key": site.site_key, "secret": site.secret, "domain": site.domain}))
        return 0
    if args.test_mode:
        print("TEST SITE: every answer passes and casts no vote; never put its keys on a real site.")
    print(f"site key: {site.site_key}")
    print(f"secret:   {site.secret}")
    print(f"domain:   {site.domain}")
    print("The secret is shown only this once; only its hash is stored.")
    return 0


def run_generate_captchas(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise BadRequest("N must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    store = GlyphStore()
    rng = np.random.default_rng(args.seed)
    selector = GlyphSelector(store, rng)
    samples = []
    for number in tqdm(range(args.count), desc="captchas", unit="png"):
        picks = selector.pick()
        name = f"captcha-{number:05d}.png"
        (args.out / name).write_bytes(render_captcha(selector.images(picks), rng))
        samples.append({"file": name, "glyphs": [_describe(store, pick) for pick in picks]})
    manifest = {"note": "for inspection only: the live API never reveals these labels", "captchas": samples}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.count} captchas and manifest.json to {args.out}")
    return 0


def _describe(store: GlyphStore, pick: PickedGlyph) -> dict[str, Any]:
    label = pick.label if pick.known else _true_label(store, pick.ref)
    return {
        "glyph_id": pick.ref.key,
        "scored": pick.scored,
        "gold": pick.gold,
        "label": label,
        "character": None if label is None else character_of(label),
    }


def _true_label(store: GlyphStore, ref: GlyphRef) -> int | None:
    """The removed label from truth/ (operators may read it; the functions may not), if there is one."""
    try:
        labels = store.get_array(truth_key(ref.split, ref.shard))
    except store.s3.exceptions.NoSuchKey:
        return None
    label = int(labels[ref.offset])
    return label if label >= 0 else None
