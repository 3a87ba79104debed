"""Reading template.yaml: CloudFormation's short tags, and resolving intrinsics for the local stack.

The template is the single list of resources. Locally, each resource gets the physical name
`<stack>-<LogicalId>` (lower case for buckets), and `!Ref`, `!GetAtt`, `!Sub`, `!Join` and `!Select` resolve
against those names, so the same environment variables that SAM gives each function can be computed here. `!If`
reads the template's Conditions (`!Equals`, `!Not`, `!And`, `!Or`, `!Condition`) against the parameters, and a
`!Ref AWS::NoValue` leaves its property out, as CloudFormation does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from drcaptcha.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
LOCAL_STACK_NAME = "drcaptcha-local"
ACCOUNT_ID = "123456789012"

_SHORT_TAGS = {
    "Ref": "Ref",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Base64": "Fn::Base64",
    "Condition": "Condition",
}


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that turns `!Tag value` into `{"Fn::Tag": value}`."""


def _make_constructor(name: str) -> Any:
    def construct(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag, _name in _SHORT_TAGS.items():
    CloudFormationLoader.add_constructor(f"!{_tag}", _make_constructor(_name))


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise DataError(f"no template at {path}") from error
    loaded = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise DataError(f"{path} is not a CloudFormation template")
    return loaded


# What `!Ref AWS::NoValue` resolves to: `resolve` leaves the property (or list item) out.
NO_VALUE: Any = object()


@dataclass
class LocalStack:
    """A template resolved for one local stack name and region."""

    template: dict[str, Any]
    stack_name: str = LOCAL_STACK_NAME
    region: str = "us-east-1"
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == resource_type}

    def function_events(self, event_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(function id, event id, unresolved Properties) of every function's event of `event_type` (`HttpApi`)."""
        for function_id in self.resources_of_type("AWS::Serverless::Function"):
            events = self.resources[function_id].get("Properties", {}).get("Events", {}) or {}
            for event_id, event in events.items():
                if event.get("Type") == event_type:
                    yield function_id, event_id, event.get("Properties", {}) or {}

    @cached_property
    def parameter_values(self) -> dict[str, str]:
        declared = self.template.get("Parameters", {})
        values = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        values.update(self.parameters)
        return values

    def physical_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        name = f"{self.stack_name}-{logical_id}"
        if resource["Type"] == "AWS::S3::Bucket":
            return name.lower()
        return name

    def arn(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        service_arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{self.region}:{ACCOUNT_ID}:stream/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{name}",
        }
        return service_arns.get(resource_type, f"arn:aws:local:{self.region}:{ACCOUNT_ID}:{name}")

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameter_values:
            return self.parameter_values[name]
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.resources:
            if self.resources[name]["Type"] == "AWS::SQS::Queue":
                return f"http://local/{ACCOUNT_ID}/{self.physical_name(name)}"
            return self.physical_name(name)
        raise DataError(f"template refers to unknown name {name!r}")

    def condition(self, name: str) -> bool:
        """The value of the template's condition `name` under this stack's parameters."""
        conditions: dict[str, Any] = self.template.get("Conditions", {})
        if name not in conditions:
            raise DataError(f"template refers to unknown condition {name!r}")
        return self._holds(conditions[name])

    def _holds(self, expression: Any) -> bool:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise DataError(f"not a condition expression: {expression!r}")
        ((function, argument),) = expression.items()
        if function == "Condition":
            return self.condition(str(argument))
        if function == "Fn::Equals":
            left, right = (str(self.resolve(side)) for side in argument)
            return left == right
        if function == "Fn::Not":
            return not self._holds(argument[0])
        if function == "Fn::And":
            return all(self._holds(part) for part in argument)
        if function == "Fn::Or":
            return any(self._holds(part) for part in argument)
        raise DataError(f"the local stack cannot evaluate {function} in a condition")

    def deployed(self, logical_id: str) -> bool:
        """Whether the resource exists under these parameters (it has no Condition, or its Condition holds)."""
        name = self.resources[logical_id].get("Condition")
        return name is None or self.condition(str(name))

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise DataError(f"template refers to unknown resource {logical_id!r}")
        if attribute in {"Arn", "StreamArn"}:
            return self.arn(logical_id)
        if attribute in {"QueueName", "Name"}:
            return self.physical_name(logical_id)
        return f"{self.physical_name(logical_id)}.{attribute}"

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics in `value`, recursively."""
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            resolver = _INTRINSICS.get(key)
            if resolver is not None:
                return resolver(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def substitute(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, str(text))

    def function_environment(self, function_id: str | None = None) -> dict[str, str]:
        """The environment SAM would give a function: Globals first, then the function's own."""
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        variables = dict(self.resolve(globals_env.get("Variables", {})))
        if function_id is not None:
            own = self.resources[function_id].get("Properties", {}).get("Environment", {})
            variables.update(self.resolve(own.get("Variables", {})))
        return {name: str(value) for name, value in variables.items()}


def _join(stack: LocalStack, argument: Any) -> str:
    delimiter, items = argument
    return str(delimiter).join(str(item) for item in stack.resolve(items))


def _select(stack: LocalStack, argument: Any) -> Any:
    index, items = argument
    return stack.resolve(items)[int(stack.resolve(index))]


def _split(stack: LocalStack, argument: Any) -> list[str]:
    delimiter, text = argument
    return str(stack.resolve(text)).split(delimiter)


def _get_att(stack: LocalStack, argument: Any) -> str:
    logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
    return stack.get_att(logical_id, attribute)


def _if(stack: LocalStack, argument: Any) -> Any:
    name, when_true, when_false = argument
    return stack.resolve(when_true if stack.condition(str(name)) else when_false)


_INTRINSICS: dict[str, Any] = {
    "Fn::If": _if,
    "Ref": lambda stack, name: stack.ref(name),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": lambda stack, argument: stack.substitute(argument),
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
}


def local_stack(path: Path = TEMPLATE_PATH, **kwargs: Any) -> LocalStack:
    return LocalStack(load_template(path), **kwargs)
