"""A DynamoDB failure that pynamodb wraps (no credentials, no stack) is one line from the CLI, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import NoCredentialsError
from pynamodb.exceptions import QueryError

from drcaptcha_ops import cli
from drcaptcha_ops.commands import sites


def test_a_command_run_without_a_stack_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given generate-captchas where no stack answers (as `drcaptcha generate-captchas 12 --out DIR` did, with no
    # emulator running: pynamodb's QueryError around botocore's NoCredentialsError, and a traceback)
    def no_stack(*args: object) -> int:
        raise QueryError("Failed to query items: Unable to locate credentials", NoCredentialsError())

    monkeypatch.setattr(sites, "run_generate_captchas", no_stack)

    # When it runs
    status = cli.main(["generate-captchas", "1", "--out", str(tmp_path)])

    # Then it exits 2 with one line naming the cause and what to do, and no traceback
    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1
    assert "Unable to locate credentials" in error and "drcaptcha emulator" in error
    assert "Traceback" not in error
