"""The IAM evaluator itself, on cases whose AWS answer is documented (policy evaluation logic, condition operators).

If these break, every least-privilege table in test_iam_policies.py proves nothing, so each rule is pinned both
ways (a match and a near miss).
"""

from __future__ import annotations

from typing import Any

import pytest
from iamcheck.evaluator import (
    Decision,
    PolicySet,
    Request,
    UnsupportedPolicyError,
    arn_match,
    condition_holds,
    wildcard_match,
)

TABLE = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/tfsam-local-data"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(doc: dict[str, Any], action: str, resource: str = "*", context: dict[str, Any] | None = None) -> Decision:
    return PolicySet({"p": doc}).evaluate(Request(action, resource, context or {})).decision


# ------------------------------------------------------------------------------------------------ wildcards
@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:Get*", "dynamodb:PutItem", False),
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:?etItem", "dynamodb:GGetItem", False),  # ? is exactly one character
        ("s3:*", "s3:GetObject", True),
        ("*", "anything:AtAll", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket-other/x", False),
        ("a.b", "axb", False),  # regex metacharacters are literal
        ("a+b", "a+b", True),
    ],
)
def test_wildcards(pattern: str, value: str, expected: bool) -> None:
    assert wildcard_match(pattern, value) is expected


def test_actions_are_case_insensitive_resources_are_not() -> None:
    doc = policy(allow("DynamoDB:getitem", TABLE))
    assert decide(doc, "dynamodb:GetItem", TABLE) is Decision.ALLOW
    assert decide(doc, "dynamodb:GetItem", TABLE.upper()) is Decision.IMPLICIT_DENY


# ------------------------------------------------------------------------------------------ evaluation logic
def test_nothing_matching_is_an_implicit_deny() -> None:
    assert decide(policy(allow("s3:GetObject", "arn:aws:s3:::b/*")), "s3:PutObject", "arn:aws:s3:::b/k") is (
        Decision.IMPLICIT_DENY
    )


def test_explicit_deny_wins_over_any_allow() -> None:
    doc = policy(allow("dynamodb:*", "*"), deny("dynamodb:DeleteTable", TABLE))
    assert decide(doc, "dynamodb:DeleteTable", TABLE) is Decision.EXPLICIT_DENY
    assert decide(doc, "dynamodb:DeleteTable", TABLE + "-other") is Decision.ALLOW
    evaluation = PolicySet({"a": doc, "b": policy(allow("dynamodb:DeleteTable", TABLE))}).evaluate(
        Request("dynamodb:DeleteTable", TABLE)
    )
    assert evaluation.decision is Decision.EXPLICIT_DENY  # across documents too


def test_not_action_and_not_resource() -> None:
    doc = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(doc, "s3:GetObject") is Decision.ALLOW
    assert decide(doc, "IAM:PassRole") is Decision.IMPLICIT_DENY
    doc = policy({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::public/x") is Decision.ALLOW
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::secret/x") is Decision.IMPLICIT_DENY
    deny_all_but = policy(allow("*"), {"Effect": "Deny", "NotAction": ["s3:Get*"], "Resource": "*"})
    assert decide(deny_all_but, "s3:GetObject") is Decision.ALLOW
    assert decide(deny_all_but, "s3:PutObject") is Decision.EXPLICIT_DENY


def test_a_deny_with_not_resource_exempts_exactly_that_resource() -> None:
    # The planner's NoSecretOrParameterValues: every parameter value but the environment's own contract.
    contract = "arn:aws:ssm:ap-northeast-1:123456789012:parameter/tfsam/dev/contract"
    doc = policy(allow("ssm:Get*"), {"Effect": "Deny", "Action": "ssm:GetParameter", "NotResource": contract})
    assert decide(doc, "ssm:GetParameter", contract) is Decision.ALLOW
    assert decide(doc, "ssm:GetParameter", contract.replace("/dev/", "/prod/")) is Decision.EXPLICIT_DENY
    assert decide(doc, "ssm:GetParameter", contract + "x") is Decision.EXPLICIT_DENY


def test_single_statement_object_and_string_values() -> None:
    doc = {"Version": "2012-10-17", "Statement": allow("sqs:SendMessage", "arn:aws:sqs:r:1:q")}
    assert decide(doc, "sqs:SendMessage", "arn:aws:sqs:r:1:q") is Decision.ALLOW


# ------------------------------------------------------------------------------------------------ conditions
LEADING = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ITEM#*", "USER#*"]}}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["ITEM#1"], True),
        (["USER#1", "ITEM#2"], True),  # BatchWriteItem: every key must match
        (["ITEM#1", "STATS#Item"], False),
        (["STATS#Item"], False),
        (["item#1"], False),  # StringLike is case-sensitive
        ([], True),  # vacuous truth: the reason LeadingKeys only binds calls that carry keys
        (None, True),
    ],
)
def test_for_all_values_string_like(keys: list[str] | None, expected: bool) -> None:
    context = {} if keys is None else {"dynamodb:LeadingKeys": keys}
    doc = policy(allow("dynamodb:PutItem", TABLE, Condition=LEADING))
    assert (decide(doc, "dynamodb:PutItem", TABLE, context) is Decision.ALLOW) is expected


def test_for_any_value_needs_a_present_matching_value() -> None:
    assert condition_holds("ForAnyValue:StringEquals", "k", ["a"], {"k": ["b", "a"]})
    assert not condition_holds("ForAnyValue:StringEquals", "k", ["a"], {"k": ["b"]})
    assert not condition_holds("ForAnyValue:StringEquals", "k", ["a"], {})


def test_condition_keys_are_case_insensitive_values_case_sensitive() -> None:
    assert condition_holds("StringEquals", "aws:SourceAccount", "123", {"AWS:sourceaccount": "123"})
    assert not condition_holds("StringEquals", "k", "Abc", {"k": "abc"})
    assert condition_holds("StringEqualsIgnoreCase", "k", "Abc", {"k": "abc"})


def test_missing_key_positive_false_negated_true_if_exists_true() -> None:
    assert not condition_holds("StringEquals", "k", "v", {})
    assert condition_holds("StringNotEquals", "k", "v", {})
    assert condition_holds("StringEqualsIfExists", "k", "v", {})
    assert not condition_holds("StringEqualsIfExists", "k", "v", {"k": "w"})


def test_values_are_ored_negated_values_are_nored_keys_and_operators_anded() -> None:
    assert condition_holds("StringEquals", "k", ["a", "b"], {"k": "b"})
    assert not condition_holds("StringNotEquals", "k", ["a", "b"], {"k": "b"})
    assert condition_holds("StringNotEquals", "k", ["a", "b"], {"k": "c"})
    doc = policy(
        allow(
            "iam:PassRole",
            "arn:aws:iam::1:role/r",
            Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com", "aws:RequestedRegion": "x"}},
        )
    )
    both = {"iam:PassedToService": "lambda.amazonaws.com", "aws:RequestedRegion": "x"}
    assert decide(doc, "iam:PassRole", "arn:aws:iam::1:role/r", both) is Decision.ALLOW
    one = {"iam:PassedToService": "lambda.amazonaws.com", "aws:RequestedRegion": "y"}
    assert decide(doc, "iam:PassRole", "arn:aws:iam::1:role/r", one) is Decision.IMPLICIT_DENY


def test_bool_secure_transport_deny() -> None:
    doc = policy(allow("s3:GetObject"), deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert decide(doc, "s3:GetObject", "*", {"aws:SecureTransport": True}) is Decision.ALLOW
    assert decide(doc, "s3:GetObject", "*", {"aws:SecureTransport": "false"}) is Decision.EXPLICIT_DENY
    # Absent key: Bool is a positive operator, so the deny does not apply (AWS adds BoolIfExists for that).
    assert decide(doc, "s3:GetObject") is Decision.ALLOW


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("arn:aws:lambda:r:1:function:tfsam-dev-*", "arn:aws:lambda:r:1:function:tfsam-dev-api", True),
        ("arn:aws:lambda:r:1:function:tfsam-dev-*", "arn:aws:lambda:r:2:function:tfsam-dev-api", False),
        ("arn:aws:lambda:r:*:function:x", "arn:aws:lambda:r:1:function:x", True),
        ("arn:aws:lambda:*:function:x", "arn:aws:lambda:r:1:function:x", False),  # only five parts
        ("arn:aws:ec2:r:1:vpc/vpc-1", "arn:aws:ec2:r:1:vpc/vpc-1", True),
        ("arn:aws:ec2:r:1:vpc/vpc-1", "arn:aws:ec2:r:1:vpc/vpc-12", False),
        ("arn:aws:ec2:r:1:vpc/vpc-1", "not-an-arn", False),
    ],
)
def test_arn_operators(pattern: str, value: str, expected: bool) -> None:
    assert arn_match(pattern, value) is expected
    assert condition_holds("ArnLike", "lambda:FunctionArn", pattern, {"lambda:FunctionArn": value}) is expected
    assert condition_holds("ArnNotEquals", "k", pattern, {"k": value}) is (not expected)


def test_numeric_and_null() -> None:
    assert condition_holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "5"})
    assert not condition_holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "50"})
    assert condition_holds("Null", "aws:TokenIssueTime", "true", {})
    assert not condition_holds("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": "x"})
    assert condition_holds("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": "x"})


def test_trust_policy_principals() -> None:
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    )
    policies = PolicySet({"trust": trust})

    def may(principal: dict[str, str], account: str) -> bool:
        return policies.evaluate(Request("sts:AssumeRole", "*", {"aws:SourceAccount": account}, principal)).allowed

    assert may({"Service": "lambda.amazonaws.com"}, "123456789012")
    assert not may({"Service": "lambda.amazonaws.com"}, "999999999999")  # confused deputy
    assert not may({"Service": "ec2.amazonaws.com"}, "123456789012")
    assert not may({"AWS": "arn:aws:iam::123456789012:root"}, "123456789012")


# ------------------------------------------------------------------------------------------- never guess
@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:GetObject", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
        allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow("s3:GetObject", Condition={"StringEqualz": {"k": "v"}}),
        allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"),
        {"Effect": "Allow", "Action": "s3:GetObject"},  # no Resource
        {"Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:Put*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Conditions": {}},
    ],
)
def test_unsupported_or_malformed_raises(statement: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicyError):
        decide(policy(statement), "s3:GetObject", "arn:aws:s3:::home/x/y")


def test_unknown_operator_raises_even_when_another_condition_already_fails() -> None:
    statement = allow(
        "s3:GetObject", Condition={"StringEquals": {"k": "no"}, "DateLessThan": {"aws:CurrentTime": "2020"}}
    )
    with pytest.raises(UnsupportedPolicyError):
        decide(policy(statement), "s3:GetObject", "*", {"k": "yes"})


def test_single_valued_operator_on_a_multivalued_key_raises() -> None:
    with pytest.raises(UnsupportedPolicyError):
        condition_holds("StringLike", "dynamodb:LeadingKeys", "ITEM#*", {"dynamodb:LeadingKeys": ["ITEM#1", "x"]})
