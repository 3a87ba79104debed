"""The pages of web/: Jinja templates in web/pages/ that extend one base (`_base.html`: head, navigation, footer).

A page's template has the path of its URL: web/pages/try.html is /try.html, web/pages/admin/index.html is
/admin/. The local gateway renders them when they are asked for (`page_response`), so an edited page shows on
the next reload; for static hosting (an S3 bucket, a CDN), `build` writes the site with every page rendered:

    python -m drcaptcha_ops.pages build OUT
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Final

import flask
import jinja2
from werkzeug.security import safe_join

from drcaptcha_ops.template import REPO_ROOT

WEB_ROOT: Final = REPO_ROOT / "web"
PAGES_FOLDER: Final = "pages"
# Not part of the built site: the page templates (rendered instead) and the demo site's own templates.
NOT_PUBLISHED: Final = (PAGES_FOLDER, "demo")
# Every page and file of the site, and the dashboard, carry this policy (issue 19, item 8): the local gateway sends
# it (gateway/web.py), and CloudFront's SecurityHeadersPolicy in template.yaml holds the same text (a test compares
# them). Scripts only from the site's own files; the widget's proof-of-work worker runs from a blob: URL; the
# widget injects its styles (a <style> element) and the captcha image is a data: URL; the API is same-origin; the
# dashboard's training plots are presigned URLs of the data bucket (https: on AWS; the emulator's origin locally,
# which the gateway adds: `content_security_policy`).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy(image_origin: str | None = None) -> str:
    """The site's policy, with `image_origin` (the local emulator's, for presigned plot URLs) allowed for images."""
    if not image_origin:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace(
        "img-src 'self' data: blob: https:", f"img-src 'self' data: blob: https: {image_origin}"
    )


@cache
def _environment(pages_root: Path) -> jinja2.Environment:
    # auto_reload (the default) re-reads a template whose file changed.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(pages_root),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def page_names(web_root: Path = WEB_ROOT) -> list[str]:
    """Every page's template, as a path under web/pages/ (`admin/index.html`); `_`-files are not pages."""
    pages_root = web_root / PAGES_FOLDER
    return sorted(
        path.relative_to(pages_root).as_posix() for path in pages_root.rglob("*.html") if not path.name.startswith("_")
    )


def render(name: str, web_root: Path = WEB_ROOT) -> str:
    """The HTML of the page whose template is web/pages/NAME."""
    environment = _environment((web_root / PAGES_FOLDER).resolve())
    return environment.get_template(name).render(page=name)


def page_name(url_path: str, web_root: Path = WEB_ROOT) -> str | None:
    """The page that URL_PATH asks for (`/`, `/admin`, `/admin/` and `/admin/index.html` alike), or None."""
    pages_root = (web_root / PAGES_FOLDER).resolve()
    joined = safe_join(str(pages_root), url_path.lstrip("/"))
    if joined is None or "\x00" in joined:
        return None
    target = Path(joined).resolve()
    if target.is_dir():
        target = target / "index.html"
    # A symlink inside web/pages/ must not lead outside it.
    if target.suffix != ".html" or target.name.startswith("_") or not target.is_file():
        return None
    if not target.is_relative_to(pages_root):
        return None
    return target.relative_to(pages_root).as_posix()


def page_response(request: flask.Request, web_root: Path = WEB_ROOT) -> flask.Response | None:
    """The rendered page for a GET or HEAD of a page's URL; None for any other request (a static file, say)."""
    if request.method not in {"GET", "HEAD"}:
        return None
    name = page_name(request.path, web_root)
    if name is None:
        return None
    return flask.Response(render(name, web_root), mimetype="text/html")


def build(out: Path, web_root: Path = WEB_ROOT) -> list[Path]:
    """Write the site for static hosting into OUT: web/'s files, and each page rendered at its URL's path."""
    top = web_root.resolve()

    def unpublished(folder: str, names: list[str]) -> set[str]:
        return set(NOT_PUBLISHED) & set(names) if Path(folder).resolve() == top else set()

    shutil.copytree(web_root, out, ignore=unpublished, dirs_exist_ok=True)
    written = []
    for name in page_names(web_root):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(name, web_root), encoding="utf-8")
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drcaptcha_ops.pages", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="write web/ with every page rendered, for static hosting")
    build_command.add_argument("out", type=Path)
    arguments = parser.parse_args(argv)
    pages = build(arguments.out)
    print(f"wrote {len(pages)} pages and web/'s files to {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
