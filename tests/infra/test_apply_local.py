"""Apply environments/local.tfvars against the emulator, read the real resources back, check the rendered IAM
policies, plan again (no changes), destroy (nothing left).

One apply per worker (session-scoped fixture); the destroy test is last in the file, and xdist hands each
worker its tests in collection order, so it is also the last apply test on whichever worker runs it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import tooling
import yaml
from policy_model import Policy, merge
from tfhelpers import Workspace, emulator_workspace, load_tfvars, state_resources

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("infra-apply")]

ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
CONTRACT_KEYS = {
    "Environment", "NamePrefix", "ApiFunctionName", "ProcessorFunctionName", "ScheduledFunctionName",
    "ApiFunctionRoleArn", "ProcessorFunctionRoleArn", "ScheduledFunctionRoleArn", "SubnetIds", "SecurityGroupId",
    "TableName", "TableStreamArn", "DeadLetterQueueArn", "ApiAccessLogGroupArn", "LogLevel", "LambdaArchitecture",
}  # fmt: skip
TIMINGS: dict[str, float] = {}


@dataclass
class Applied:
    ws: Workspace
    outputs: dict[str, Any]
    state: dict[str, Any]
    tfvars: dict[str, Any]

    def resources(self, rtype: str) -> list[dict[str, Any]]:
        return [r for r in state_resources(self.state) if r["type"] == rtype and r["mode"] == "managed"]

    def role_policies(self, role: str) -> Policy:
        docs = [r["values"]["policy"] for r in self.resources("aws_iam_role_policy") if r["values"]["role"] == role]
        assert docs, f"no inline policies on {role}"
        return merge(*(Policy.parse(d) for d in docs))


@pytest.fixture(scope="session")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    # Session scope (not module): under plain ``-n`` load balancing a worker may interleave tests of other
    # modules, and a module-scoped fixture would then be torn down and re-applied each time.
    with emulator_workspace(tmp_path_factory, "apply") as workspace:
        yield from _apply(workspace)


def _apply(workspace: Workspace) -> Iterator[Applied]:
    tfvars = load_tfvars("local")
    started = time.monotonic()
    workspace.run("apply", "-auto-approve", "-input=false", "-var-file=environments/local.tfvars")
    TIMINGS["apply"] = time.monotonic() - started
    outputs = {k: v["value"] for k, v in json.loads(workspace.run("output", "-json").stdout).items()}
    state = json.loads(workspace.run("show", "-json").stdout)
    yield Applied(ws=workspace, outputs=outputs, state=state, tfvars=tfvars)
    # Safety net if the destroy test did not run (failure or -k selection): never leave state behind.
    workspace.run("destroy", "-auto-approve", "-input=false", "-var-file=environments/local.tfvars", check=False)
    print(f"\ninfra timings (s): {', '.join(f'{k}={v:.1f}' for k, v in TIMINGS.items())}")


# --- the contract --------------------------------------------------------------------------------------------


def _template_parameters() -> set[str] | None:
    template = tooling.SAM_DIR / "template.yaml"
    if not template.exists():
        return None

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation short-form tags (!Ref, !Sub...) only need to parse, not evaluate.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return set(yaml.load(template.read_text(), Loader=Loader)["Parameters"])


def test_sam_parameters_are_the_contract(applied: Applied) -> None:
    params = applied.outputs["sam_parameters"]
    assert set(params) == CONTRACT_KEYS
    assert all(isinstance(v, str) and v for v in params.values())
    template_params = _template_parameters()
    if template_params is not None:
        assert set(params) == template_params, "sam/template.yaml Parameters drifted from sam_parameters"
    prefix = "tfsam-local"
    assert params["NamePrefix"] == prefix
    assert params["TableName"] == f"{prefix}-data"
    assert params["SubnetIds"].split(",") == applied.outputs["private_subnet_ids"]
    assert params["TableStreamArn"] == applied.outputs["table_stream_arn"]
    assert applied.outputs["sam_artifacts_bucket"] == f"{prefix}-sam-artifacts-{ACCOUNT}"


def test_the_contract_is_published_in_ssm(applied: Applied) -> None:
    """One String parameter, read back through the emulator's SSM exactly as deploy.sh --sam-only reads it."""
    from deploylib import contract as app_contract

    name = applied.outputs["contract_parameter_name"]
    assert name == "/tfsam/local/contract"
    ssm = applied.ws.client("ssm")
    parameter = ssm.get_parameter(Name=name)["Parameter"]
    assert parameter["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/tfsam/local/contract"  # the IAM grants'
    assert parameter["Type"] == "String"
    location = app_contract.Location("local", "tfsam", REGION, "test")
    contract = app_contract.parse(location, parameter["Value"])  # also checks Terraform's hash against ours
    assert contract.version == app_contract.CONTRACT_VERSION
    assert contract.parameters == applied.outputs["sam_parameters"]
    assert (contract.region, contract.stack_name) == (REGION, applied.outputs["app_stack_name"])
    assert contract.artifact_bucket == applied.outputs["sam_artifacts_bucket"]
    (meta,) = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert meta["Tier"] == "Intelligent-Tiering"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert {t["Key"]: t["Value"] for t in tags}["owner-layer"] == "infra"


# --- real resources read back through the emulator's APIs ---------------------------------------------------


def test_table_keys_indexes_stream_ttl_pitr(applied: Applied) -> None:
    ddb = applied.ws.client("dynamodb")
    name = applied.outputs["table_name"]
    table = ddb.describe_table(TableName=name)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("PK", "HASH"), ("SK", "RANGE")}
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {"EntityTypeIndex": ["EntityType", "CreatedAt"], "GSI1": ["GSI1PK", "GSI1SK"]}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types["CreatedAt"] == "N" and types["PK"] == "S"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["LatestStreamArn"] == applied.outputs["table_stream_arn"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # The AWS owned key (no KMS SSEDescription): cross-account stream consumers cannot read an aws/dynamodb table.
    assert table.get("SSEDescription", {}).get("SSEType") != "KMS"
    assert table["DeletionProtectionEnabled"] is applied.tfvars["enable_deletion_protection"]
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ExpiresAt"}
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    expected = "ENABLED" if applied.tfvars["enable_point_in_time_recovery"] else "DISABLED"
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == expected


def test_stream_resource_policy_grants_exactly_the_consumers(applied: Applied) -> None:
    stream = applied.outputs["table_stream_arn"]
    doc = json.loads(applied.ws.client("dynamodb").get_resource_policy(ResourceArn=stream)["Policy"])
    (statement,) = doc["Statement"]
    principals = statement["Principal"]["AWS"]
    assert sorted([principals] if isinstance(principals, str) else principals) == sorted(
        applied.tfvars["stream_consumer_principals"]
    )
    assert sorted(statement["Action"]) == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    ]
    assert statement["Resource"] == stream


def test_private_route_tables_carry_both_gateway_endpoints_and_no_nat(applied: Applied) -> None:
    ec2 = applied.ws.client("ec2")
    subnets = applied.outputs["private_subnet_ids"]
    assert len(subnets) == applied.tfvars["az_count"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": subnets}])["RouteTables"]
    private_ids = {t["RouteTableId"] for t in tables}
    assert len(private_ids) == len(subnets)  # one route table per AZ
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [applied.outputs["vpc_id"]]}])
    by_service = {e["ServiceName"].rsplit(".", 1)[1]: e for e in endpoints["VpcEndpoints"]}
    assert set(by_service) == {"dynamodb", "s3"}
    for endpoint in by_service.values():
        assert endpoint["VpcEndpointType"] == "Gateway"
        assert set(endpoint["RouteTableIds"]) == private_ids
    for table in tables:
        assert not [r for r in table["Routes"] if r.get("NatGatewayId")], "local has no NAT"
        assert not [r for r in table["Routes"] if str(r.get("GatewayId", "")).startswith("igw-")]


def test_lambda_security_group_is_egress_only_https(applied: Applied) -> None:
    ec2 = applied.ws.client("ec2")
    (group,) = ec2.describe_security_groups(GroupIds=[applied.outputs["lambda_security_group_id"]])["SecurityGroups"]
    assert group["IpPermissions"] == []
    assert [(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")) for p in group["IpPermissionsEgress"]] == [
        ("tcp", 443, 443)
    ]


def test_artifact_bucket_is_versioned_encrypted_private_tls_only(applied: Applied) -> None:
    s3 = applied.ws.client("s3")
    bucket = applied.outputs["sam_artifacts_bucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(statement["Resource"]) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}


def test_dlq_is_encrypted_and_keeps_failures_14_days(applied: Applied) -> None:
    sqs = applied.ws.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=applied.outputs["dead_letter_queue_url"], AttributeNames=["All"])
    assert attrs["Attributes"]["SqsManagedSseEnabled"] == "true"
    assert attrs["Attributes"]["MessageRetentionPeriod"] == "1209600"
    assert attrs["Attributes"]["QueueArn"] == applied.outputs["dead_letter_queue_arn"]


def test_log_groups_alarms_and_dashboard(applied: Applied) -> None:
    logs = applied.ws.client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]}
    expected = {f"/aws/lambda/tfsam-local-{f}" for f in ("api", "processor", "scheduled")}
    expected.add("/aws/apigateway/tfsam-local-api-access")
    expected.add(applied.outputs["vpc_flow_log_group_name"])
    assert set(groups) == expected
    for group in groups.values():
        assert group["retentionInDays"] == applied.tfvars["log_retention_days"]
        assert group.get("kmsKeyId", "").startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    alarms = applied.ws.client("cloudwatch").describe_alarms(AlarmNamePrefix="tfsam-local-")["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in alarms}
    for function in ("api", "processor", "scheduled"):
        for kind in ("errors", "throttles", "duration"):
            assert f"tfsam-local-{function}-{kind}" in by_name
    # 80% of the functions' Timeouts in sam/template.yaml (test_app_template checks function_timeouts = them).
    assert by_name["tfsam-local-api-duration"]["Threshold"] == 29 * 1000 * 0.8
    assert by_name["tfsam-local-scheduled-duration"]["Threshold"] == 300 * 1000 * 0.8
    dlq = by_name["tfsam-local-processor-dlq-depth"]
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 0.0, "GreaterThanThreshold",
    )  # fmt: skip
    assert by_name["tfsam-local-processor-iterator-age"]["MetricName"] == "IteratorAge"
    assert by_name["tfsam-local-api-5xx"]["MetricName"] == "5XXError"
    assert {a["AlarmActions"][0] for a in alarms} == {applied.outputs["alarm_topic_arn"]}
    metric_alarms = {a["AlarmName"] for a in alarms}
    assert "tfsam-local-table-throttles" in metric_alarms
    dashboards = applied.ws.client("cloudwatch").list_dashboards(DashboardNamePrefix="tfsam-local")
    assert [d["DashboardName"] for d in dashboards["DashboardEntries"]] == ["tfsam-local-overview"]


def test_vpc_flow_logs_record_all_traffic_to_their_encrypted_group(applied: Applied) -> None:
    (flow_log,) = applied.ws.client("ec2").describe_flow_logs()["FlowLogs"]
    group = applied.outputs["vpc_flow_log_group_name"]
    assert (flow_log["ResourceId"], flow_log["TrafficType"]) == (applied.outputs["vpc_id"], "ALL")
    assert flow_log["LogDestination"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    assert flow_log["DeliverLogsPermissionArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAMES['flow_logs']}"
    assert flow_log["DeliverLogsStatus"] == "SUCCESS"  # the group exists when the flow log is created
    role = applied.ws.client("iam").get_role(RoleName=ROLE_NAMES["flow_logs"])["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}


def test_default_tags_on_resources(applied: Applied) -> None:
    expected = {"project": "tfsam", "environment": "local", "managed-by": "terraform", "owner-layer": "infra"}
    taggable = [r for r in state_resources(applied.state) if r["mode"] == "managed" and "tags_all" in r["values"]]
    assert len(taggable) > 15
    for resource in taggable:
        assert expected.items() <= (resource["values"]["tags_all"] or {}).items(), resource["address"]
    role = applied.ws.client("iam").get_role(RoleName="tfsam-local-api-role")["Role"]
    assert expected.items() <= {t["Key"]: t["Value"] for t in role.get("Tags", [])}.items()


# --- IAM: rendered policies (state) and their read-back (IAM API) --------------------------------------------

ROLE_NAMES = {
    "api": "tfsam-local-api-role",
    "processor": "tfsam-local-processor-role",
    "scheduled": "tfsam-local-scheduled-role",
    "app": "tfsam-local-app-deployer",
    "infra": "tfsam-local-infra-deployer",
    "planner": "tfsam-local-infra-planner",
    "flow_logs": "tfsam-local-vpc-flow-logs",
}
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
# The only Allow statements that may use Resource "*": (role, Sid) -> actions that have no resource-level control.
# (A Deny with "*" takes away everywhere and grants nothing: the planner's data-read denies.)
STAR_RESOURCE_ALLOW_LIST = {
    ("function", "XRayNoResourceLevel"): {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    ("function", "VpcDescribeNoResourceLevel"): {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"},
    ("processor", "ListStreamsNoResourceLevel"): {"dynamodb:ListStreams"},
    ("app", "TemplateValidationNoResourceLevel"): {"cloudformation:ValidateTemplate"},
    ("app", "EventSourceMappingsOfStackFunctions"): {
        "lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping", "lambda:UpdateEventSourceMapping",
    },
    ("app", "VpcLookupsForLambdaNoResourceLevel"): {
        "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
    },
    ("infra", "VpcResourcesInRegionIdsAreGenerated"): None,  # ec2 only, region-conditioned (asserted below)
    ("infra", "CreateTaggedKeyNoResourceLevel"): {"kms:CreateKey"},
    ("infra", "KmsAliasesListNoResourceLevel"): {"kms:ListAliases"},
    ("infra", "DescribeParametersNoResourceLevel"): {"ssm:DescribeParameters"},
}  # fmt: skip
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/tfsam-local-data"


def _role_kind(role: str) -> str:
    return next(k for k, v in ROLE_NAMES.items() if v == role)


def test_inline_policies_read_back_from_iam_equal_the_rendered_ones(applied: Applied) -> None:
    iam = applied.ws.client("iam")
    rendered = applied.resources("aws_iam_role_policy")
    assert {r["values"]["role"] for r in rendered} == set(ROLE_NAMES.values())
    for resource in rendered:
        role, name = resource["values"]["role"], resource["values"]["name"]
        live = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        assert live == json.loads(resource["values"]["policy"]), f"{role}/{name}"
    for kind in ("api", "processor", "scheduled", "app", "infra", "flow_logs"):
        assert iam.list_attached_role_policies(RoleName=ROLE_NAMES[kind])["AttachedPolicies"] == [], kind
    # The planner's read access is AWS's ReadOnlyAccess (iam.tf says why), its inline policy only takes away.
    attached = iam.list_attached_role_policies(RoleName=ROLE_NAMES["planner"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [READ_ONLY_ACCESS]


def test_no_wildcard_action_and_star_resource_only_on_the_allow_list(applied: Applied) -> None:
    for resource in applied.resources("aws_iam_role_policy"):
        role = resource["values"]["role"]
        kind = _role_kind(role)
        for statement in Policy.parse(resource["values"]["policy"]).statements:
            assert "NotAction" not in statement.raw
            if "NotResource" in statement.raw:
                # Only in a Deny, where it narrows what is taken away: the planner's value deny exempts exactly
                # its environment's contract (a plan refreshes it). A NotResource Allow would grant the world.
                contract = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/tfsam/local/contract"
                assert (kind, statement.sid, statement.effect) == ("planner", "NoSecretOrParameterValues", "Deny")
                assert statement.raw["NotResource"] == contract
            assert "*" not in statement.actions and not any(a.endswith(":*") for a in statement.actions), (
                role, statement.sid,
            )  # fmt: skip
            if "*" not in statement.resources or statement.effect == "Deny":
                continue
            key = ("function", statement.sid) if kind in {"api", "processor", "scheduled"} else (kind, statement.sid)
            if key not in STAR_RESOURCE_ALLOW_LIST:
                key = (kind, statement.sid)
            assert key in STAR_RESOURCE_ALLOW_LIST, f"{role}: Resource * in undocumented statement {statement.sid}"
            allowed = STAR_RESOURCE_ALLOW_LIST[key]
            if allowed is None:  # the infra-deployer's EC2 statement
                assert all(a.startswith("ec2:") for a in statement.actions)
                assert statement.condition == {"StringEquals": {"aws:RequestedRegion": REGION}}
            else:
                assert set(statement.actions) <= allowed, (role, statement.sid)


def test_function_trust_is_lambda_of_this_account_only(applied: Applied) -> None:
    iam = applied.ws.client("iam")
    for kind in ("api", "processor", "scheduled"):
        trust = iam.get_role(RoleName=ROLE_NAMES[kind])["Role"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_each_function_reaches_only_its_own_log_group(applied: Applied) -> None:
    for kind in ("api", "processor", "scheduled"):
        policy = applied.role_policies(ROLE_NAMES[kind])
        for other in ("api", "processor", "scheduled"):
            group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/tfsam-local-{other}:log-stream:x"
            assert policy.may_allow("logs:PutLogEvents", group) is (other == kind), (kind, other)
        assert not policy.may_allow("logs:CreateLogGroup", "*")


def _leading_keys(statements: list[Any]) -> set[str]:
    keys: set[str] = set()
    for statement in statements:
        for test in statement.condition.values():
            values = test.get("dynamodb:LeadingKeys", [])
            keys.update([values] if isinstance(values, str) else values)
    return keys


def test_api_role_crud_on_entity_partitions_only(applied: Applied) -> None:
    policy = applied.role_policies(ROLE_NAMES["api"])
    assert policy.may_allow("dynamodb:Query", f"{TABLE_ARN}/index/GSI1")
    assert policy.may_allow("dynamodb:Query", f"{TABLE_ARN}/index/EntityTypeIndex")
    assert policy.may_allow("dynamodb:GetItem", TABLE_ARN)
    writes = policy.allowing("dynamodb:PutItem", TABLE_ARN)
    assert writes and _leading_keys(writes) == {"ITEM#*", "USER#*"}
    for denied in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:GetRecords", "sqs:SendMessage"):
        assert not policy.may_allow(denied, TABLE_ARN), denied
    assert not policy.may_allow("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other")


def test_processor_role_stream_aggregates_and_dlq(applied: Applied) -> None:
    policy = applied.role_policies(ROLE_NAMES["processor"])
    stream = applied.outputs["table_stream_arn"]
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert policy.may_allow(action, stream)
        assert not policy.may_allow(action, f"{TABLE_ARN}/stream/2000-01-01T00:00:00.000")
    writes = policy.allowing("dynamodb:UpdateItem", TABLE_ARN)
    assert writes and _leading_keys(writes) == {"STATS#*", "LEDGER#*"}
    assert not policy.may_allow("dynamodb:DeleteItem", TABLE_ARN)
    assert not policy.may_allow("dynamodb:Query", TABLE_ARN)
    assert policy.may_allow("sqs:SendMessage", applied.outputs["dead_letter_queue_arn"])
    assert not policy.may_allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:other")


def test_scheduled_role_maintenance_only(applied: Applied) -> None:
    policy = applied.role_policies(ROLE_NAMES["scheduled"])
    assert policy.may_allow("dynamodb:Scan", TABLE_ARN)
    assert policy.may_allow("dynamodb:Query", f"{TABLE_ARN}/index/EntityTypeIndex")
    assert _leading_keys(policy.allowing("dynamodb:DeleteItem", TABLE_ARN)) == {
        "ITEM#*",
        "USER#*",
        "IDEMPOTENCY#scheduled",
    }
    assert _leading_keys(policy.allowing("dynamodb:UpdateItem", TABLE_ARN)) == {"STATS#*", "IDEMPOTENCY#scheduled"}
    assert not policy.may_allow("sqs:SendMessage", applied.outputs["dead_letter_queue_arn"])
    assert not policy.may_allow("dynamodb:GetRecords", applied.outputs["table_stream_arn"])


def test_eni_permissions_are_scoped_to_own_subnets_group_and_vpc(applied: Applied) -> None:
    policy = applied.role_policies(ROLE_NAMES["api"])
    (create,) = policy.allowing("ec2:CreateNetworkInterface", f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/x")
    subnet_arns = {r for r in create.resources if ":subnet/" in r}
    assert {a.rsplit("/", 1)[1] for a in subnet_arns} == set(applied.outputs["private_subnet_ids"])
    assert not policy.may_allow("ec2:CreateNetworkInterface", f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-other")
    # Lambda's own check of the role (its VPC guide): DeleteNetworkInterface on all of the account's EC2 ids.
    (delete,) = policy.allowing("ec2:DeleteNetworkInterface", f"arn:aws:ec2:{REGION}:{ACCOUNT}:*/*")
    assert list(delete.resources) == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:*/*"] and not delete.condition
    assert not policy.may_allow("ec2:DeleteNetworkInterface", f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/x")
    (assign,) = policy.allowing("ec2:AssignPrivateIpAddresses", f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/x")
    assert assign.condition == {
        "ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{applied.outputs['vpc_id']}"}
    }


def test_app_deployer_cannot_touch_network_iam_or_table(applied: Applied) -> None:
    policy = applied.role_policies(ROLE_NAMES["app"])
    ec2_actions = {a for a in policy.actions() if a.startswith("ec2:")}
    assert ec2_actions and all(a.startswith("ec2:Describe") for a in ec2_actions)
    iam_actions = {a for a in policy.actions() if a.startswith("iam:")}
    assert iam_actions == {"iam:PassRole"}
    assert not {a for a in policy.actions() if a.startswith(("dynamodb:", "kms:", "sqs:", "logs:", "sns:"))}
    (pass_role,) = policy.allowing("iam:PassRole", applied.outputs["api_role_arn"])
    assert set(pass_role.resources) == {applied.outputs[f"{k}_role_arn"] for k in ("api", "processor", "scheduled")}
    assert pass_role.condition == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    assert not policy.may_allow("iam:PassRole", applied.outputs["infra_deployer_role_arn"])
    for action, resource in [
        ("ec2:CreateVpc", "*"), ("ec2:DeleteSubnet", "*"), ("iam:PutRolePolicy", applied.outputs["api_role_arn"]),
        ("dynamodb:PutItem", TABLE_ARN), ("dynamodb:DeleteTable", TABLE_ARN), ("dynamodb:CreateTable", TABLE_ARN),
        ("cloudformation:UpdateStack", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/tfsam-local-other/1"),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:someone-else"),
        ("s3:PutObject", "arn:aws:s3:::another-bucket/x"),
        ("apigateway:PATCH", f"arn:aws:apigateway:{REGION}::/account"),
    ]:  # fmt: skip
        assert not policy.may_allow(action, resource), (action, resource)
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/tfsam-local-app/abc"
    assert policy.may_allow("cloudformation:ExecuteChangeSet", stack)
    assert policy.may_allow(
        "cloudformation:CreateChangeSet", f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31"
    )
    assert policy.may_allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tfsam-local-api")
    assert policy.may_allow("lambda:PublishLayerVersion", f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:tfsam-local-common")
    assert policy.may_allow("events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/tfsam-local-nightly")
    bucket = applied.outputs["sam_artifacts_bucket"]
    assert policy.may_allow("s3:PutObject", f"arn:aws:s3:::{bucket}/x.zip")
    (create_fn,) = policy.allowing(
        "lambda:CreateFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tfsam-local-api"
    )
    assert create_fn.condition == {"StringEquals": {"lambda:VpcIds": applied.outputs["vpc_id"]}}


def test_infra_planner_is_read_only_access_minus_data_for_pull_requests(applied: Applied) -> None:
    iam = applied.ws.client("iam")
    role = iam.get_role(RoleName=ROLE_NAMES["planner"])["Role"]
    assert role["MaxSessionDuration"] == 3600
    assert role["Arn"] == applied.outputs["infra_planner_role_arn"]
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": provider["Arn"]}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:{applied.tfvars['github_repository']}:pull_request",
        }
    }
    # local.tfvars sets no terraform_state_bucket, so no lock statement: the inline policy only denies here.
    policy = applied.role_policies(ROLE_NAMES["planner"])
    assert {s.effect for s in policy.statements} == {"Deny"}
    assert not policy.actions()


def test_deployer_trust_is_this_repo_and_environment_via_github_oidc(applied: Applied) -> None:
    iam = applied.ws.client("iam")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    repo = applied.tfvars["github_repository"]
    for kind in ("app", "infra"):
        (statement,) = iam.get_role(RoleName=ROLE_NAMES[kind])["Role"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": provider["Arn"]}
        assert statement["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": f"repo:{repo}:environment:local",
            }
        }


def test_infra_deployer_is_prefix_scoped_and_fits_iam_size_limit(applied: Applied) -> None:
    policy = applied.role_policies(ROLE_NAMES["infra"])
    assert policy.may_allow("iam:PutRolePolicy", applied.outputs["api_role_arn"])
    assert not policy.may_allow("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole")
    assert policy.may_allow("dynamodb:DeleteTable", TABLE_ARN)
    assert not policy.may_allow("dynamodb:DeleteTable", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/tfsam-prod-data")
    assert not policy.may_allow("dynamodb:PutItem", TABLE_ARN)  # manages the table, never its data
    for role in ROLE_NAMES.values():
        # IAM limits the inline policies of one role to 10,240 characters in total (whitespace not counted).
        docs = [r["values"]["policy"] for r in applied.resources("aws_iam_role_policy") if r["values"]["role"] == role]
        size = sum(len(json.dumps(json.loads(d), separators=(",", ":"))) for d in docs)
        assert size < 10240, (role, size)


# --- idempotence and teardown (keep these last) --------------------------------------------------------------


def test_plan_after_apply_has_no_changes(applied: Applied) -> None:
    started = time.monotonic()
    result = applied.ws.run(
        "plan", "-detailed-exitcode", "-input=false", "-var-file=environments/local.tfvars", check=False
    )
    TIMINGS["plan"] = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_destroy_leaves_nothing(applied: Applied) -> None:
    started = time.monotonic()
    applied.ws.run("destroy", "-auto-approve", "-input=false", "-var-file=environments/local.tfvars")
    TIMINGS["destroy"] = time.monotonic() - started
    assert json.loads(applied.ws.run("show", "-json").stdout).get("values") is None
    ws = applied.ws
    assert ws.client("dynamodb").list_tables()["TableNames"] == []
    assert ws.client("sqs").list_queues().get("QueueUrls", []) == []
    assert ws.client("s3").list_buckets()["Buckets"] == []
    assert ws.client("ec2").describe_vpcs(Filters=[{"Name": "tag:project", "Values": ["tfsam"]}])["Vpcs"] == []
    assert ws.client("ec2").describe_flow_logs()["FlowLogs"] == []
    roles = ws.client("iam").list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if r["RoleName"].startswith("tfsam-")] == []
    assert ws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert ws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"] == []
    assert ws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert ws.client("sns").list_topics()["Topics"] == []
    kms = ws.client("kms")
    customer_keys = [
        meta
        for meta in (kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"])
        if meta["KeyManager"] == "CUSTOMER"  # AWS managed keys (aws/s3...) appear on first use and stay
    ]
    assert customer_keys, "the observability key should still be listed, pending deletion"
    # KMS only schedules deletion; the key Terraform created must be pending deletion.
    assert {meta["KeyState"] for meta in customer_keys if meta["Description"].startswith("tfsam-local")} == {
        "PendingDeletion"
    }, customer_keys
