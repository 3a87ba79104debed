"""A deployed stack's environment: the variables SAM gives the functions, read back from the stack's Outputs.

template.yaml gives every function its resource names through Globals (`GLYPHS_TABLE: !Ref GlyphsTable`) and
outputs each resource under its logical id. So the CLI reaches a deployed stack with the same variables, and a
resource added to Globals without an Output is an error here, not a silently missing name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drcaptcha import aws
from drcaptcha.errors import DataError, NotFound
from drcaptcha_ops.template import load_template

# Outputs that are not resource names but that the CLI needs too.
EXTRA_OUTPUTS = {"TOKEN_SIGNING_KEY_PARAMETER": "TokenSigningKeyParameter", "DRCAPTCHA_API_URL": "ApiUrl"}


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    outputs: dict[str, str]


def describe_stack(stack_name: str) -> DeployedStack:
    """The stack's Outputs and its region (from its id), through the one client factory."""
    cloudformation = aws.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise NotFound(f"no stack {stack_name!r} in this account and region") from error
        raise
    stack: dict[str, Any] = stacks[0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    region = stack["StackId"].split(":")[3]
    return DeployedStack(name=stack_name, region=region, outputs=outputs)


def function_variables(template: dict[str, Any]) -> dict[str, str]:
    """Each Globals variable that names a resource (`!Ref X`), with the logical id X it refers to."""
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {name: value["Ref"] for name, value in variables.items() if isinstance(value, dict) and "Ref" in value}


def deployed_environment(stack: DeployedStack, template: dict[str, Any] | None = None) -> dict[str, str]:
    """The environment for the CLI against `stack`: the region, every resource name, the signing-key name."""
    wanted = function_variables(template or load_template()) | EXTRA_OUTPUTS
    missing = sorted(output for output in wanted.values() if output not in stack.outputs)
    if missing:
        raise DataError(
            f"stack {stack.name!r} has no Outputs {', '.join(missing)}: was it deployed from this template.yaml?"
        )
    return {"AWS_REGION": stack.region} | {variable: stack.outputs[output] for variable, output in wanted.items()}
