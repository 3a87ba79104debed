"""Shared fixtures: one moto server for the session, reset and re-bootstrapped for each test that uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from drcaptcha import warm
from drcaptcha_ops.emulator import Emulator, attached_stack, running_emulator
from tests.fixtures.glyph_data import EMNIST_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
# Every test client solves the proof of work (drcaptcha.pow.solve), at a difficulty that keeps the suite fast
# (16 hashes on average); tests of the difficulty itself set their own. Subprocesses (the gateway) inherit it.
os.environ.setdefault("POW_DEFAULT_DIFFICULTY", "4")

# The browser tests share one session stack (tests/e2e/conftest.py) that any other test's `emulator` fixture would
# wipe (it resets the emulator), so under pytest-xdist they must run one after another on one worker, with no other
# file between them. --dist loadfile sends out a file at a time; this keeps that, and makes tests/e2e one unit.
ONE_UNIT_DIRECTORIES = ("tests/e2e/",)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadFileKeepingDirectoriesWhole(LoadFileScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return next((directory for directory in ONE_UNIT_DIRECTORIES if path.startswith(directory)), path)

    return LoadFileKeepingDirectoriesWhole(config, log)


@pytest.fixture(autouse=True)
def cold_process() -> Iterator[None]:
    """Every test starts, and leaves, as a fresh process would: no settings, clients or caches kept."""
    warm.reset()
    yield
    warm.reset()


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[Emulator]:
    with pytest.MonkeyPatch.context() as patch:
        # Keep a developer's running emulator (.drcaptcha/env) out of the tests.
        patch.chdir(REPO_ROOT)
        # With AWS_ENDPOINT_URL set (`make localstack-test`), the suite runs against that emulator instead.
        external = os.environ.get("AWS_ENDPOINT_URL")
        with attached_stack(external) if external else running_emulator() as emulator:
            yield emulator


@pytest.fixture
def emulator(emulator_session: Emulator) -> Iterator[Emulator]:
    """A clean stack: every resource of template.yaml, empty."""
    emulator_session.reset()
    warm.reset()
    yield emulator_session


@pytest.fixture(scope="session")
def emnist_dir() -> Path:
    if not EMNIST_DIR.is_dir():
        pytest.skip(f"EMNIST data not found at {EMNIST_DIR}")
    return EMNIST_DIR
