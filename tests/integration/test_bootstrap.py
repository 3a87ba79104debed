"""The bootstrap creates exactly the template's data resources, at the emulator, idempotently."""

from __future__ import annotations

import pytest

from drcaptcha import aws, tokens
from drcaptcha.config import reset_settings
from drcaptcha_ops.bootstrap import bootstrap, delete_resources
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.template import local_stack


def test_bootstrap_creates_exactly_the_templates_tables_bucket_and_stream(emulator: Emulator) -> None:
    stack = emulator.stack
    expected_tables = {stack.physical_name(i) for i in stack.resources_of_type("AWS::DynamoDB::Table")}
    expected_buckets = {stack.physical_name(i) for i in stack.resources_of_type("AWS::S3::Bucket")}
    expected_streams = {stack.physical_name(i) for i in stack.resources_of_type("AWS::Kinesis::Stream")}

    assert set(aws.client("dynamodb").list_tables()["TableNames"]) == expected_tables
    assert {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]} == expected_buckets
    assert set(aws.client("kinesis").list_streams()["StreamNames"]) == expected_streams
    assert len(expected_tables) >= 5


def test_tables_have_the_templates_keys_indexes_and_ttl(emulator: Emulator) -> None:
    dynamodb = aws.client("dynamodb")
    for logical_id, resource in emulator.stack.resources_of_type("AWS::DynamoDB::Table").items():
        properties = resource["Properties"]
        name = emulator.stack.physical_name(logical_id)
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == properties["KeySchema"], logical_id
        declared_indexes = {index["IndexName"] for index in properties.get("GlobalSecondaryIndexes", [])}
        created_indexes = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        assert created_indexes == declared_indexes, logical_id
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in properties:
            assert ttl["TimeToLiveStatus"] == "ENABLED"
            assert ttl["AttributeName"] == properties["TimeToLiveSpecification"]["AttributeName"]
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_a_second_bootstrap_creates_nothing(emulator: Emulator) -> None:
    report = bootstrap(emulator.stack)

    assert report.created == []
    assert set(report.existing) == {
        logical_id
        for logical_id, resource in emulator.stack.resources.items()
        if resource["Type"] in {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Kinesis::Stream", "AWS::SQS::Queue"}
    }


def test_bootstrap_creates_the_token_signing_key_that_the_functions_read(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the bootstrapped stack, and functions configured only with the key's SSM name, as on AWS
    name = emulator.stack.function_environment("CaptchaFunction")["TOKEN_SIGNING_KEY_PARAMETER"]
    monkeypatch.delenv("TOKEN_SIGNING_KEY", raising=False)
    monkeypatch.setenv("TOKEN_SIGNING_KEY_PARAMETER", name)
    reset_settings()

    # When the captcha library asks for its key
    key = tokens.signing_key()

    # Then it is the SecureString the bootstrap created, long enough to be a real key
    stored = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString"
    assert key == stored["Value"].encode()
    assert len(key) >= 32


def test_a_provisioned_stack_gets_provisioned_tables_and_indexes_and_leaves_scaling_to_aws(emulator: Emulator) -> None:
    # Given the template with TableCapacity=Provisioned, under a stack name of its own
    stack = local_stack(stack_name="drcaptcha-provisioned", parameters={"TableCapacity": "Provisioned"})
    dynamodb = aws.client("dynamodb")
    try:
        # When it is bootstrapped
        report = bootstrap(stack)

        # Then the Glyphs table and its state index have the minimum units, and the Sites table stays on demand
        glyphs = dynamodb.describe_table(TableName=stack.physical_name("GlyphsTable"))["Table"]
        assert glyphs["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
        assert glyphs["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
        (index,) = glyphs["GlobalSecondaryIndexes"]
        assert index["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
        sites = dynamodb.describe_table(TableName=stack.physical_name("SitesTable"))["Table"]
        assert sites["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        # And the auto scaling resources are SAM's to deploy (the emulator has no Application Auto Scaling)
        scaling = set(stack.resources_of_type("AWS::ApplicationAutoScaling::ScalableTarget"))
        assert scaling and scaling <= set(report.skipped)
    finally:
        delete_resources(stack)
