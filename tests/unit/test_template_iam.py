"""Least privilege, read from template.yaml: a change that widens a role fails here."""

from __future__ import annotations

import copy

import pytest

from drcaptcha_ops.iam import Statement, allows, function_statements
from drcaptcha_ops.template import LocalStack, local_stack

# Functions that answer the public internet: none of them may read the true labels of unlabelled glyphs.
PUBLIC_FUNCTIONS = ("CaptchaFunction", "SiteverifyFunction", "RecognizeFunction")
ADMIN_FUNCTION = "AdminFunction"


@pytest.fixture(scope="module")
def stack() -> LocalStack:
    return local_stack()


@pytest.fixture(scope="module")
def statements(stack: LocalStack) -> dict[str, list[Statement]]:
    return function_statements(stack)


def truth_object(stack: LocalStack) -> str:
    return f"arn:aws:s3:::{stack.physical_name('DataBucket')}/truth/train/00000.labels.npy"


def test_no_public_function_can_read_the_true_labels(stack: LocalStack, statements: dict[str, list[Statement]]) -> None:
    present = [name for name in PUBLIC_FUNCTIONS if name in statements]
    for name in present:
        assert not allows(statements[name], "s3:GetObject", truth_object(stack)), name
        assert not allows(statements[name], "s3:GetObjectVersion", truth_object(stack)), name


def test_only_the_admin_function_can_submit_training_jobs(statements: dict[str, list[Statement]]) -> None:
    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/drcaptcha-training"
    for name, function_statements_ in statements.items():
        if name != ADMIN_FUNCTION:
            assert not allows(function_statements_, "batch:SubmitJob", queue), name


def test_no_role_grants_every_action_or_every_resource_of_a_service(
    statements: dict[str, list[Statement]],
) -> None:
    for name, function_statements_ in statements.items():
        for statement in function_statements_:
            assert "*" not in statement.actions, name
            assert not any(action.endswith(":*") for action in statement.actions), (name, statement)


def test_the_check_catches_a_public_function_given_the_truth_prefix(stack: LocalStack) -> None:
    """The rule above must be able to fail: grant one public function truth/* and it is caught."""
    widened = copy.deepcopy(stack.template)
    widened["Resources"].setdefault(
        "CaptchaFunction",
        {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "functions/captcha/", "Handler": "app.handler", "Policies": []},
        },
    )
    widened["Resources"]["CaptchaFunction"]["Properties"].setdefault("Policies", []).append(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": {"Fn::Sub": "${DataBucket.Arn}/truth/*"},
                }
            ]
        }
    )

    widened_statements = function_statements(LocalStack(widened))

    assert allows(widened_statements["CaptchaFunction"], "s3:GetObject", truth_object(stack))


def test_wildcards_in_actions_and_resources_match_like_iam() -> None:
    statement = [Statement("Allow", ("s3:Get*",), ("arn:aws:s3:::bucket/glyphs/*",))]

    assert allows(statement, "s3:GetObject", "arn:aws:s3:::bucket/glyphs/train/00001.npy")
    assert not allows(statement, "s3:GetObject", "arn:aws:s3:::bucket/truth/train/00001.labels.npy")
    assert not allows(statement, "s3:PutObject", "arn:aws:s3:::bucket/glyphs/train/00001.npy")
    denied = [*statement, Statement("Deny", ("s3:*",), ("arn:aws:s3:::bucket/glyphs/secret*",))]
    assert not allows(denied, "s3:GetObject", "arn:aws:s3:::bucket/glyphs/secret.npy")


@pytest.mark.parametrize("table", ["ChallengesTable", "VotesTable", "GlyphsTable"])
def test_no_role_can_scan_the_items_of_answers_votes_or_glyphs_only_count_them(
    stack: LocalStack, statements: dict[str, list[Statement]], table: str
) -> None:
    """Issue 19, item 6: the admin role's Scan returned open challenges' `expected` answers and client hashes.
    A Scan with Select COUNT returns no item; IAM's dynamodb:Select condition lets the role make only those."""
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{stack.physical_name(table)}"
    # The admin stats still count (store/base.count_scan sends Select COUNT)
    assert allows(statements[ADMIN_FUNCTION], "dynamodb:Scan", arn, {"dynamodb:Select": "COUNT"})
    # But no function may read the items, whatever it asks for
    for name, function_statements_ in statements.items():
        for select in ("ALL_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", ""):
            assert not allows(function_statements_, "dynamodb:Scan", arn, {"dynamodb:Select": select}), (name, select)


def test_a_condition_the_check_cannot_read_is_no_grant() -> None:
    statement = Statement("Allow", ("dynamodb:Scan",), ("*",), {"ForAnyValue:StringLike": {"dynamodb:Select": "*"}})
    assert not allows([statement], "dynamodb:Scan", "arn:aws:dynamodb:::table/t", {"dynamodb:Select": "COUNT"})
    assert allows([Statement("Allow", ("dynamodb:Scan",), ("*",))], "dynamodb:Scan", "arn:aws:dynamodb:::table/t")
