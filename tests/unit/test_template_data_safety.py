"""Data survives a mistake, read from template.yaml: `sam delete` or a replacing change keeps every table and the
bucket, every table has point-in-time recovery, and the bucket's old versions expire instead of piling up."""

from __future__ import annotations

import pytest

from drcaptcha_ops.template import LocalStack, local_stack

STATEFUL = ("AWS::DynamoDB::Table", "AWS::S3::Bucket")


@pytest.fixture(scope="module")
def stack() -> LocalStack:
    return local_stack()


def stateful_resources(stack: LocalStack) -> dict[str, dict[str, object]]:
    return {name: res for name, res in stack.resources.items() if res["Type"] in STATEFUL}


def test_every_table_and_the_bucket_are_retained_on_delete_and_on_replacement(stack: LocalStack) -> None:
    resources = stateful_resources(stack)
    assert len(resources) >= 13
    for name, resource in resources.items():
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_every_table_has_point_in_time_recovery(stack: LocalStack) -> None:
    for name, table in stack.resources_of_type("AWS::DynamoDB::Table").items():
        spec = table["Properties"].get("PointInTimeRecoverySpecification", {})
        assert spec.get("PointInTimeRecoveryEnabled") is True, name


def test_the_versioned_bucket_expires_old_versions(stack: LocalStack) -> None:
    bucket = stack.resolve(stack.resources["DataBucket"]["Properties"])
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = [rule for rule in bucket["LifecycleConfiguration"]["Rules"] if rule["Status"] == "Enabled"]
    expiring = [
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in rules if "NoncurrentVersionExpiration" in rule
    ]
    assert expiring and int(expiring[0]) >= 1
    assert any(rule.get("ExpiredObjectDeleteMarker") for rule in rules)


@pytest.mark.parametrize(("bucket", "policy"), [("DataBucket", "DataBucketPolicy"), ("WebBucket", "WebBucketPolicy")])
def test_every_bucket_refuses_requests_without_tls(stack: LocalStack, bucket: str, policy: str) -> None:
    """Issue 19, item 9: the data bucket had no policy denying plain-HTTP requests (aws:SecureTransport)."""
    document = stack.resources[policy]["Properties"]
    assert document["Bucket"] == {"Ref": bucket}
    denials = [
        statement
        for statement in document["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Action"] == "s3:*"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denials) == 1
    assert {"Fn::GetAtt": [bucket, "Arn"]} in denials[0]["Resource"]
    assert {"Fn::Sub": f"${{{bucket}.Arn}}/*"} in denials[0]["Resource"]
