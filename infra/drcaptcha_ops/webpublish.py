"""web/ on AWS: the widget's versioned path and integrity hash, and the upload to the stack's private web bucket.

template.yaml puts the bucket behind CloudFront (origin access control); this module fills it with the site that
`drcaptcha_ops.pages.build` writes (web/'s files and every Jinja page rendered). A folder's `index.html` is also
uploaded under the folder's own key (`admin/`), since CloudFront's default root object applies to `/` only. The
widget is uploaded twice: at `widget/<hash>/widget.js`, a path whose content never changes (cached a year, what sites
pin with its Subresource Integrity hash), and at `widget.js` with the pages' short cache lifetime. The local
gateway serves web/ from disk as before; nothing here is needed to run the stack locally.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drcaptcha import aws
from drcaptcha_ops import pages

WEB_DIR = pages.WEB_ROOT
WIDGET = "widget.js"

# The versioned widget never changes under its path; everything else may change with the next publish.
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
# mimetypes' answer depends on the machine's /etc/mime.types; these are the types browsers need right.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}


def integrity(data: bytes) -> str:
    """The Subresource Integrity value of some bytes: `sha384-` and its base64 digest, as browsers check it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def version(data: bytes) -> str:
    """The version of some bytes: the first 16 hex digits of their SHA-256 (new content, a new path)."""
    return hashlib.sha256(data).hexdigest()[:16]


def widget_sri(path: Path) -> str:
    """The Subresource Integrity value of a file."""
    return integrity(path.read_bytes())


def widget_version(path: Path) -> str:
    """The widget's version: its content's (a new file, a new path)."""
    return version(path.read_bytes())


def widget_key(web_dir: Path = WEB_DIR) -> str:
    """The versioned widget's key in the bucket (and its path under the CloudFront URL)."""
    return f"widget/{widget_version(web_dir / WIDGET)}/{WIDGET}"


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class Upload:
    key: str
    source: Path
    content_type: str
    cache_control: str


def uploads(site_dir: Path) -> Iterator[Upload]:
    """Every file of a built site, with its key, type and cache lifetime; the versioned widget first."""
    yield Upload(widget_key(site_dir), site_dir / WIDGET, content_type(site_dir / WIDGET), IMMUTABLE)
    for path in sorted(site_dir.rglob("*")):
        relative = path.relative_to(site_dir)
        if not path.is_file() or relative.name.startswith("."):
            continue
        yield Upload(relative.as_posix(), path, content_type(path), SHORT)
        if relative.name == "index.html" and relative.parent != Path():
            yield Upload(f"{relative.parent.as_posix()}/", path, content_type(path), SHORT)


def publish(bucket: str, web_dir: Path = WEB_DIR) -> list[Upload]:
    """Build the site from web/ and upload it to `bucket`, each object with its content type and Cache-Control."""
    s3 = aws.client("s3")
    done = []
    with tempfile.TemporaryDirectory(prefix="drcaptcha-web-") as folder:
        site = Path(folder)
        pages.build(site, web_dir)
        for upload in uploads(site):
            s3.put_object(
                Bucket=bucket,
                Key=upload.key,
                Body=upload.source.read_bytes(),
                ContentType=upload.content_type,
                CacheControl=upload.cache_control,
            )
            done.append(upload)
    return done
