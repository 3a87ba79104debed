"""`drcaptcha deploy-env` reads a deployed stack's names from its Outputs: the template must output each one."""

from __future__ import annotations

from drcaptcha.config import Settings
from drcaptcha_ops.deployment import EXTRA_OUTPUTS, function_variables
from drcaptcha_ops.template import load_template


def test_every_resource_the_functions_are_told_about_is_an_output() -> None:
    template = load_template()
    variables = function_variables(template)
    assert {"GLYPHS_TABLE", "BUCKET_NAME", "VOTES_STREAM", "OUTBOX_TABLE"} <= set(variables)
    for variable, logical_id in (variables | EXTRA_OUTPUTS).items():
        assert logical_id in template["Outputs"], variable


def test_every_table_setting_is_given_to_the_functions() -> None:
    """A table in Settings but not in Globals would be missing from deploy-env's file, and from teardown."""
    table_variables = {
        field.alias for name, field in Settings.model_fields.items() if name.endswith("_table") and field.alias
    }
    assert table_variables <= set(function_variables(load_template()))
