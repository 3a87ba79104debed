"""Every command with `--json` prints one JSON document on stdout and nothing else: progress, training output and
logs go to stderr (issue 14). The installed `drcaptcha` runs in a subprocess, so that whatever reaches file
descriptor 1 (Keras, native libraries, logging handlers) is seen as a program reading the output would see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drcaptcha_ops.commands.output import stdout_to_stderr
from drcaptcha_ops.emulator import Emulator
from tests.fixtures.glyph_data import seed_glyph_store

DRCAPTCHA = Path(sys.executable).parent / "drcaptcha"


def drcaptcha_json(argv: list[str], cwd: Path, environment: dict[str, str] | None = None) -> tuple[Any, str]:
    """Run the installed command; its stdout parsed as JSON (the test fails if it is anything else), and stderr."""
    result = subprocess.run(
        [str(DRCAPTCHA), *argv],
        cwd=cwd,
        env=environment or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout), result.stderr


def test_the_data_site_and_ensemble_commands_print_pure_json(emulator: Emulator, tmp_path: Path) -> None:
    # Given a glyph store with some labels removed (the session's emulator, named by the environment)
    seed_glyph_store(train=300, test=50, unlabelled=20)

    # When each command is run with --json from a folder with no local stack file
    counts, _ = drcaptcha_json(["stats", "--json"], tmp_path)
    site, _ = drcaptcha_json(["create-site", "--domain", "json.example", "--json"], tmp_path)
    listing, _ = drcaptcha_json(["ensemble", "list", "--json"], tmp_path)

    # Then each stdout is one JSON document holding the command's answer
    assert (counts["train"], counts["unlabelled"]) == (300, 20)
    assert site["domain"] == "json.example" and site["site_key"].startswith("dc_site_")
    assert listing == {"ensembles": [], "active_id": None}


@pytest.mark.slow
def test_simulate_prints_pure_json_while_its_quick_network_trains(tmp_path: Path, emnist_dir: Path) -> None:
    """From an empty folder there is no cached network, so the simulation asked for its quick network trains cnn2
    with Keras, whose epoch lines used to reach stdout before the report."""
    # Given no emulator named (the simulation starts its own) and no cached network
    environment = {name: value for name, value in os.environ.items() if name != "AWS_ENDPOINT_URL"}

    # When a small simulation that needs a network is run with --json
    small = ["--humans", "3", "--challenges", "6", "--limit", "2000", "--emnist", str(emnist_dir)]
    report, stderr = drcaptcha_json(["simulate", "--json", "--quick-network", *small], tmp_path, environment)

    # Then stdout was the report alone, and the training's epoch lines went to stderr
    assert report["config"]["challenges"] == 6
    assert report["network"]
    assert "Epoch 1/" in stderr


def test_the_redirection_sends_python_and_native_writes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    # When text is printed and written straight to file descriptor 1 inside the block, and a document after it
    with stdout_to_stderr():
        print("a progress line")
        os.write(1, b"a native line\n")
    print('{"document": 1}')

    # Then stdout holds the document alone, and stderr the rest
    captured = capfd.readouterr()
    assert captured.out == '{"document": 1}\n'
    assert "a progress line" in captured.err and "a native line" in captured.err


def test_without_json_the_redirection_does_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with stdout_to_stderr(enabled=False):
        print("a table")

    assert capfd.readouterr().out == "a table\n"
