"""Least privilege of the rendered IAM policies: what each role must be able to do, and what it must not.

The documents come from ``terraform show -json`` of the tier's local cloud (every ARN resolved as AWS gets it)
and are judged by ``iamcheck.evaluator`` (the emulator cannot enforce resource-level policies). "Must allow"
rows are the calls the code makes (service/dal, Powertools idempotency, the ESM, sam deploy, terraform apply);
"must deny" rows are the abuse a compromised function or CI job would try.

The one role with a managed policy, infra-planner (AWS's ReadOnlyAccess), is judged on its inline policy (the
explicit denies of data reads must be EXPLICIT denies, since ReadOnlyAccess allows those reads) and additionally
against moto's copy of ReadOnlyAccess, the closest offline stand-in for the policy AWS evaluates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import tooling
from iamcheck.evaluator import ContextValue, Decision, PolicySet, Request
from iamcheck.rendered import RoleDocuments, outputs_from_show, roles_from_show
from localcloud import terraform_workspace as tfw

if TYPE_CHECKING:  # a runtime import would pick tests/infra/conftest.py when both tiers run in one session
    from conftest import LocalCloud

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud-reliability")]

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
PREFIX = "tfsam-local"
PLANNER = f"{PREFIX}-infra-planner"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
# local.tfvars sets no terraform_state_bucket (the emulator keeps state locally); the planner's lock statement is
# rendered with this one, named like the documented bootstrap's bucket (docs/ci-cd.md).
STATE_BUCKET = f"tfsam-terraform-state-{ACCOUNT}"
STATE_OBJECT = f"arn:aws:s3:::{STATE_BUCKET}/tfsam/local/terraform.tfstate"


@dataclass(frozen=True)
class Case:
    label: str
    action: str
    resource: str
    context: dict[str, ContextValue] = field(default_factory=dict)

    def request(self) -> Request:
        return Request(self.action, self.resource, self.context)


@dataclass(frozen=True)
class Arns:
    """The deployed names, from the Terraform outputs (never rebuilt by hand where an output exists)."""

    outputs: dict[str, Any]

    @property
    def table(self) -> str:
        return str(self.outputs["table_arn"])

    def index(self, name: str) -> str:
        return f"{self.table}/index/{name}"

    @property
    def stream(self) -> str:
        return str(self.outputs["table_stream_arn"])

    @property
    def dlq(self) -> str:
        return str(self.outputs["dead_letter_queue_arn"])

    @property
    def vpc_id(self) -> str:
        return str(self.outputs["vpc_id"])

    @property
    def vpc(self) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{self.vpc_id}"

    @property
    def subnets(self) -> list[str]:
        return [f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{s}" for s in self.outputs["private_subnet_ids"]]

    @property
    def security_group(self) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{self.outputs['lambda_security_group_id']}"

    @property
    def flow_log_group(self) -> str:
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.outputs['vpc_flow_log_group_name']}"

    @property
    def bucket(self) -> str:
        return f"arn:aws:s3:::{self.outputs['sam_artifacts_bucket']}"

    def role(self, short: str) -> str:
        return str(self.outputs[f"{short}_role_arn"])

    @property
    def contract(self) -> str:
        # An SSM parameter ARN is "parameter" + the name, whose leading "/" is the separator (no "//").
        return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{self.outputs['contract_parameter_name']}"

    def other_contract(self, env: str = "prod") -> str:
        return self.contract.replace(f"/{PREFIX.split('-')[1]}/", f"/{env}/")

    @staticmethod
    def function(name: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    @staticmethod
    def log_stream(group: str) -> str:
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:2026/11/21/[$LATEST]abc"

    @staticmethod
    def other_table(name: str = "tfsam-dev-data", account: str = ACCOUNT) -> str:
        return f"arn:aws:dynamodb:{REGION}:{account}:table/{name}"


@pytest.fixture(scope="module")
def arns(terraform_show: dict[str, Any]) -> Arns:
    return Arns(outputs_from_show(terraform_show))


def keys(*leading: str) -> dict[str, ContextValue]:
    return {"dynamodb:LeadingKeys": list(leading)}


ENI = f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/eni-0123456789abcdef0"
OTHER_SUBNET = f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-0ffffffffffffffff"
OTHER_VPC = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0ffffffffffffffff"


def table_rows(a: Arns, fn: str) -> tuple[list[Case], list[Case]]:
    """(must allow, must deny) for one function role."""
    own_logs = a.log_stream(f"/aws/lambda/{PREFIX}-{fn}")
    other_fn = "api" if fn != "api" else "processor"
    common_allow = [
        Case("write own logs", "logs:PutLogEvents", own_logs),
        Case("create own log stream", "logs:CreateLogStream", own_logs),
        Case("x-ray segments", "xray:PutTraceSegments", "*"),
        *[Case(f"ENI in own subnet {s[-6:]}", "ec2:CreateNetworkInterface", s) for s in a.subnets],
        Case("ENI with own security group", "ec2:CreateNetworkInterface", a.security_group),
        Case("new ENI resource", "ec2:CreateNetworkInterface", ENI),
        Case("delete ENI in own VPC", "ec2:DeleteNetworkInterface", ENI, {"ec2:Vpc": a.vpc}),
        Case("Lambda's check: delete any ENI", "ec2:DeleteNetworkInterface", f"arn:aws:ec2:{REGION}:{ACCOUNT}:*/*"),
        Case("release an IP in own VPC", "ec2:UnassignPrivateIpAddresses", ENI, {"ec2:Vpc": a.vpc}),
        Case("describe ENIs", "ec2:DescribeNetworkInterfaces", "*"),
    ]
    common_deny = [
        Case("another function's logs", "logs:PutLogEvents", a.log_stream(f"/aws/lambda/{PREFIX}-{other_fn}")),
        Case("create log groups (Terraform owns them)", "logs:CreateLogGroup", a.log_stream("/aws/lambda/x")),
        Case("delete own log group", "logs:DeleteLogGroup", own_logs),
        Case("ENI in a foreign subnet", "ec2:CreateNetworkInterface", OTHER_SUBNET),
        Case("delete ENI in another region", "ec2:DeleteNetworkInterface", ENI.replace(REGION, "us-east-1")),
        Case("delete ENI of another account", "ec2:DeleteNetworkInterface", ENI.replace(ACCOUNT, OTHER_ACCOUNT)),
        Case("assign IPs in another VPC", "ec2:AssignPrivateIpAddresses", ENI, {"ec2:Vpc": OTHER_VPC}),
        Case("run instances", "ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"),
        Case("open security groups", "ec2:AuthorizeSecurityGroupIngress", a.security_group),
        Case("delete the table", "dynamodb:DeleteTable", a.table),
        Case("reconfigure the table", "dynamodb:UpdateTable", a.table),
        Case("export the table", "dynamodb:ExportTableToPointInTime", a.table),
        Case("another table", "dynamodb:GetItem", a.other_table(), keys("ITEM#1")),
        Case("another account's table", "dynamodb:GetItem", a.other_table(f"{PREFIX}-data", OTHER_ACCOUNT)),
        Case("iam pass role", "iam:PassRole", a.role(fn)),
        Case("iam put role policy on itself", "iam:PutRolePolicy", a.role(fn)),
        Case("iam create user", "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x"),
        Case("assume the deployer", "sts:AssumeRole", a.role("infra_deployer")),
        Case("invoke other functions", "lambda:InvokeFunction", a.function(f"{PREFIX}-{other_fn}")),
        Case("change own code", "lambda:UpdateFunctionCode", a.function(f"{PREFIX}-{fn}")),
        Case("read deployment artifacts", "s3:GetObject", f"{a.bucket}/app/template.yaml"),
        Case("kms decrypt", "kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"),
    ]
    if fn == "api":
        allow = [
            Case("get an item", "dynamodb:GetItem", a.table, keys("ITEM#1")),
            Case("get stats", "dynamodb:GetItem", a.table, keys("STATS#Item")),
            Case("query user orders", "dynamodb:Query", a.table, keys("USER#1")),
            Case("query GSI1", "dynamodb:Query", a.index("GSI1")),
            Case("query EntityTypeIndex", "dynamodb:Query", a.index("EntityTypeIndex")),
            Case("create item", "dynamodb:PutItem", a.table, keys("ITEM#1")),
            Case("create user", "dynamodb:PutItem", a.table, keys("USER#1")),
            Case("update item", "dynamodb:UpdateItem", a.table, keys("ITEM#1")),
            Case("update order", "dynamodb:UpdateItem", a.table, keys("USER#1")),
            Case("delete item", "dynamodb:DeleteItem", a.table, keys("ITEM#1")),
            Case("order: user exists check", "dynamodb:ConditionCheckItem", a.table, keys("USER#1")),
        ]
        deny = [
            Case("forge stats", "dynamodb:PutItem", a.table, keys("STATS#Item")),
            Case("bump stats", "dynamodb:UpdateItem", a.table, keys("STATS#Order")),
            Case("forge ledger", "dynamodb:PutItem", a.table, keys("LEDGER#evt")),
            Case("delete ledger", "dynamodb:DeleteItem", a.table, keys("LEDGER#evt")),
            Case("forge idempotency record", "dynamodb:PutItem", a.table, keys("IDEMPOTENCY#scheduled")),
            Case("case-mangled partition", "dynamodb:PutItem", a.table, keys("item#1")),
            Case("mixed batch", "dynamodb:BatchWriteItem", a.table, keys("ITEM#1", "STATS#Item")),
            Case("scan the table", "dynamodb:Scan", a.table),
            Case("write another table", "dynamodb:PutItem", a.other_table(), keys("ITEM#1")),
            Case("read the stream", "dynamodb:GetRecords", a.stream),
            Case("write the DLQ", "sqs:SendMessage", a.dlq),
        ]
    elif fn == "processor":
        foreign_stream = a.stream.replace(f":{ACCOUNT}:", f":{OTHER_ACCOUNT}:")
        recreated_stream = a.stream.rsplit("/", 1)[0] + "/2030-01-01T00:00:00.000"
        allow = [
            Case("describe own stream", "dynamodb:DescribeStream", a.stream),
            Case("shard iterator", "dynamodb:GetShardIterator", a.stream),
            Case("get records", "dynamodb:GetRecords", a.stream),
            Case("list streams", "dynamodb:ListStreams", "*"),
            Case("stats update (transaction part)", "dynamodb:UpdateItem", a.table, keys("STATS#Item")),
            Case("ledger put (transaction part)", "dynamodb:PutItem", a.table, keys("LEDGER#evt-1")),
            Case("ledger condition check", "dynamodb:ConditionCheckItem", a.table, keys("LEDGER#evt-1")),
            Case("read stats", "dynamodb:GetItem", a.table, keys("STATS#Order")),
            Case("on-failure destination", "sqs:SendMessage", a.dlq),
        ]
        deny = [
            Case("another account's stream (not configured)", "dynamodb:GetRecords", foreign_stream),
            Case("another table's stream", "dynamodb:GetRecords", f"{a.other_table()}/stream/2026-01-01T00:00:00.000"),
            Case("a later stream of a recreated table", "dynamodb:GetRecords", recreated_stream),
            Case("write an entity", "dynamodb:PutItem", a.table, keys("ITEM#1")),
            Case("modify a user", "dynamodb:UpdateItem", a.table, keys("USER#1")),
            Case("delete stats", "dynamodb:DeleteItem", a.table, keys("STATS#Item")),
            Case("delete ledger", "dynamodb:DeleteItem", a.table, keys("LEDGER#evt-1")),
            Case("idempotency records", "dynamodb:PutItem", a.table, keys("IDEMPOTENCY#scheduled")),
            Case("mixed keys", "dynamodb:UpdateItem", a.table, keys("STATS#Item", "ITEM#1")),
            Case("scan", "dynamodb:Scan", a.table),
            Case("query entities", "dynamodb:Query", a.table, keys("USER#1")),
            Case("read the DLQ", "sqs:ReceiveMessage", a.dlq),
            Case("purge the DLQ", "sqs:PurgeQueue", a.dlq),
            Case("another queue", "sqs:SendMessage", a.dlq.replace("processor-dlq", "other")),
        ]
    else:
        allow = [
            Case("count by EntityTypeIndex", "dynamodb:Query", a.index("EntityTypeIndex")),
            Case("count orders by status", "dynamodb:Query", a.index("GSI1")),
            Case("scan for expired rows", "dynamodb:Scan", a.table),
            Case("read stats", "dynamodb:GetItem", a.table, keys("STATS#Item")),
            Case("rewrite stats", "dynamodb:PutItem", a.table, keys("STATS#Order")),
            Case("delete an expired item", "dynamodb:DeleteItem", a.table, keys("ITEM#1")),
            Case("delete an expired user", "dynamodb:DeleteItem", a.table, keys("USER#1")),
            Case("batch delete expired", "dynamodb:BatchWriteItem", a.table, keys("ITEM#1", "USER#2")),
            Case("idempotency put", "dynamodb:PutItem", a.table, keys("IDEMPOTENCY#scheduled")),
            Case("idempotency get", "dynamodb:GetItem", a.table, keys("IDEMPOTENCY#scheduled")),
            Case("idempotency update", "dynamodb:UpdateItem", a.table, keys("IDEMPOTENCY#scheduled")),
            Case("idempotency delete", "dynamodb:DeleteItem", a.table, keys("IDEMPOTENCY#scheduled")),
        ]
        deny = [
            Case("create entities", "dynamodb:PutItem", a.table, keys("ITEM#1")),
            Case("modify users", "dynamodb:UpdateItem", a.table, keys("USER#1")),
            Case("delete stats", "dynamodb:DeleteItem", a.table, keys("STATS#Item")),
            Case("forge ledger", "dynamodb:PutItem", a.table, keys("LEDGER#evt")),
            Case("another idempotency partition", "dynamodb:PutItem", a.table, keys("IDEMPOTENCY#api")),
            Case("batch with a stats key", "dynamodb:BatchWriteItem", a.table, keys("ITEM#1", "STATS#Item")),
            Case("read the stream", "dynamodb:GetRecords", a.stream),
            Case("write the DLQ", "sqs:SendMessage", a.dlq),
        ]
    return allow + common_allow, deny + common_deny


def app_deployer_rows(a: Arns) -> tuple[list[Case], list[Case]]:
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{PREFIX}-app/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
    own_fn = a.function(f"{PREFIX}-api")
    to_lambda = {"iam:PassedToService": "lambda.amazonaws.com"}
    apigw = f"arn:aws:apigateway:{REGION}::"
    esm = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
    allow = [
        Case("change set on the app stack", "cloudformation:CreateChangeSet", stack),
        Case("execute change set", "cloudformation:ExecuteChangeSet", stack),
        # deploy.sh (deploylib/stack_state.py) and sam deploy --on-failure DELETE clear a failed first create.
        Case("read its stack's state", "cloudformation:DescribeStacks", stack),
        Case("delete its stack left in ROLLBACK_COMPLETE", "cloudformation:DeleteStack", stack),
        Case(
            "SAM transform",
            "cloudformation:CreateChangeSet",
            f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31",
        ),
        Case("validate template", "cloudformation:ValidateTemplate", "*"),
        Case("update function code", "lambda:UpdateFunctionCode", own_fn),
        Case("create function in the VPC", "lambda:CreateFunction", own_fn, {"lambda:VpcIds": a.vpc_id}),
        Case("publish layer", "lambda:PublishLayerVersion", f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{PREFIX}-common"),
        Case(
            "ESM for own function",
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": a.function(f"{PREFIX}-processor")},
        ),
        Case("read back own mapping", "lambda:GetEventSourceMapping", esm),
        Case("tag mapping on create", "lambda:TagResource", esm),
        Case("read runtime management config", "lambda:GetRuntimeManagementConfig", own_fn),
        Case("pass api role to lambda", "iam:PassRole", a.role("api"), to_lambda),
        Case("pass processor role to lambda", "iam:PassRole", a.role("processor"), to_lambda),
        Case("upload artifact", "s3:PutObject", f"{a.bucket}/abc.zip"),
        Case("list artifact bucket", "s3:ListBucket", a.bucket),
        Case("create REST API", "apigateway:POST", f"{apigw}/restapis"),
        Case("schedule rule", "events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-daily"),
        Case("vpc lookups", "ec2:DescribeSubnets", "*"),
        Case("read the published contract", "ssm:GetParameter", a.contract),
    ]
    deny = [
        Case("another env's contract", "ssm:GetParameter", a.other_contract("prod")),
        Case("the contract in another region", "ssm:GetParameter", a.contract.replace(REGION, "us-east-1")),
        Case("another parameter of this env", "ssm:GetParameter", a.contract.replace("/contract", "/db")),
        Case("parameters by path", "ssm:GetParametersByPath", a.contract.removesuffix("/contract")),
        Case("rewrite the contract", "ssm:PutParameter", a.contract),
        Case("delete the contract", "ssm:DeleteParameter", a.contract),
        Case("read the Terraform state", "s3:GetObject", STATE_OBJECT),
        Case("list the state bucket", "s3:ListBucket", f"arn:aws:s3:::{STATE_BUCKET}"),
        Case("create VPC", "ec2:CreateVpc", "*"),
        Case("delete subnet", "ec2:DeleteSubnet", a.subnets[0]),
        Case("open SG ingress", "ec2:AuthorizeSecurityGroupIngress", a.security_group),
        Case("run instances", "ec2:RunInstances", "*"),
        Case("create role", "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-x"),
        Case("edit function role policy", "iam:PutRolePolicy", a.role("api")),
        Case("attach admin to function role", "iam:AttachRolePolicy", a.role("api")),
        Case("pass infra-deployer role", "iam:PassRole", a.role("infra_deployer"), to_lambda),
        Case("pass function role to EC2", "iam:PassRole", a.role("api"), {"iam:PassedToService": "ec2.amazonaws.com"}),
        Case("delete the table", "dynamodb:DeleteTable", a.table),
        Case("write table data", "dynamodb:PutItem", a.table, keys("STATS#Item")),
        Case("another stack", "cloudformation:DeleteStack", stack.replace(f"{PREFIX}-app", "tfsam-prod-app")),
        Case("the infra's stacks", "cloudformation:UpdateStack", stack.replace(f"{PREFIX}-app", f"{PREFIX}-other")),
        Case("another env's function", "lambda:UpdateFunctionCode", a.function("tfsam-prod-api")),
        Case("function out of the VPC", "lambda:CreateFunction", own_fn),
        Case("function into another VPC", "lambda:UpdateFunctionConfiguration", own_fn, {"lambda:VpcIds": "vpc-0bad"}),
        Case("invoke functions", "lambda:InvokeFunction", own_fn),
        Case(
            "ESM for another env",
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": a.function("tfsam-prod-processor")},
        ),
        Case("ESM without a function", "lambda:CreateEventSourceMapping", "*"),
        Case("mapping in another region", "lambda:GetEventSourceMapping", esm.replace(REGION, "us-east-1")),
        Case("tag another account's mapping", "lambda:TagResource", esm.replace(ACCOUNT, OTHER_ACCOUNT)),
        Case("repoint a mapping by id", "lambda:UpdateEventSourceMapping", esm),
        Case("API Gateway account settings", "apigateway:PATCH", f"{apigw}/account"),
        Case("delete artifacts", "s3:DeleteObject", f"{a.bucket}/abc.zip"),
        Case("another bucket", "s3:PutObject", "arn:aws:s3:::tfsam-prod-sam-artifacts-123456789012/x"),
        Case("log groups", "logs:DeleteLogGroup", a.log_stream(f"/aws/lambda/{PREFIX}-api")),
        Case("kms", "kms:ScheduleKeyDeletion", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"),
        Case("the DLQ", "sqs:DeleteQueue", a.dlq),
    ]
    return allow, deny


# The provider's default_tags (locals.tf): what CreateKey and its TagResource carry.
TAG_KEYS = ["project", "environment", "managed-by", "owner-layer"]
KEY_TAGS: dict[str, ContextValue] = {
    "aws:RequestTag/project": "tfsam",
    "aws:RequestTag/environment": "local",
    "aws:RequestTag/managed-by": "terraform",
    "aws:RequestTag/owner-layer": "infra",
    "aws:TagKeys": TAG_KEYS,
}
PROD_KEY_TAGS: dict[str, ContextValue] = {**KEY_TAGS, "aws:RequestTag/environment": "prod"}
OWN_KEY_TAGS: dict[str, ContextValue] = {"aws:ResourceTag/environment": "local", "aws:ResourceTag/project": "tfsam"}
PROD_BUCKET = f"arn:aws:s3:::tfsam-prod-sam-artifacts-{ACCOUNT}"
NEW_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"


def infra_deployer_rows(a: Arns) -> tuple[list[Case], list[Case]]:
    in_region = {"aws:RequestedRegion": REGION}
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-api"
    allow = [
        Case("create VPC in region", "ec2:CreateVpc", "*", in_region),
        Case("describe EC2 in region", "ec2:DescribeVpcs", "*", in_region),
        Case("create table", "dynamodb:CreateTable", a.table),
        Case("table PITR", "dynamodb:UpdateContinuousBackups", a.table),
        Case("stream resource policy", "dynamodb:PutResourcePolicy", a.stream),
        Case("create function role", "iam:CreateRole", a.role("api")),
        Case("put function role policy", "iam:PutRolePolicy", a.role("processor")),
        Case(
            "GitHub OIDC provider",
            "iam:CreateOpenIDConnectProvider",
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
        ),
        Case("DLQ", "sqs:CreateQueue", a.dlq),
        Case("artifact bucket", "s3:CreateBucket", a.bucket),
        Case("artifact bucket encryption", "s3:PutEncryptionConfiguration", a.bucket),
        Case("function log group", "logs:CreateLogGroup", logs),
        Case("VPC flow logs in region", "ec2:CreateFlowLogs", "*", in_region),
        Case("flow log group", "logs:CreateLogGroup", a.flow_log_group),
        Case(
            "pass the flow log role",
            "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-vpc-flow-logs",
            {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"},
        ),
        Case("alarm", "cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{PREFIX}-api-errors"),
        Case("KMS key with this environment's tags", "kms:CreateKey", "*", KEY_TAGS),
        # CreateKey with tags is also authorised as TagResource, before the key has a key policy (iam.tf).
        Case("tag the new key at CreateKey", "kms:TagResource", NEW_KEY, KEY_TAGS),
        Case("alarm topic", "sns:CreateTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alarms"),
        # force_destroy (local, dev, staging) empties the versioned artifact bucket before deleting it.
        Case("list artifact versions to empty the bucket", "s3:ListBucketVersions", a.bucket),
        Case("delete an artifact version", "s3:DeleteObjectVersion", f"{a.bucket}/abc.zip"),
        Case("delete an artifact (delete marker)", "s3:DeleteObject", f"{a.bucket}/abc.zip"),
        Case("publish the contract", "ssm:PutParameter", a.contract),
        Case("tag the contract", "ssm:AddTagsToResource", a.contract),
        Case("read the contract back", "ssm:GetParameter", a.contract),
        Case("delete the contract", "ssm:DeleteParameter", a.contract),
        Case("read parameter metadata", "ssm:DescribeParameters", "*"),
    ]
    deny = [
        Case("another env's contract", "ssm:PutParameter", a.other_contract("prod")),
        Case("another parameter", "ssm:PutParameter", a.contract.replace("/contract", "/db")),
        Case("parameters by path", "ssm:GetParametersByPath", a.contract.removesuffix("/contract")),
        Case("EC2 in another region", "ec2:CreateVpc", "*", {"aws:RequestedRegion": "us-east-1"}),
        Case("EC2 without region context", "ec2:CreateVpc", "*"),
        Case("run instances", "ec2:RunInstances", "*", in_region),
        Case("another env's table", "dynamodb:DeleteTable", a.other_table("tfsam-prod-data")),
        Case("table data", "dynamodb:PutItem", a.table, keys("STATS#Item")),
        Case("table scan", "dynamodb:Scan", a.table),
        Case("stream records", "dynamodb:GetRecords", a.stream),
        Case("another env's role", "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/tfsam-prod-api-role"),
        Case("an unprefixed admin role", "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/admin"),
        Case("users", "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/ci"),
        Case("access keys", "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/ci"),
        Case("managed policies", "iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/x"),
        Case(
            "another OIDC provider",
            "iam:CreateOpenIDConnectProvider",
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/evil.example",
        ),
        Case("another env's queue", "sqs:DeleteQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:tfsam-prod-processor-dlq"),
        Case("queue messages", "sqs:ReceiveMessage", a.dlq),
        Case("another bucket", "s3:DeleteBucket", "arn:aws:s3:::tfsam-prod-sam-artifacts-123456789012"),
        Case("artifact objects (the app layer's packages)", "s3:PutObject", f"{a.bucket}/abc.zip"),
        Case("read artifact objects", "s3:GetObject", f"{a.bucket}/abc.zip"),
        Case("a look-alike bucket of anyone", "s3:PutBucketPolicy", "arn:aws:s3:::tfsam-local-sam-artifacts-evil"),
        Case("other log groups", "logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other"),
        Case("another env's flow logs", "logs:DeleteLogGroup", a.flow_log_group.replace(PREFIX, "tfsam-prod")),
        Case("flow logs in another region", "ec2:DeleteFlowLogs", "*", {"aws:RequestedRegion": "us-east-1"}),
        Case("untagged KMS key", "kms:CreateKey", "*"),
        Case("KMS key with another env's tags", "kms:CreateKey", "*", PROD_KEY_TAGS),
        Case("KMS key of another project", "kms:CreateKey", "*", {**KEY_TAGS, "aws:RequestTag/project": "other"}),
        Case("KMS key with a tag key of its own", "kms:CreateKey", "*", {**KEY_TAGS, "aws:TagKeys": [*TAG_KEYS, "x"]}),
        Case("tag a key as another env's", "kms:TagResource", NEW_KEY, PROD_KEY_TAGS),
        Case("tag a key of another region", "kms:TagResource", NEW_KEY.replace(REGION, "us-east-1"), KEY_TAGS),
        Case(
            "another env's key",
            "kms:ScheduleKeyDeletion",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1",
            {"aws:ResourceTag/environment": "prod", "aws:ResourceTag/project": "tfsam"},
        ),
        # Nothing is granted on the strength of a key's tags any more (the key policy names the deployer): a key
        # someone tagged as this environment's stays out of reach.
        *[
            Case(f"{action} on a key tagged as this env's", action, NEW_KEY, OWN_KEY_TAGS)
            for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DescribeKey", "kms:UntagResource")
        ],
        Case("another bucket's versions", "s3:ListBucketVersions", PROD_BUCKET),
        Case("another bucket's objects", "s3:DeleteObjectVersion", f"{PROD_BUCKET}/abc.zip"),
        Case("the state of other environments", "s3:DeleteObjectVersion", f"arn:aws:s3:::{STATE_BUCKET}/tfsam/prod/x"),
        Case(
            "kms decrypt",
            "kms:Decrypt",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1",
            {"aws:ResourceTag/environment": "local", "aws:ResourceTag/project": "tfsam"},
        ),
        Case("function code", "lambda:UpdateFunctionCode", a.function(f"{PREFIX}-api")),
        Case(
            "the app stack",
            "cloudformation:DeleteStack",
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{PREFIX}-app/x",
        ),
    ]
    return allow, deny


def flow_logs_rows(a: Arns) -> tuple[list[Case], list[Case]]:
    """The VPC flow logs service role: write its own group's streams, nothing else."""
    own_streams = a.log_stream(a.outputs["vpc_flow_log_group_name"])
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group"
    allow = [
        Case("create a stream in its group", "logs:CreateLogStream", own_streams),
        Case("write flow records", "logs:PutLogEvents", own_streams),
        Case("find its streams", "logs:DescribeLogStreams", a.flow_log_group),
        Case("find its group", "logs:DescribeLogGroups", f"{logs}:*"),
    ]
    deny = [
        Case("write a function's logs", "logs:PutLogEvents", a.log_stream(f"/aws/lambda/{PREFIX}-api")),
        Case("write API access logs", "logs:PutLogEvents", a.log_stream(f"/aws/apigateway/{PREFIX}-api-access")),
        Case("another env's flow logs", "logs:PutLogEvents", a.log_stream("/aws/vpc/tfsam-prod-flow-logs")),
        Case("read its records", "logs:GetLogEvents", own_streams),
        Case("query logs", "logs:StartQuery", f"{logs}:*"),
        Case("create other groups", "logs:CreateLogGroup", f"{logs}:/aws/vpc/other"),
        Case("delete its group", "logs:DeleteLogGroup", a.flow_log_group),
        Case("shorten retention", "logs:PutRetentionPolicy", a.flow_log_group),
        Case("drop the group's key", "logs:DisassociateKmsKey", a.flow_log_group),
        Case("subscribe the group elsewhere", "logs:PutSubscriptionFilter", a.flow_log_group),
        Case("delete its streams", "logs:DeleteLogStream", own_streams),
        Case("change the flow log", "ec2:DeleteFlowLogs", "*", {"aws:RequestedRegion": REGION}),
        Case("describe the VPC", "ec2:DescribeVpcs", "*"),
        Case("table data", "dynamodb:GetItem", a.table),
        Case("stream records", "dynamodb:GetRecords", a.stream),
        Case("queue messages", "sqs:SendMessage", a.dlq),
        Case("artifact objects", "s3:GetObject", f"{a.bucket}/abc.zip"),
        Case("decrypt with the key", "kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1"),
        Case("pass a role", "iam:PassRole", a.role("api")),
        Case("create roles", "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-x"),
        Case("x-ray", "xray:PutTraceSegments", "*"),
    ]
    return allow, deny


def planner_data_reads(a: Arns) -> list[Case]:
    """Data (not configuration) ReadOnlyAccess would hand out: the planner's inline policy must deny each explicitly."""
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-api"
    layer = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{PREFIX}-common:1"
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{PREFIX}-db-AbCdEf"
    return [
        Case("get an item", "dynamodb:GetItem", a.table, keys("USER#1")),
        Case("batch get items", "dynamodb:BatchGetItem", a.table, keys("ITEM#1")),
        Case("query a partition", "dynamodb:Query", a.table, keys("USER#1")),
        Case("query an index", "dynamodb:Query", a.index("GSI1")),
        Case("scan the table", "dynamodb:Scan", a.table),
        Case("PartiQL select", "dynamodb:PartiQLSelect", a.table),
        Case("replication read", "dynamodb:ReadDataForReplication", a.table),
        Case("vector search", "dynamodb:SearchVectors", a.table),
        Case("stream records", "dynamodb:GetRecords", a.stream),
        Case("stream shard iterator", "dynamodb:GetShardIterator", a.stream),
        Case("items through DAX", "dax:GetItem", f"arn:aws:dax:{REGION}:{ACCOUNT}:cache/{PREFIX}-cache"),
        Case("DLQ messages", "sqs:ReceiveMessage", a.dlq),
        Case("a function's log events", "logs:GetLogEvents", a.log_stream(f"/aws/lambda/{PREFIX}-api")),
        Case("API access log events", "logs:GetLogEvents", a.log_stream(f"/aws/apigateway/{PREFIX}-api-access")),
        Case("flow log events", "logs:FilterLogEvents", a.flow_log_group),
        Case("filter a function's events", "logs:FilterLogEvents", group),
        Case("one log record", "logs:GetLogRecord", group),
        Case("a large logged object", "logs:GetLogObject", group),
        Case("Logs Insights query", "logs:StartQuery", group),
        Case("Logs Insights results", "logs:GetQueryResults", group),
        Case("live tail", "logs:StartLiveTail", group),
        Case("anomalies with sample events", "logs:ListAnomalies", "*"),
        Case("artifact object", "s3:GetObject", f"{a.bucket}/abc.zip"),
        Case("artifact object version", "s3:GetObjectVersion", f"{a.bucket}/app/template.yaml"),
        Case("function code", "lambda:GetFunction", a.function(f"{PREFIX}-api")),
        Case("layer content", "lambda:GetLayerVersion", layer),
        Case("parameter value", "ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{PREFIX}/db"),
        Case("parameters by path", "ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/"),
        Case("parameter history", "ssm:GetParameterHistory", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/x"),
        Case("another env's contract", "ssm:GetParameter", a.other_contract("prod")),
        Case("secret value", "secretsmanager:GetSecretValue", secret),
        Case("secret values in a batch", "secretsmanager:BatchGetSecretValue", "*"),
    ]


def planner_rows(a: Arns) -> tuple[list[Case], list[Case]]:
    """The planner's inline policy (rendered with a state bucket): no write at all, not even the state lock (its plans
    run with -lock=false), and no data reads."""
    lock = f"{STATE_OBJECT}.tflock"
    other_env_state = STATE_OBJECT.replace("/local/", "/prod/")
    allow: list[Case] = []
    deny = [
        *planner_data_reads(a),
        Case("take its own env's state lock", "s3:PutObject", lock),
        Case("delete its own env's state lock (a deploy's)", "s3:DeleteObject", lock),
        Case("another env's lock", "s3:PutObject", f"{other_env_state}.tflock"),
        Case("break another env's lock", "s3:DeleteObject", f"{other_env_state}.tflock"),
        Case("another env's state", "s3:PutObject", other_env_state),
        Case("overwrite the state", "s3:PutObject", STATE_OBJECT),
        Case("delete the state", "s3:DeleteObject", STATE_OBJECT),
        Case("a workspace's lock", "s3:PutObject", f"arn:aws:s3:::{STATE_BUCKET}/env:/x/tfsam/local/terraform.tfstate"),
        Case("a look-alike lock key", "s3:PutObject", f"{lock}x"),
        Case("the lock key in another bucket", "s3:PutObject", lock.replace(STATE_BUCKET, "tfsam-evil-state")),
        Case("upload artifacts", "s3:PutObject", f"{a.bucket}/abc.zip"),
        Case("rewrite its own policy", "iam:PutRolePolicy", a.role("infra_planner")),
        Case("attach a managed policy to itself", "iam:AttachRolePolicy", a.role("infra_planner")),
        Case("widen its own trust", "iam:UpdateAssumeRolePolicy", a.role("infra_planner")),
        Case("assume the deployer", "sts:AssumeRole", a.role("infra_deployer")),
        Case("write table data", "dynamodb:PutItem", a.table, keys("STATS#Item")),
        Case("purge the DLQ", "sqs:PurgeQueue", a.dlq),
        Case("decrypt with the key", "kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1"),
    ]
    return allow, deny


# Known gaps, each a real finding with its reason; strict, so fixing one turns the test red until removed here.
KNOWN_GAPS: dict[tuple[str, str], str] = {}

Rows = Callable[[Arns], tuple[list[Case], list[Case]]]
ROLES: dict[str, tuple[str, Rows]] = {
    "api": (f"{PREFIX}-api-role", lambda a: table_rows(a, "api")),
    "processor": (f"{PREFIX}-processor-role", lambda a: table_rows(a, "processor")),
    "scheduled": (f"{PREFIX}-scheduled-role", lambda a: table_rows(a, "scheduled")),
    "app-deployer": (f"{PREFIX}-app-deployer", app_deployer_rows),
    "infra-deployer": (f"{PREFIX}-infra-deployer", infra_deployer_rows),
    "vpc-flow-logs": (f"{PREFIX}-vpc-flow-logs", flow_logs_rows),
    "infra-planner": (PLANNER, planner_rows),
}


def _policies(roles: dict[str, RoleDocuments], role_name: str) -> PolicySet:
    role = roles[role_name]
    # The exception, exactly: infra-planner's ReadOnlyAccess (iam.tf says why; its data reads are denied inline
    # and judged below, and test_infra_planner_with_read_only_access evaluates moto's copy of it).
    allowed_managed = [READ_ONLY_ACCESS] if role_name == PLANNER else []
    assert role.managed == allowed_managed, f"{role_name} has managed policies the tables do not cover: {role.managed}"
    return PolicySet(role.inline)


@pytest.fixture(scope="module")
def planner_with_state_bucket(local_cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> RoleDocuments:
    """infra-planner as an environment with terraform_state_bucket renders it (the tier's local.tfvars sets none):
    a plan of the tier's own workspace with that one variable added, read from its planned values."""
    plan = tmp_path_factory.mktemp("planner-plan") / "tfplan"
    args = ["plan", "-input=false", "-lock=false", "-refresh=false", tfw.var_file("local")]
    tfw.run([*args, "-var", f"terraform_state_bucket={STATE_BUCKET}", f"-out={plan}"], local_cloud.terraform_dir)
    show = json.loads(tfw.run(["show", "-json", str(plan)], local_cloud.terraform_dir).stdout)
    return roles_from_show({"values": show["planned_values"]})[PLANNER]


@pytest.fixture(scope="module")
def judged_roles(
    rendered_roles: dict[str, RoleDocuments], planner_with_state_bucket: RoleDocuments
) -> dict[str, RoleDocuments]:
    """The applied roles, with infra-planner as rendered for a real environment (with terraform_state_bucket)."""
    return {**rendered_roles, PLANNER: planner_with_state_bucket}


@pytest.mark.parametrize("role_key", list(ROLES))
def test_role_allows_what_the_code_needs(role_key: str, judged_roles: dict[str, RoleDocuments], arns: Arns) -> None:
    role_name, rows = ROLES[role_key]
    policies = _policies(judged_roles, role_name)
    allow, _ = rows(arns)
    refused = [
        f"{c.label}: {c.action} on {c.resource} {c.context}"
        for c in allow
        if not policies.evaluate(c.request()).allowed
    ]
    assert not refused, f"{role_name} refuses calls the product makes:\n" + "\n".join(refused)


@pytest.mark.parametrize("role_key", list(ROLES))
def test_role_denies_abuse(role_key: str, judged_roles: dict[str, RoleDocuments], arns: Arns) -> None:
    role_name, rows = ROLES[role_key]
    policies = _policies(judged_roles, role_name)
    _, deny = rows(arns)
    assert len(deny) >= 20, f"{role_key}: at least 20 must-deny rows"
    leaks = []
    for case in deny:
        evaluation = policies.evaluate(case.request())
        if evaluation.allowed and (role_key, case.label) not in KNOWN_GAPS:
            leaks.append(f"{case.label}: {case.action} on {case.resource} allowed by {evaluation.allowed_by}")
    assert not leaks, f"{role_name} allows what it must not:\n" + "\n".join(leaks)
    stale = [
        label
        for (key, label) in KNOWN_GAPS
        if key == role_key and not any(c.label == label and policies.evaluate(c.request()).allowed for c in deny)
    ]
    assert not stale, f"known gaps that are fixed now (remove them from KNOWN_GAPS): {stale}"


def test_function_roles_trust_only_lambda_of_this_account(rendered_roles: dict[str, RoleDocuments]) -> None:
    for fn in ("api", "processor", "scheduled"):
        trust = PolicySet({"trust": rendered_roles[f"{PREFIX}-{fn}-role"].trust})

        def may(
            principal: dict[str, str], account: str, action: str = "sts:AssumeRole", trust: PolicySet = trust
        ) -> bool:
            return trust.evaluate(Request(action, "*", {"aws:SourceAccount": account}, principal)).allowed

        assert may({"Service": "lambda.amazonaws.com"}, ACCOUNT)
        assert not may({"Service": "lambda.amazonaws.com"}, OTHER_ACCOUNT)
        assert not may({"Service": "ec2.amazonaws.com"}, ACCOUNT)
        assert not may({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ACCOUNT)
        assert not may({"Service": "lambda.amazonaws.com"}, ACCOUNT, "sts:AssumeRoleWithWebIdentity")


def test_flow_logs_role_trusts_only_this_accounts_flow_logs(rendered_roles: dict[str, RoleDocuments]) -> None:
    trust = PolicySet({"trust": rendered_roles[f"{PREFIX}-vpc-flow-logs"].trust})
    own = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/fl-0123456789abcdef0"

    def may(service: str, account: str = ACCOUNT, source: str = own) -> bool:
        context: dict[str, ContextValue] = {"aws:SourceAccount": account, "aws:SourceArn": source}
        return trust.evaluate(Request("sts:AssumeRole", "*", context, {"Service": service})).allowed

    assert may("vpc-flow-logs.amazonaws.com")
    assert not may("vpc-flow-logs.amazonaws.com", OTHER_ACCOUNT, own.replace(ACCOUNT, OTHER_ACCOUNT))
    assert not may("vpc-flow-logs.amazonaws.com", source=own.replace(REGION, "us-east-1"))  # confused deputy
    assert not may("vpc-flow-logs.amazonaws.com", source=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1")
    assert not may("lambda.amazonaws.com")
    assert not may("delivery.logs.amazonaws.com")


def test_bucket_emptying_grants_exist_exactly_where_force_destroy_is_set() -> None:
    """The tier renders local (force_destroy on, rows above); prod keeps its bucket and must get no delete grant.
    Both follow one local, read from the HCL since a plan of prod cannot render the policy (ARNs unknown)."""
    import hcl2

    def parse(name: str) -> dict[str, Any]:
        with (tooling.TERRAFORM_DIR / name).open() as handle:
            return dict(hcl2.load(handle))

    storage, iam = parse("storage.tf"), parse("iam.tf")
    (switch,) = [block["artifact_force_destroy"] for block in storage["locals"] if "artifact_force_destroy" in block]
    assert switch == '${var.environment != "prod"}'
    (bucket,) = [r['"aws_s3_bucket"']['"artifacts"'] for r in storage["resource"] if '"aws_s3_bucket"' in r]
    assert bucket["force_destroy"] == "${local.artifact_force_destroy}"
    (services,) = [
        d['"aws_iam_policy_document"']['"infra_deployer_services"']
        for d in iam["data"]
        if '"infra_deployer_services"' in d.get('"aws_iam_policy_document"', {})
    ]
    grants = {}
    for block in services["dynamic"]:
        content = block['"statement"']["content"]
        content = content[0] if isinstance(content, list) else content
        grants[content["sid"].strip('"')] = (block['"statement"']["for_each"], content["actions"])
    assert grants["EmptyArtifactBucketOnDestroy"][0].startswith("${local.artifact_force_destroy ? ")
    assert grants["DeleteArtifactVersionsOnDestroy"][0].startswith("${local.artifact_force_destroy ? ")
    assert grants["DeleteArtifactVersionsOnDestroy"][1] == ['"s3:DeleteObject"', '"s3:DeleteObjectVersion"']
    # No static statement grants a deletion of objects or versions.
    static = [st for st in services["statement"] if any("Delete" in a and "s3:" in a for a in st.get("actions", []))]
    assert [st["sid"] for st in static] == ['"ArtifactBucket"'], static  # s3:DeleteBucket/DeleteBucketPolicy only
    assert not any("DeleteObject" in a for st in static for a in st["actions"])


def test_api_gateway_logging_role_has_awss_documented_trust(rendered_roles: dict[str, RoleDocuments]) -> None:
    """AWS's setup for this role trusts apigateway.amazonaws.com with no condition (API Gateway guide, "Permissions
    for CloudWatch logging"); a condition on a key API Gateway may not send (aws:SourceAccount) would make
    aws_api_gateway_account fail on the first apply."""
    trust = rendered_roles[f"{PREFIX}-apigw-cloudwatch"].trust
    statements = [trust["Statement"]] if isinstance(trust["Statement"], dict) else trust["Statement"]
    assert [{k: v for k, v in st.items() if k != "Sid"} for st in statements] == [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "apigateway.amazonaws.com"}}
    ]
    policies = PolicySet({"trust": trust})
    gateway = {"Service": "apigateway.amazonaws.com"}
    # API Gateway assuming the role with no request context at all is enough.
    assert policies.evaluate(Request("sts:AssumeRole", "*", {}, gateway)).allowed
    assert not policies.evaluate(Request("sts:AssumeRole", "*", {}, {"Service": "lambda.amazonaws.com"})).allowed
    assert not policies.evaluate(Request("sts:AssumeRole", "*", {}, {"AWS": f"arn:aws:iam::{ACCOUNT}:root"})).allowed


def _observability_key_policy(show: dict[str, Any]) -> dict[str, Any]:
    (key,) = [
        r["values"]
        for r in show["values"]["root_module"]["resources"]
        if r["mode"] == "managed" and r["type"] == "aws_kms_key" and r["name"] == "observability"
    ]
    return dict(json.loads(key["policy"]))


# What the provider calls on aws_kms_key/aws_kms_alias create, read, update and destroy.
KEY_ADMIN_CALLS = (
    "kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
    "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:TagResource", "kms:UntagResource", "kms:CreateAlias",
    "kms:DeleteAlias", "kms:ScheduleKeyDeletion",
)  # fmt: skip


def test_infra_deployer_administers_the_new_key_without_waiting_for_its_tags(
    terraform_show: dict[str, Any], arns: Arns
) -> None:
    """Tag-based authorisation can lag a new key's tags by up to five minutes (KMS guide, "ABAC for AWS KMS"), so
    the provider's calls right after CreateKey are granted by the key policy, which is in force from CreateKey on:
    evaluated here with no tag in the request context."""
    key_policy = PolicySet({"key policy": _observability_key_policy(terraform_show)})
    deployer = {"AWS": arns.role("infra_deployer")}
    refused = [
        action for action in KEY_ADMIN_CALLS if not key_policy.evaluate(Request(action, "*", {}, deployer)).allowed
    ]
    assert not refused, f"the key policy does not let infra-deployer administer its key: {refused}"
    # Administration only: no cryptographic use, no grants, and no other principal of the account by name.
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:ReEncryptFrom"):
        assert not key_policy.evaluate(Request(action, "*", {}, deployer)).allowed, action
    planner = {"AWS": arns.role("infra_planner")}
    assert not key_policy.evaluate(Request("kms:ScheduleKeyDeletion", "*", {}, planner)).allowed


@pytest.mark.parametrize(("role", "github_env"), [("app-deployer", "local"), ("infra-deployer", "local")])
def test_ci_roles_trust_only_this_repo_environment(
    rendered_roles: dict[str, RoleDocuments], role: str, github_env: str
) -> None:
    trust = PolicySet({"trust": rendered_roles[f"{PREFIX}-{role}"].trust})
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"

    def may(sub: str, aud: str = "sts.amazonaws.com", principal: str = provider) -> bool:
        context = {"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud}
        return trust.evaluate(Request("sts:AssumeRoleWithWebIdentity", "*", context, {"Federated": principal})).allowed

    assert may(f"repo:tfsam-org/tfsam:environment:{github_env}")
    assert not may("repo:tfsam-org/tfsam:environment:prod")
    assert not may("repo:tfsam-org/tfsam:ref:refs/heads/main")
    assert not may("repo:tfsam-org/tfsam:pull_request")
    assert not may(f"repo:attacker/tfsam:environment:{github_env}")
    assert not may(f"repo:tfsam-org/tfsam:environment:{github_env}", aud="https://example.com")
    assert not may(
        f"repo:tfsam-org/tfsam:environment:{github_env}",
        principal=f"arn:aws:iam::{OTHER_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    )


def test_infra_planner_trusts_only_pull_requests_of_this_repo(rendered_roles: dict[str, RoleDocuments]) -> None:
    # ci.yml's plan legs run in no GitHub environment, so GitHub gives their token this subject (test_workflows.py
    # ties the two); the deployers' environment subjects, pushes and other repositories must not work.
    trust = PolicySet({"trust": rendered_roles[PLANNER].trust})
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"

    def may(sub: str, aud: str = "sts.amazonaws.com", principal: str = provider) -> bool:
        context = {"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud}
        return trust.evaluate(Request("sts:AssumeRoleWithWebIdentity", "*", context, {"Federated": principal})).allowed

    assert may("repo:tfsam-org/tfsam:pull_request")
    for subject in (
        "repo:tfsam-org/tfsam:environment:local",
        "repo:tfsam-org/tfsam:environment:prod-infra",
        "repo:tfsam-org/tfsam:ref:refs/heads/main",
        "repo:tfsam-org/tfsam:ref:refs/heads/feature",
        "repo:tfsam-org/tfsam:ref:refs/pull/1/merge",
        "repo:attacker/tfsam:pull_request",
        "repo:tfsam-org/tfsam-fork:pull_request",
        "repo:tfsam-org/tfsam:pull_request:x",
    ):
        assert not may(subject), subject
    assert not may("repo:tfsam-org/tfsam:pull_request", aud="https://github.com/tfsam-org")
    assert not may(
        "repo:tfsam-org/tfsam:pull_request",
        principal=f"arn:aws:iam::{OTHER_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    )
    assert not trust.evaluate(Request("sts:AssumeRole", "*", {}, {"AWS": f"arn:aws:iam::{ACCOUNT}:root"})).allowed


def test_infra_planner_only_managed_policy_is_read_only_access(
    rendered_roles: dict[str, RoleDocuments], planner_with_state_bucket: RoleDocuments
) -> None:
    for role in (rendered_roles[PLANNER], planner_with_state_bucket):
        assert role.managed == [READ_ONLY_ACCESS]
    # The module's only other managed policy is the API Gateway logging role's (iam.tf says why).
    others = {name: role.managed for name, role in rendered_roles.items() if role.managed and name != PLANNER}
    assert others == {
        f"{PREFIX}-apigw-cloudwatch": ["arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]
    }, others


@pytest.mark.parametrize("with_state_bucket", [False, True], ids=["applied", "with-state-bucket"])
def test_infra_planner_denies_data_reads_explicitly(
    with_state_bucket: bool,
    rendered_roles: dict[str, RoleDocuments],
    planner_with_state_bucket: RoleDocuments,
    arns: Arns,
) -> None:
    # ReadOnlyAccess ALLOWS every one of these, so an implicit deny of the inline policy proves nothing: each must
    # hit one of its Deny statements.
    role = planner_with_state_bucket if with_state_bucket else rendered_roles[PLANNER]
    policies = PolicySet(role.inline)
    not_denied = [
        f"{c.label}: {c.action} on {c.resource} -> {evaluation.decision.value}"
        for c in planner_data_reads(arns)
        if (evaluation := policies.evaluate(c.request())).decision is not Decision.EXPLICIT_DENY
    ]
    assert not not_denied, "data reads the planner's inline policy does not deny explicitly:\n" + "\n".join(not_denied)


def test_infra_planner_allows_nothing_inline_not_even_the_state_lock(
    rendered_roles: dict[str, RoleDocuments], planner_with_state_bucket: RoleDocuments
) -> None:
    def allow_statements(role: RoleDocuments) -> list[dict[str, Any]]:
        return [
            st
            for doc in role.inline.values()
            for st in ([doc["Statement"]] if isinstance(doc["Statement"], dict) else doc["Statement"])
            if st["Effect"] == "Allow"
        ]

    # Its plans run with -lock=false (deploy.sh --plan), so with or without terraform_state_bucket the inline policy
    # only denies: a pull request's code can neither hold nor delete a deploy's lock "<state key>.tflock".
    assert allow_statements(rendered_roles[PLANNER]) == []
    assert allow_statements(planner_with_state_bucket) == []
    assert set(planner_with_state_bucket.inline) == {"no-data-reads"}
    # The key is the one every committed backend uses: <project>/<env>/terraform.tfstate, and use_lockfile locks it
    # with "<key>.tflock" (the object the deny rows of planner_rows and test_infra_planner_with_read_only_access name).
    for backend in sorted((tooling.TERRAFORM_DIR / "backends").glob("*.s3.tfbackend")):
        env = backend.name.removesuffix(".s3.tfbackend")
        key = re.search(r'^key\s*=\s*"([^"]+)"', backend.read_text(), re.M)
        assert key and key.group(1) == f"tfsam/{env}/terraform.tfstate", backend.name
        assert re.search(r"^use_lockfile\s*=\s*true", backend.read_text(), re.M), backend.name


# ReadOnlyAccess's own entries (moto's copy) for the services whose data the planner denies. AWS adds actions to
# the policy; when moto's copy brings a new entry here, decide whether it reads data (then deny it in iam.tf's
# infra_planner) and update this set.
READ_ONLY_ACCESS_REVIEWED = {
    "dax:BatchGetItem", "dax:Describe*", "dax:GetItem", "dax:ListTags", "dax:Query", "dax:Scan",
    "dynamodb:BatchGet*", "dynamodb:Describe*", "dynamodb:Get*", "dynamodb:List*", "dynamodb:PartiQLSelect",
    "dynamodb:Query", "dynamodb:ReadDataForReplication", "dynamodb:Scan", "dynamodb:SearchVectors",
    "lambda:Get*", "lambda:List*",
    "logs:Describe*", "logs:FilterLogEvents", "logs:Get*", "logs:ListAggregateLogGroupSummaries",
    "logs:ListAnomalies", "logs:ListEntitiesForLogGroup", "logs:ListIntegrations", "logs:ListLogAnomalyDetectors",
    "logs:ListLogDeliveries", "logs:ListLogGroupsForEntity", "logs:ListLogGroupsForQuery",
    "logs:ListScheduledQueries", "logs:ListSourcesForS3TableIntegration", "logs:ListTagsForResource",
    "logs:ListTagsLogGroup", "logs:StartLiveTail", "logs:StartQuery", "logs:StopLiveTail", "logs:StopQuery",
    "logs:TestMetricFilter",
    "s3:DescribeJob", "s3:Get*", "s3:List*",
    "secretsmanager:Describe*", "secretsmanager:GetResourcePolicy", "secretsmanager:List*",
    "sqs:Get*", "sqs:List*", "sqs:Receive*",
    "ssm:Describe*", "ssm:Get*", "ssm:List*",
}  # fmt: skip


def _read_only_access() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return dict(json.loads(aws_managed_policies_data)["ReadOnlyAccess"]["Document"])


def test_infra_planner_with_read_only_access(planner_with_state_bucket: RoleDocuments, arns: Arns) -> None:
    managed = _read_only_access()
    granted = {
        action
        for st in managed["Statement"]
        for action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        if action.split(":")[0] in {a.split(":")[0] for a in READ_ONLY_ACCESS_REVIEWED}
    }
    assert granted == READ_ONLY_ACCESS_REVIEWED, (
        f"ReadOnlyAccess changed: new {sorted(granted - READ_ONLY_ACCESS_REVIEWED)}, "
        f"gone {sorted(READ_ONLY_ACCESS_REVIEWED - granted)}"
    )
    alone = PolicySet({"ReadOnlyAccess": managed})
    both = PolicySet({"ReadOnlyAccess": managed, **planner_with_state_bucket.inline})
    # Each deny takes back something ReadOnlyAccess really grants (secret values: a guard, not granted today) ...
    for case in planner_data_reads(arns):
        assert alone.evaluate(case.request()).allowed is (not case.action.startswith("secretsmanager:")), case
        assert both.evaluate(case.request()).decision is Decision.EXPLICIT_DENY, case
    # ... while what `deploy.sh <env> --plan` does stays allowed: init and state, refresh (no lock: -lock=false).
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-api"
    plan_calls = [
        Case("identity", "sts:GetCallerIdentity", "*"),
        Case("list the state bucket", "s3:ListBucket", f"arn:aws:s3:::{STATE_BUCKET}"),
        Case("read the state", "s3:GetObject", STATE_OBJECT),
        Case("availability zones", "ec2:DescribeAvailabilityZones", "*"),
        Case("VPC", "ec2:DescribeVpcs", "*"),
        Case("table", "dynamodb:DescribeTable", arns.table),
        Case("table PITR", "dynamodb:DescribeContinuousBackups", arns.table),
        Case("table TTL", "dynamodb:DescribeTimeToLive", arns.table),
        Case("table tags", "dynamodb:ListTagsOfResource", arns.table),
        Case("stream resource policy", "dynamodb:GetResourcePolicy", arns.stream),
        Case("queue", "sqs:GetQueueAttributes", arns.dlq),
        Case("queue tags", "sqs:ListQueueTags", arns.dlq),
        Case("artifact bucket policy", "s3:GetBucketPolicy", arns.bucket),
        Case("artifact bucket encryption", "s3:GetEncryptionConfiguration", arns.bucket),
        Case("log group", "logs:DescribeLogGroups", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"),
        Case("log group tags", "logs:ListTagsForResource", group),
        Case("key policy", "kms:GetKeyPolicy", key),
        Case("key rotation", "kms:GetKeyRotationStatus", key),
        Case("role", "iam:GetRole", arns.role("infra_deployer")),
        Case("role policy", "iam:GetRolePolicy", arns.role("infra_deployer")),
        Case("attached policies", "iam:ListAttachedRolePolicies", arns.role("infra_planner")),
        Case("OIDC provider", "iam:GetOpenIDConnectProvider", "*"),
        Case("alarms", "cloudwatch:DescribeAlarms", "*"),
        Case("dashboard", "cloudwatch:GetDashboard", "*"),
        Case("topic", "sns:GetTopicAttributes", "*"),
        Case("API Gateway account", "apigateway:GET", f"arn:aws:apigateway:{REGION}::/account"),
        Case("this env's contract (refresh)", "ssm:GetParameter", arns.contract),
        Case("the contract's metadata", "ssm:DescribeParameters", "*"),
        Case("the contract's tags", "ssm:ListTagsForResource", arns.contract),
    ]
    refused = [f"{c.label}: {c.action} on {c.resource}" for c in plan_calls if not both.evaluate(c.request()).allowed]
    assert not refused, "a plan would fail with AccessDenied:\n" + "\n".join(refused)
    writes = [
        Case("overwrite the state", "s3:PutObject", STATE_OBJECT),
        Case("take the state lock", "s3:PutObject", f"{STATE_OBJECT}.tflock"),
        Case("delete a deploy's state lock", "s3:DeleteObject", f"{STATE_OBJECT}.tflock"),
        Case("rewrite its own policy", "iam:PutRolePolicy", arns.role("infra_planner")),
        Case("attach admin to itself", "iam:AttachRolePolicy", arns.role("infra_planner")),
        Case("assume the deployer", "sts:AssumeRole", arns.role("infra_deployer")),
        Case("write an item", "dynamodb:PutItem", arns.table),
        Case("delete the table", "dynamodb:DeleteTable", arns.table),
        Case("send to the DLQ", "sqs:SendMessage", arns.dlq),
        Case("upload artifacts", "s3:PutObject", f"{arns.bucket}/abc.zip"),
        Case("decrypt", "kms:Decrypt", key),
        Case("invoke a function", "lambda:InvokeFunction", arns.function(f"{PREFIX}-api")),
        Case("create a VPC", "ec2:CreateVpc", "*"),
    ]
    allowed = [f"{c.label}: {c.action}" for c in writes if both.evaluate(c.request()).allowed]
    assert not allowed, "the planner could change something:\n" + "\n".join(allowed)


# --- What CloudFormation calls with the app deployer's credentials ------------------------------------------
# `sam deploy` runs the stack without a service role, so each resource type's handler (create/read/update/delete)
# calls AWS as the app deployer. The handlers' permission lists are AWS's resource schemas as cfn-lint ships them;
# a permission is left out only when the template does not use the property that needs it (checked below).
HANDLERS = ("create", "read", "update", "delete")
UNUSED_UNLESS: dict[str, dict[str, tuple[str, ...]]] = {  # resource type -> property -> the permissions it needs
    "AWS::Lambda::Function": {
        "ReservedConcurrentExecutions": ("lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"),
        "KmsKeyArn": ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
        "FileSystemConfigs": ("elasticfilesystem:DescribeMountTargets", "s3files:ListMountTargets"),
        "CodeSigningConfigArn": (
            "lambda:GetCodeSigningConfig", "lambda:PutFunctionCodeSigningConfig",
            "lambda:DeleteFunctionCodeSigningConfig",
        ),
        "RuntimeManagementConfig": ("lambda:PutRuntimeManagementConfig",),
        "RecursiveLoop": ("lambda:PutFunctionRecursionConfig",),
        "FunctionScalingConfig": ("lambda:PutFunctionScalingConfig",),  # Get* is in the read handler: granted
        "CapacityProviderConfig": ("lambda:PassCapacityProvider",),
        "RuntimeAlias": ("lambda:AssociateRuntimeAlias",),
        "AutoPublishAlias": ("lambda:PublishVersion",),
    },
    "AWS::Lambda::EventSourceMapping": {"KmsKeyArn": ("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt")},
    "AWS::ApiGateway::RestApi": {
        "Policy": ("apigateway:UpdateRestApiPolicy",),
        "BodyS3Location": ("s3:GetObject",),
    },
    "AWS::Events::Rule": {"RoleArn": ("iam:PassRole",)},  # a rule passes a role only for targets that name one
}  # fmt: skip


def _handler_permissions(resource_type: str) -> set[str]:
    from importlib import resources

    schemas = resources.files("cfnlint") / "data" / "schemas"
    schema_id = json.loads((schemas / "providers" / f"{REGION}.json").read_text())[resource_type]
    schema = json.loads((schemas / "resources" / f"{schema_id}.json").read_text())
    return {p for h in HANDLERS for p in schema["handlers"].get(h, {}).get("permissions", [])}


def _handler_request(a: Arns, resource_type: str, action: str) -> Request:  # noqa: PLR0911 - one return per kind
    """The request one handler permission makes for this stack's resource of that type."""
    api, processor = a.function(f"{PREFIX}-api"), a.function(f"{PREFIX}-processor")
    layer = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{PREFIX}-common"
    esm = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
    if action.startswith("ec2:Describe"):
        return Request(action, "*")
    if action.startswith("s3:"):
        return Request(action, f"{a.bucket}/abc.zip")
    if action == "iam:PassRole":
        return Request(action, a.role("api"), {"iam:PassedToService": "lambda.amazonaws.com"})
    if action.startswith("apigateway:"):
        return Request(action, f"arn:aws:apigateway:{REGION}::/restapis/a1b2c3d4e5/stages/dev")
    if action.startswith("events:"):
        return Request(action, f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-daily")
    if resource_type == "AWS::Lambda::EventSourceMapping":
        if action == "lambda:CreateEventSourceMapping":
            return Request(action, "*", {"lambda:FunctionArn": processor})
        if action in ("lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"):
            return Request(action, esm, {"lambda:FunctionArn": processor})
        return Request(action, esm)
    if resource_type == "AWS::Lambda::LayerVersion" or action == "lambda:GetLayerVersion":
        return Request(action, layer if action == "lambda:PublishLayerVersion" else f"{layer}:1")
    if action in ("lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"):
        return Request(action, api, {"lambda:VpcIds": a.vpc_id})
    return Request(action, api)


@pytest.mark.parametrize(
    "resource_type",
    [
        "AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Permission", "AWS::Events::Rule", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
    ],
)  # fmt: skip
def test_app_deployer_holds_what_cloudformation_calls(
    resource_type: str, sam_transformed: dict[str, Any], rendered_roles: dict[str, RoleDocuments], arns: Arns
) -> None:
    resources = [r for r in sam_transformed["Resources"].values() if r["Type"] == resource_type]
    assert resources, f"the template has no {resource_type}: drop it from this test"
    unused: set[str] = set()
    for prop, needs in UNUSED_UNLESS.get(resource_type, {}).items():
        if not any(prop in r["Properties"] for r in resources):
            unused |= set(needs)
    if resource_type == "AWS::Events::Rule":  # RoleArn lives on the targets
        assert not any("RoleArn" in t for r in resources for t in r["Properties"].get("Targets", []))
    if resource_type == "AWS::ApiGateway::RestApi":  # a role is passed only for integrations with credentials
        assert "credentials" not in json.dumps([r["Properties"].get("Body") for r in resources])
        unused.add("iam:PassRole")
    policies = _policies(rendered_roles, f"{PREFIX}-app-deployer")
    refused = sorted(
        f"{action} on {request.resource} {request.context}"
        for action in _handler_permissions(resource_type) - unused
        if not policies.evaluate(request := _handler_request(arns, resource_type, action)).allowed
    )
    assert not refused, f"CloudFormation's {resource_type} handlers would be refused:\n" + "\n".join(refused)
