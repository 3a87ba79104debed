"""web/ on AWS: the widget's versioned path and integrity hash, and the upload to the stack's private web bucket.

template.yaml puts the bucket behind CloudFront (origin access control); this module fills it. The widget is
uploaded twice: at `widget/<hash>/widget.js`, a path whose content never changes (cached for a year, what sites
pin with its Subresource Integrity hash), and at `widget.js` with the pages' short cache lifetime. The local
gateway serves web/ from disk as before; nothing here is needed to run the stack locally.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drcaptcha import aws

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
WIDGET = "widget.js"
# The demo site's templates are served by `drcaptcha demo`'s own server, never from the bucket.
NOT_PUBLISHED = frozenset({"demo"})

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


def widget_sri(path: Path) -> str:
    """The Subresource Integrity value of a file: `sha384-` and its base64 digest, as browsers check it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode("ascii")


def widget_version(path: Path) -> str:
    """The widget's version: the first 16 hex digits of its SHA-256 (a new file, a new path)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


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


def uploads(web_dir: Path = WEB_DIR) -> Iterator[Upload]:
    """Every file to publish, with its key, type and cache lifetime; the versioned widget first."""
    yield Upload(widget_key(web_dir), web_dir / WIDGET, content_type(web_dir / WIDGET), IMMUTABLE)
    for path in sorted(web_dir.rglob("*")):
        relative = path.relative_to(web_dir)
        if not path.is_file() or relative.parts[0] in NOT_PUBLISHED or relative.name.startswith("."):
            continue
        yield Upload(relative.as_posix(), path, content_type(path), SHORT)


def publish(bucket: str, web_dir: Path = WEB_DIR) -> list[Upload]:
    """Upload web/ to `bucket`, each object with its content type and Cache-Control; returns what it uploaded."""
    s3 = aws.client("s3")
    done = []
    for upload in uploads(web_dir):
        s3.put_object(
            Bucket=bucket,
            Key=upload.key,
            Body=upload.source.read_bytes(),
            ContentType=upload.content_type,
            CacheControl=upload.cache_control,
        )
        done.append(upload)
    return done
