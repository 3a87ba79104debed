"""Fixtures shared by the captcha-loop tests (the session's emulator and EMNIST come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drcaptcha.challenges import replace_runtime
from drcaptcha_ops.emulator import Emulator
from tests.integration.captcha_support import CaptchaStack, start_captcha_stack


@pytest.fixture
def stack(emulator: Emulator, emnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CaptchaStack]:
    """A fresh captcha stack: real EMNIST glyphs, a test signing key, the captcha runtime reset afterwards."""
    yield start_captcha_stack(emnist_dir, monkeypatch)
    replace_runtime(None)
