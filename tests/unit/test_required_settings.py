"""Each function names the settings it cannot start without; template.yaml gives it each one, and a cold start
without one fails at once, naming it."""

from __future__ import annotations

import pytest

from drcaptcha import warm
from drcaptcha.config import MissingSettings, Settings, check_required, requires_settings
from tests.unit.test_template_handlers import FUNCTIONS, STACK, load_handler_module


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_template_gives_each_function_every_setting_it_requires(function_id: str) -> None:
    module, _ = load_handler_module(function_id)
    required = module.REQUIRED_SETTINGS
    environment = STACK.function_environment(function_id)

    assert required, f"{function_id} declares no required settings"
    assert {Settings.model_fields[name].alias for name in required} <= set(environment)


def test_a_cold_start_without_a_required_setting_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_TABLE", "outbox")
    monkeypatch.delenv("VOTES_STREAM", raising=False)
    calls: list[str] = []

    @requires_settings("replay", "outbox_table", "votes_stream")
    def handler(event: str) -> str:
        calls.append(event)
        return event

    with pytest.raises(MissingSettings, match="replay function cannot start: VOTES_STREAM not set"):
        handler("first")
    assert calls == []

    monkeypatch.setenv("VOTES_STREAM", "votes")
    warm.reset()
    assert handler("second") == "second"
    assert check_required("replay", ("outbox_table", "votes_stream")).votes_stream == "votes"


def test_a_misspelt_setting_is_refused_when_the_module_loads() -> None:
    with pytest.raises(ValueError, match="not settings"):
        requires_settings("captcha", "challenge_table")
