"""What each function's IAM role allows, read from template.yaml after the SAM transform.

The SAM translator expands policy templates (DynamoDBCrudPolicy, ...) into plain IAM statements; the local
resolver then turns `!Sub`/`!Ref`/`!GetAtt` into concrete ARNs. `allows()` answers "may this function call this
action on this resource", with IAM's wildcard matching, so tests can state least-privilege rules plainly.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from samtranslator.translator.transform import transform

from drcaptcha_ops.template import LocalStack


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    # `{operator: {key: value or values}}`, as IAM writes it; only StringEquals and Bool are evaluated (below).
    condition: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False, compare=False)

    def holds_for(self, context: dict[str, str]) -> bool:
        """Whether the statement's condition holds for a request with these condition keys (IAM compares the
        keys case-insensitively and the values as strings). A condition with another operator never holds here:
        a check that cannot read it must not count it as a grant."""
        known = {key.lower(): value for key, value in context.items()}
        for operator, tests in self.condition.items():
            if operator not in ("StringEquals", "Bool"):
                return False
            for key, expected in tests.items():
                values = {str(value).lower() for value in _as_tuple(expected)}
                if known.get(key.lower(), "").lower() not in values:
                    return False
        return True


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only when a template names one by its short name."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(stack: LocalStack) -> dict[str, Any]:
    """The template as CloudFormation, after the SAM transform (code locations stubbed as S3 URIs)."""
    template = copy.deepcopy(stack.template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str):
                properties[uri] = "s3://artifacts/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", stack.region)
    result: dict[str, Any] = transform(template, dict(stack.parameter_values), _NoManagedPolicies())
    return result


def _as_tuple(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(str(item) for item in items)


def function_statements(stack: LocalStack) -> dict[str, list[Statement]]:
    """Every Serverless::Function's role statements, keyed by the function's logical id."""
    cloudformation = transformed(stack)
    resolver = LocalStack(cloudformation, stack_name=stack.stack_name, region=stack.region)
    result: dict[str, list[Statement]] = {}
    for function_id in stack.resources_of_type("AWS::Serverless::Function"):
        role = cloudformation["Resources"].get(f"{function_id}Role", {})
        statements: list[Statement] = []
        for policy in role.get("Properties", {}).get("Policies", []):
            for raw in resolver.resolve(policy["PolicyDocument"])["Statement"]:
                statements.append(
                    Statement(
                        raw.get("Effect", "Allow"),
                        _as_tuple(raw["Action"]),
                        _as_tuple(raw["Resource"]),
                        raw.get("Condition", {}),
                    )
                )
        result[function_id] = statements
    return result


def allows(statements: list[Statement], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether the statements allow `action` on `resource` for a request with the condition keys `context`
    (explicit Deny wins)."""

    def matches(statement: Statement) -> bool:
        return (
            any(fnmatchcase(action.lower(), pattern.lower()) for pattern in statement.actions)
            and any(fnmatchcase(resource, pattern) for pattern in statement.resources)
            and statement.holds_for(context or {})
        )

    if any(matches(statement) for statement in statements if statement.effect == "Deny"):
        return False
    return any(matches(statement) for statement in statements if statement.effect == "Allow")
