"""Create the template's data resources at whatever `AWS_ENDPOINT_URL` names: moto, LocalStack or AWS.

Idempotent: a resource that exists already is left as it is. Resource types that only SAM deploys (functions,
the API, function URLs, the layer, IAM, Batch, logs, alarms, the dashboard, SNS, CloudFront, bucket policies) are
listed in DEPLOYED_BY_SAM_ONLY; an unknown type is an error, so that a new resource in the template cannot be
silently missing from the local stack. The web bucket is created locally too, though the gateway serves web/ from
disk: `drcaptcha publish-web` can be tried against it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drcaptcha import aws
from drcaptcha.config import reset_settings
from drcaptcha_ops.teardown import empty_bucket
from drcaptcha_ops.template import LocalStack, local_stack

DEPLOYED_BY_SAM_ONLY = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::HttpApi",
        "AWS::Serverless::LayerVersion",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::InstanceProfile",
        "AWS::Lambda::Permission",
        "AWS::Events::Rule",
        "AWS::Scheduler::Schedule",
        "AWS::Batch::JobDefinition",
        "AWS::Batch::JobQueue",
        "AWS::Batch::ComputeEnvironment",
        "AWS::SSM::Parameter",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
        "AWS::Logs::MetricFilter",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SNS::Subscription",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Url",
        "AWS::S3::BucketPolicy",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    }
)


@dataclass
class BootstrapReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _numeric_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """A table's or index's spec with its provisioned units as numbers (template parameters resolve to strings)."""
    units = spec.get("ProvisionedThroughput")
    if units is None:
        return spec
    return {**spec, "ProvisionedThroughput": {name: int(value) for name, value in units.items()}}


def _create_table(stack: LocalStack, logical_id: str, properties: dict[str, Any]) -> bool:
    dynamodb = aws.client("dynamodb")
    name = stack.physical_name(logical_id)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = _numeric_throughput(properties)["ProvisionedThroughput"]
    if properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            _numeric_throughput(index) for index in properties["GlobalSecondaryIndexes"]
        ]
    if properties.get("StreamSpecification"):
        request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    try:
        dynamodb.create_table(**request)
    except dynamodb.exceptions.ResourceInUseException:
        return False
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    return True


def _create_bucket(stack: LocalStack, logical_id: str, properties: dict[str, Any]) -> bool:
    s3 = aws.client("s3")
    name = stack.physical_name(logical_id)
    request: dict[str, Any] = {"Bucket": name}
    if stack.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
    # us-east-1 answers 200 to creating a bucket you own already, so ask first.
    if name in {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}:
        return False
    s3.create_bucket(**request)
    if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return True


def _create_stream(stack: LocalStack, logical_id: str, properties: dict[str, Any]) -> bool:
    kinesis = aws.client("kinesis")
    name = stack.physical_name(logical_id)
    try:
        kinesis.create_stream(StreamName=name, ShardCount=int(properties.get("ShardCount", 1)))
    except kinesis.exceptions.ResourceInUseException:
        return False
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return True


def _create_queue(stack: LocalStack, logical_id: str, properties: dict[str, Any]) -> bool:
    sqs = aws.client("sqs")
    name = stack.physical_name(logical_id)
    try:
        sqs.get_queue_url(QueueName=name)
    except sqs.exceptions.QueueDoesNotExist:
        sqs.create_queue(QueueName=name)
        return True
    return False


CREATORS: dict[str, Callable[[LocalStack, str, dict[str, Any]], bool]] = {
    "AWS::DynamoDB::Table": _create_table,
    "AWS::S3::Bucket": _create_bucket,
    "AWS::Kinesis::Stream": _create_stream,
    "AWS::SQS::Queue": _create_queue,
}


# Secrets the functions read from SSM by name, which deployments create outside the template (docs/DEPLOY.md).
SECRET_PARAMETER_VARIABLES = ("TOKEN_SIGNING_KEY_PARAMETER",)


def ensure_secret_parameters(stack: LocalStack) -> list[str]:
    """Create each SSM SecureString that the functions name, with a random value, where it is missing."""
    ssm = aws.client("ssm")
    names = {
        stack.function_environment(function_id).get(variable, "")
        for function_id in stack.resources_of_type("AWS::Serverless::Function")
        for variable in SECRET_PARAMETER_VARIABLES
    } - {""}
    created = []
    for name in sorted(names):
        try:
            ssm.put_parameter(Name=name, Value=secrets.token_urlsafe(48), Type="SecureString", Overwrite=False)
        except ssm.exceptions.ParameterAlreadyExists:
            continue
        created.append(name)
    return created


def bootstrap(stack: LocalStack | None = None) -> BootstrapReport:
    """Create every data resource of the template that does not exist yet, and the secrets the functions read."""
    stack = stack or local_stack()
    report = BootstrapReport()
    report.created.extend(ensure_secret_parameters(stack))
    for logical_id, resource in stack.resources.items():
        resource_type = resource["Type"]
        if not stack.deployed(logical_id):
            report.skipped.append(logical_id)
            continue
        creator = CREATORS.get(resource_type)
        if creator is None:
            if resource_type not in DEPLOYED_BY_SAM_ONLY:
                raise NotImplementedError(f"bootstrap cannot create {logical_id} of type {resource_type}")
            report.skipped.append(logical_id)
            continue
        properties = stack.resolve(resource.get("Properties", {}))
        created = creator(stack, logical_id, properties)
        (report.created if created else report.existing).append(logical_id)
    return report


def export_environment(stack: LocalStack | None = None) -> dict[str, str]:
    """Put the functions' environment (resource names) into this process, as SAM does on AWS."""
    environment = (stack or local_stack()).function_environment()
    os.environ.update(environment)
    reset_settings()
    aws.reset_clients()
    return environment


def delete_resources(stack: LocalStack) -> None:
    """Delete the template's data resources (for emulators without a reset, such as LocalStack)."""
    for logical_id, resource in stack.resources.items():
        name = stack.physical_name(logical_id)
        resource_type = resource["Type"]
        if resource_type == "AWS::DynamoDB::Table":
            dynamodb = aws.client("dynamodb")
            try:
                dynamodb.delete_table(TableName=name)
            except dynamodb.exceptions.ResourceNotFoundException:
                continue
            dynamodb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        elif resource_type == "AWS::S3::Bucket":
            _empty_bucket(name)
        elif resource_type == "AWS::Kinesis::Stream":
            kinesis = aws.client("kinesis")
            try:
                kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
            except kinesis.exceptions.ResourceNotFoundException:
                continue
            kinesis.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        elif resource_type == "AWS::SQS::Queue":
            _drain_queue(name)


def _empty_bucket(name: str) -> None:
    s3 = aws.client("s3")
    try:
        empty_bucket(name)
    except s3.exceptions.NoSuchBucket:
        return


def _drain_queue(name: str) -> None:
    """Delete every message (PurgeQueue is limited to one call a minute, too slow between tests)."""
    sqs = aws.client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages"):
        entries = [{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
