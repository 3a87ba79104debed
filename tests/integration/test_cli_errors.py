"""Errors a user can make with the data commands: one clear line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drcaptcha import warm
from drcaptcha_ops import cli
from drcaptcha_ops.emnist import BYCLASS_TEST_IMAGES, BYCLASS_TEST_LABELS, BYMERGE_TEST_IMAGES, BYMERGE_TEST_LABELS

DRCAPTCHA = Path(sys.executable).parent / "drcaptcha"


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run from an empty folder, so no .drcaptcha/env of a running emulator is picked up."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    warm.reset()


@pytest.fixture
def no_emulator(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment names an endpoint and a bucket, but no server listens there."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("BUCKET_NAME", "drcaptcha-data")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    warm.reset()
    return endpoint


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("drcaptcha: error: ")
    return lines[0]


def test_a_missing_path_is_named(elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = elsewhere / "no-such-folder"

    status = cli.main(["import-emnist", str(missing)])

    assert status != 0
    line = one_error_line(capsys.readouterr().err)
    assert "No such file or directory" in line
    assert str(missing) in line


def test_a_file_of_the_wrong_format_is_named(elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = elsewhere / "emnist.csv"
    notes.write_text("label,pixel0,pixel1\n3,0,255\n")

    status = cli.main(["import-emnist", str(notes)])

    assert status != 0
    line = one_error_line(capsys.readouterr().err)
    assert "bad-data" in line
    assert "not a readable MATLAB .mat file" in line
    assert str(notes) in line


def test_a_truncated_official_file_in_a_folder_is_named(
    elsewhere: Path, emnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a copy of the EMNIST folder whose ByClass images stop after the first megabyte
    folder = elsewhere / "emnist"
    folder.mkdir()
    for name in (BYMERGE_TEST_IMAGES, BYMERGE_TEST_LABELS, BYCLASS_TEST_LABELS):
        (folder / name).symlink_to(emnist_dir / name)
    (folder / BYCLASS_TEST_IMAGES).write_bytes((emnist_dir / BYCLASS_TEST_IMAGES).read_bytes()[:1_000_000])

    # When it is imported
    status = cli.main(["import-emnist", str(folder)])

    # Then the broken file is named, before anything is written
    assert status != 0
    line = one_error_line(capsys.readouterr().err)
    assert f"{folder / BYCLASS_TEST_IMAGES} does not match the official EMNIST file" in line


def test_no_reachable_emulator_is_named(no_emulator: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["stats"])

    assert status != 0
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot reach {no_emulator}" in line
    assert "drcaptcha emulator" in line


def test_no_configured_stack_at_all_is_named(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BUCKET_NAME", raising=False)
    warm.reset()

    status = cli.main(["remove-labels", "5"])

    assert status != 0
    line = one_error_line(capsys.readouterr().err)
    assert "no data bucket is configured" in line


def test_the_installed_command_exits_cleanly_without_an_emulator(no_emulator: str, elsewhere: Path) -> None:
    result = subprocess.run(
        [str(DRCAPTCHA), "stats", "--json"],
        cwd=elsewhere,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert f"cannot reach {no_emulator}" in one_error_line(result.stderr)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import-emnist", "somewhere", "--limit", "0"], "must be at least 1: 0"),
        (["remove-labels", "many"], "not a whole number: 'many'"),
    ],
)
def test_a_bad_number_is_named_by_the_argument_parser(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
