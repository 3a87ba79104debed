"""Alarms before users notice, read from template.yaml after the SAM transform: what each alarm watches, that it
notifies someone, and that the service's metric names match the ones the handlers write (drcaptcha/metrics.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from drcaptcha import metrics
from drcaptcha_ops.iam import transformed
from drcaptcha_ops.template import LocalStack, local_stack


@pytest.fixture(scope="module")
def stack() -> LocalStack:
    return local_stack()


@pytest.fixture(scope="module")
def cloudformation(stack: LocalStack) -> dict[str, Any]:
    return transformed(stack)


def of_type(cloudformation: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in cloudformation["Resources"].items() if res["Type"] == resource_type}


def watched(cloudformation: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(namespace kind, metric, dimension value) for every alarm; the dimension value is a logical id or ''."""
    result = set()
    for alarm in of_type(cloudformation, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        namespace = properties["Namespace"]
        kind = namespace if isinstance(namespace, str) else "service"
        dimensions = properties.get("Dimensions", [])
        target = ""
        if dimensions:
            value = dimensions[0]["Value"]
            target = value.get("Ref") or value.get("Fn::GetAtt", [""])[0] if isinstance(value, dict) else value
        result.add((kind, properties["MetricName"], target))
    return result


def test_every_function_has_an_errors_and_a_throttles_alarm(cloudformation: dict[str, Any]) -> None:
    functions = of_type(cloudformation, "AWS::Lambda::Function")
    assert len(functions) >= 6
    alarms = watched(cloudformation)
    for function_id in functions:
        assert ("AWS/Lambda", "Errors", function_id) in alarms, function_id
        assert ("AWS/Lambda", "Throttles", function_id) in alarms, function_id


def test_the_failure_modes_of_the_pipeline_each_have_an_alarm(cloudformation: dict[str, Any]) -> None:
    alarms = watched(cloudformation)
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "VotesDeadLetterQueue") in alarms
    assert ("AWS/Lambda", "IteratorAge", "LabelsFunction") in alarms
    assert ("service", metrics.OUTBOX_KEPT_ITEMS, "drcaptcha") in alarms
    assert ("service", metrics.SIGNING_KEY_MISSING, "drcaptcha") in alarms
    assert ("service", "Api5xx", "") in alarms and ("service", "Api429", "") in alarms


def test_the_labels_lag_alarm_fires_well_inside_the_streams_retention(cloudformation: dict[str, Any]) -> None:
    retention_ms = int(cloudformation["Resources"]["VotesStream"]["Properties"]["RetentionPeriodHours"]) * 3600_000
    (lag,) = [
        alarm["Properties"]
        for alarm in of_type(cloudformation, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "IteratorAge"
    ]
    assert lag["Threshold"] <= retention_ms / 4


def test_every_alarm_notifies_the_alarm_topic(cloudformation: dict[str, Any]) -> None:
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    for name, alarm in of_type(cloudformation, "AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [topic], name
    assert "AlarmTopicArn" in cloudformation["Parameters"]


def test_alarms_on_service_metrics_use_names_the_service_writes(cloudformation: dict[str, Any]) -> None:
    filtered = {
        transformation["MetricName"]
        for metric_filter in of_type(cloudformation, "AWS::Logs::MetricFilter").values()
        for transformation in metric_filter["Properties"]["MetricTransformations"]
    }
    for name, alarm in of_type(cloudformation, "AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        if not isinstance(properties["Namespace"], str):  # DrCaptcha/<Stage>
            assert properties["MetricName"] in set(metrics.ALL) | filtered, name


def test_the_functions_are_told_the_metrics_namespace_of_the_alarms(stack: LocalStack) -> None:
    environment = stack.function_environment("CaptchaFunction")
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == f"DrCaptcha/{stack.parameter_values['Stage']}"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "drcaptcha"  # the `service` dimension of the alarms


def test_the_dashboard_shows_every_service_metric(cloudformation: dict[str, Any]) -> None:
    (dashboard,) = of_type(cloudformation, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    shown = {metric[1] for widget in json.loads(body)["widgets"] for metric in widget["properties"]["metrics"]}
    assert set(metrics.ALL) <= shown


def test_every_function_logs_to_a_group_with_retention(cloudformation: dict[str, Any]) -> None:
    groups = of_type(cloudformation, "AWS::Logs::LogGroup")
    for function_id, function in of_type(cloudformation, "AWS::Lambda::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function_id


def test_the_http_api_writes_an_access_log_with_the_status(cloudformation: dict[str, Any]) -> None:
    (stage,) = of_type(cloudformation, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert '"status":$context.status' in settings["Format"]
    assert "sourceIp" not in settings["Format"]


def test_a_failed_or_stuck_training_job_is_reported(cloudformation: dict[str, Any]) -> None:
    queue = cloudformation["Resources"]["TrainingJobQueue"]["Properties"]
    (stuck,) = queue["JobStateTimeLimitActions"]
    assert stuck["State"] == "RUNNABLE" and stuck["Action"] == "CANCEL"
    rules = of_type(cloudformation, "AWS::Events::Rule")
    failed = [
        rule["Properties"]
        for rule in rules.values()
        if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.batch"]
    ]
    assert failed and failed[0]["EventPattern"]["detail"]["status"] == ["FAILED"]
    assert failed[0]["EventPattern"]["detail"]["jobQueue"] == [{"Ref": "TrainingJobQueue"}]
