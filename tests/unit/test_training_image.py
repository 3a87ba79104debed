"""The training image's build context and checks, read from training_job/Dockerfile and .dockerignore (there is
no Docker here to build it: docs/DEPLOY.md says what an operator checks)."""

from __future__ import annotations

import fnmatch
import re

from drcaptcha_ops.template import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "training_job" / "Dockerfile").read_text(encoding="utf-8")
IGNORE_PATTERNS = [
    line.strip()
    for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def in_context(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path, or one of its parent folders, decides."""
    parts = path.split("/")
    included = True
    for pattern in IGNORE_PATTERNS:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes) or (
            glob.startswith("**/") and any(fnmatch.fnmatchcase(part, glob[3:]) for part in parts)
        ):
            included = negated
    return included


def copy_sources() -> list[str]:
    return [line.split()[1] for line in DOCKERFILE.splitlines() if line.startswith("COPY ")]


def test_the_context_holds_what_the_dockerfile_copies_and_not_the_virtualenv() -> None:
    sources = copy_sources()
    assert sources, "the Dockerfile copies nothing?"
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert in_context(source if "." in source.rsplit("/", 1)[-1] else f"{source}/__init__.py"), source
    for outside in (".venv/lib/python3.11/site-packages/x.py", ".git/HEAD", "data/emnist.zip", "web/index.html"):
        assert not in_context(outside), outside
    assert not in_context("training_job/drcaptcha_train/__pycache__/job.cpython-311.pyc")


def test_no_region_is_written_into_the_image() -> None:
    assert not re.search(r"\b[a-z]{2}-(?:gov-)?[a-z]+-\d\b", DOCKERFILE)


def test_the_build_imports_tensorflow_and_every_module_of_the_job() -> None:
    check = DOCKERFILE[DOCKERFILE.index("RUN python -c") :]
    assert "import tensorflow" in check
    assert "walk_packages(drcaptcha_train.__path__" in check
    assert "python -m drcaptcha_train --help" in check
