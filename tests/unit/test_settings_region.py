"""The region follows boto3's order: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region (AWS_PROFILE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drcaptcha import aws
from drcaptcha.config import Settings


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ~/.aws/config of its own with two profiles, and no region in the environment."""
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-south-1\n\n[profile ops]\nregion = eu-west-2\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .drcaptcha/env here
    return config


def test_aws_region_comes_first(aws_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Settings().aws_region == "eu-central-1"


def test_aws_default_region_is_honoured(aws_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Settings().aws_region == "us-west-2"


def test_the_profiles_region_is_honoured(aws_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().aws_region == "ap-south-1"
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert Settings().aws_region == "eu-west-2"


def test_without_any_region_it_is_us_east_1(aws_config: Path) -> None:
    aws_config.write_text("", encoding="utf-8")
    assert Settings().aws_region == "us-east-1"


def test_the_env_file_names_the_region(aws_config: Path) -> None:
    env_file = aws_config.parent / "deployed.env"
    env_file.write_text("AWS_REGION=sa-east-1\n", encoding="utf-8")
    assert Settings(_env_file=env_file).aws_region == "sa-east-1"  # type: ignore[call-arg]


def test_clients_use_the_profiles_region(aws_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ops")
    monkeypatch.setattr("drcaptcha.aws.get_settings", Settings)
    aws.reset_clients()
    try:
        assert aws.client("dynamodb").meta.region_name == "eu-west-2"
    finally:
        aws.reset_clients()
