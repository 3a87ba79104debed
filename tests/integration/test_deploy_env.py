"""`drcaptcha deploy-env` against the moto server's CloudFormation.

moto cannot deploy template.yaml (it has no SAM transform), so the stack here is a stand-in with the same
Outputs, whose values are the emulator's real resource names: the CLI then works on them through the env file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drcaptcha import aws
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.models.tables.sites import SiteItem
from drcaptcha_ops.cli import main
from drcaptcha_ops.deployment import EXTRA_OUTPUTS, function_variables
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.template import load_template

STACK = "drcaptcha-deployed"


def create_stand_in_stack(emulator: Emulator, drop: str | None = None) -> dict[str, str]:
    """A stack whose Outputs are template.yaml's, valued with the emulator's names; returns the expected env."""
    environment = emulator.stack.function_environment("CaptchaFunction")
    wanted = function_variables(load_template()) | EXTRA_OUTPUTS
    outputs = {output: environment.get(variable, "https://api.example/dev") for variable, output in wanted.items()}
    outputs.pop(drop or "", None)
    body = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(body))
    return {variable: outputs[output] for variable, output in wanted.items() if output in outputs}


def test_deploy_env_writes_every_name_and_the_cli_then_works_on_the_stack(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployed stack, and a shell that knows none of its names
    expected = create_stand_in_stack(emulator)
    monkeypatch.chdir(tmp_path)
    for variable in expected:
        monkeypatch.delenv(variable, raising=False)

    # When the operator runs deploy-env
    assert main(["deploy-env", "--stack", STACK]) == 0

    # Then the env file holds the region and every table, bucket, stream and queue name of the stack
    written = dict(line.split("=", 1) for line in (tmp_path / ".drcaptcha" / "env").read_text().splitlines())
    assert written["AWS_REGION"] == "us-east-1"
    for variable, value in expected.items():
        assert written[variable] == value, variable
    assert len([name for name in written if name.endswith("_TABLE")]) == 12

    # And a later command reads the names from the file alone
    reset_settings()
    aws.reset_clients()
    assert get_settings().sites_table == expected["SITES_TABLE"]
    assert main(["create-site", "--domain", "shop.example.com", "--json"]) == 0
    assert [site.domain for site in SiteItem.scan()] == ["shop.example.com"]


def test_a_stack_without_the_templates_outputs_is_refused(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_stand_in_stack(emulator, drop="OutboxTable")
    assert main(["deploy-env", "--stack", STACK, "--output", str(tmp_path / "env")]) == 2
    assert "OutboxTable" in capsys.readouterr().err
    assert not (tmp_path / "env").exists()


def test_an_unknown_stack_is_a_clear_error(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy-env", "--stack", "no-such-stack", "--output", str(tmp_path / "env")]) == 2
    assert "no stack 'no-such-stack'" in capsys.readouterr().err


def test_bootstrap_refuses_to_run_against_aws(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without AWS_ENDPOINT_URL a bootstrap would create a second, unmanaged set of resources beside the stack."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    reset_settings()
    assert main(["bootstrap"]) == 2
    assert "bootstrap is for emulators" in capsys.readouterr().err
