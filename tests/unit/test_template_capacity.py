"""The tables' capacity mode, read from template.yaml: on-demand by default; with TableCapacity=Provisioned, the
tables every captcha touches get provisioned units, and auto scaling tracks each table's and index's reads and
writes (issue 17: provisioned capacity costs about 3.5x less a request at full use, docs/SCALING.md)."""

from __future__ import annotations

from typing import Any

import pytest

from drcaptcha.errors import DataError
from drcaptcha_ops.template import LocalStack, local_stack

# The tables a captcha's challenge, answer, siteverify and votes read or write (docs/SCALING.md, the cost table).
PER_CAPTCHA_TABLES = {
    "GlyphsTable",
    "ChallengesTable",
    "VotesTable",
    "RateLimitsTable",
    "SourcesTable",
    "AcceptancesTable",
}
METRICS = {"Read": "DynamoDBReadCapacityUtilization", "Write": "DynamoDBWriteCapacityUtilization"}


def tables(stack: LocalStack) -> dict[str, dict[str, Any]]:
    return {
        logical_id: stack.resolve(resource["Properties"])
        for logical_id, resource in stack.resources_of_type("AWS::DynamoDB::Table").items()
    }


def deployed(stack: LocalStack, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: stack.resolve(resource["Properties"])
        for logical_id, resource in stack.resources_of_type(resource_type).items()
        if stack.deployed(logical_id)
    }


@pytest.fixture(scope="module")
def provisioned() -> LocalStack:
    return local_stack(
        parameters={"TableCapacity": "Provisioned", "TableMinCapacityUnits": "7", "TableMaxCapacityUnits": "900"}
    )


def test_by_default_every_table_is_on_demand_and_nothing_scales() -> None:
    stack = local_stack()

    for logical_id, properties in tables(stack).items():
        assert properties["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert "ProvisionedThroughput" not in properties, logical_id
        for index in properties.get("GlobalSecondaryIndexes", []):
            assert "ProvisionedThroughput" not in index, (logical_id, index["IndexName"])
    assert deployed(stack, "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    assert deployed(stack, "AWS::ApplicationAutoScaling::ScalingPolicy") == {}


def test_provisioned_gives_the_per_captcha_tables_and_their_indexes_the_minimum_units(provisioned: LocalStack) -> None:
    units = {"ReadCapacityUnits": "7", "WriteCapacityUnits": "7"}

    for logical_id, properties in tables(provisioned).items():
        if logical_id in PER_CAPTCHA_TABLES:
            assert properties["BillingMode"] == "PROVISIONED", logical_id
            assert properties["ProvisionedThroughput"] == units, logical_id
            for index in properties.get("GlobalSecondaryIndexes", []):
                assert index["ProvisionedThroughput"] == units, (logical_id, index["IndexName"])
        else:
            # The rarely used tables (sites, networks, ensembles, admins, idempotency, outbox) stay on demand.
            assert properties["BillingMode"] == "PAY_PER_REQUEST", logical_id
    assert set(tables(provisioned)) >= PER_CAPTCHA_TABLES


def test_provisioned_scales_the_reads_and_writes_of_every_provisioned_table_and_index(provisioned: LocalStack) -> None:
    # Every table and index that has provisioned units, as auto scaling names them
    expected = set()
    for logical_id, properties in tables(provisioned).items():
        if properties["BillingMode"] != "PROVISIONED":
            continue
        table = provisioned.physical_name(logical_id)
        for dimension in METRICS:
            expected.add((f"table/{table}", f"dynamodb:table:{dimension}CapacityUnits"))
            for index in properties.get("GlobalSecondaryIndexes", []):
                expected.add((f"table/{table}/index/{index['IndexName']}", f"dynamodb:index:{dimension}CapacityUnits"))

    targets = deployed(provisioned, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = deployed(provisioned, "AWS::ApplicationAutoScaling::ScalingPolicy")

    # Then each has exactly one target, within the parameters' bounds
    assert sorted((t["ResourceId"], t["ScalableDimension"]) for t in targets.values()) == sorted(expected)
    for target in targets.values():
        assert (target["ServiceNamespace"], target["MinCapacity"], target["MaxCapacity"]) == ("dynamodb", "7", "900")
    # And each target has one target-tracking policy, on the metric of its own dimension, at the default 70%
    policed = {}
    for policy in policies.values():
        policed[policy["ScalingTargetId"]] = policy
        assert policy["PolicyType"] == "TargetTrackingScaling"
    assert set(policed) == {provisioned.physical_name(logical_id) for logical_id in targets}
    for logical_id, target in targets.items():
        tracking = policed[provisioned.physical_name(logical_id)]["TargetTrackingScalingPolicyConfiguration"]
        dimension = "Read" if target["ScalableDimension"].endswith(":ReadCapacityUnits") else "Write"
        assert tracking["PredefinedMetricSpecification"] == {"PredefinedMetricType": METRICS[dimension]}
        assert tracking["TargetValue"] == "70"
    # And policy names are unique within the stack (Application Auto Scaling keys them per target, CloudWatch's
    # alarms by name)
    assert len({policy["PolicyName"] for policy in policies.values()}) == len(policies)


def test_the_local_stack_evaluates_the_templates_conditions_as_cloudformation_does() -> None:
    # Equals on a parameter
    assert local_stack().condition("UseFunctionUrls") is False
    assert local_stack(parameters={"FrontDoor": "FunctionUrl"}).condition("UseFunctionUrls") is True
    # Not of an Equals on a number
    assert local_stack().condition("CaptchaIsReserved") is False
    assert local_stack(parameters={"CaptchaReservedConcurrency": "10"}).condition("CaptchaIsReserved") is True
    # And of a Condition and a Not
    assert local_stack(parameters={"AlarmEmail": "ops@example.com"}).condition("SubscribeAlarmEmail") is True
    assert local_stack().condition("SubscribeAlarmEmail") is False
    assert (
        local_stack(parameters={"AlarmTopicArn": "arn:aws:sns:us-east-1:1:t", "AlarmEmail": "a@b.c"}).condition(
            "SubscribeAlarmEmail"
        )
        is False
    )
    with pytest.raises(DataError, match="unknown condition"):
        local_stack().condition("NoSuchCondition")
