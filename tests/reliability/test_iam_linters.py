"""parliament + cloudsplaining on every rendered role policy: zero findings left unexplained.

Each finding must match one rule of ALLOWED (with its reason), and each rule must still match a finding (a
rule nothing matches any more is stale and must go). Subjects are fnmatch patterns.
"""

from __future__ import annotations

import fnmatch

import pytest
from iamcheck.linters import Finding, findings
from iamcheck.rendered import RoleDocuments

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud-reliability")]

PLANNER_POLICY = ("infra-planner", "no-data-reads")

# (role suffix pattern, policy name, tool, category, subject pattern) -> reason
ALLOWED: dict[tuple[str, str, str, str, str], str] = {
    ("processor-role", "stream-and-aggregates", "parliament", "RESOURCE_MISMATCH", "*table/*/stream/*"): (
        "false positive: parliament splits ARNs on ':' and a stream label is a timestamp with ':' in it "
        "(…/stream/2026-11-21T06:03:06.418); the ARN is the table's exact stream ARN"
    ),
    ("app-deployer", "sam-deploy", "parliament", "INVALID_ARN", "*:aws:transform/Serverless-2016-10-31"): (
        "AWS's documented ARN of the SAM transform (account field 'aws'); CreateChangeSet must be allowed on it"
    ),
    ("*-role", "base", "parliament", "RESOURCE_MISMATCH", "*ec2:DeleteNetworkInterface*"): (
        "Lambda checks the execution role for DeleteNetworkInterface on no particular interface and its VPC guide "
        "asks for all resource ids (arn:aws:ec2:<region>:<account>:*/*); account and region stay fixed"
    ),
    ("app-deployer", "sam-deploy", "parliament", "RESOURCE_STAR", "lambda:*EventSourceMapping"): (
        "mapping ids are generated; the statement is bound by ArnLike lambda:FunctionArn to this stack's "
        "functions (test_iam_policies denies other environments' functions and calls without the key)"
    ),
    ("infra-deployer", "network", "parliament", "RESOURCE_STAR", "ec2:*"): (
        "EC2 resource ids are generated and Describe* has no resource level; the statement is bound by "
        "aws:RequestedRegion (test_iam_policies denies other regions and requests without the key)"
    ),
    ("infra-deployer", "network", "cloudsplaining", "tagging_actions_without_constraints", "ec2:*Tags"): (
        "same statement as above: tags of generated EC2 ids, region-bound by condition (cloudsplaining ignores it)"
    ),
    ("infra-deployer", "services", "parliament", "PERMISSIONS_MANAGEMENT_ACTIONS", "*"): (
        "inherent to the infra deployer: it writes this module's role policies, key policy, bucket/queue/topic "
        "policies, all scoped to <prefix>-* names (iam.tf says so; guard: GitHub environment protection)"
    ),
    ("infra-deployer", "services", "parliament", "RESOURCE_POLICY_PRIVILEGE_ESCALATION", "*sam-artifacts-*"): (
        "inherent: whoever manages the artifact bucket policy could grant itself object access; the deployer "
        "can already rewrite <prefix>-* role policies, so this adds no power beyond what iam.tf documents"
    ),
    ("infra-deployer", "services", "parliament", "RESOURCE_MISMATCH", "*'action': 's3:*"): (
        "s3:Get*/s3:Put* expand to access-point/storage-lens/job actions whose resource types are not a "
        "bucket; on the single bucket ARN they can never apply, so they grant nothing"
    ),
    ("infra-deployer", "services", "parliament", "RESOURCE_MISMATCH", "*'action': 'kms:*Alias'*"): (
        "Create/DeleteAlias are authorised on the alias AND the key: the key's own key policy grants the key side "
        "(monitoring.tf), OwnKeyAliases the alias side; parliament judges each statement alone"
    ),
    ("infra-deployer", "services", "parliament", "RESOURCE_MISMATCH", "*'action': 'logs:DescribeLogGroups'*"): (
        "DescribeLogGroups is authorised on arn:…:log-group:* of the account/region (narrower than '*')"
    ),
    ("vpc-flow-logs", "write-flow-logs", "parliament", "RESOURCE_MISMATCH", "*'action': 'logs:DescribeLogGroups'*"): (
        "the same: the flow logs service role's DescribeLogGroups on arn:…:log-group:* of the account/region"
    ),
    # infra-planner's inline policy is Deny statements only (data reads ReadOnlyAccess grants; no lock object). Its
    # "*" resources are denies, which parliament and cloudsplaining rightly do not flag; parliament's action list
    # (1.6.4) only predates three of the denied reads, each of which ReadOnlyAccess grants today (moto's copy:
    # test_iam_policies.py pins it) and botocore/policy_sentry know.
    (*PLANNER_POLICY, "parliament", "UNKNOWN_ACTION", "dynamodb:ReadDataForReplication"): (
        "real action (global table replication reads, in policy_sentry's database and ReadOnlyAccess's dynamodb "
        "entries): denied because it reads items"
    ),
    (*PLANNER_POLICY, "parliament", "UNKNOWN_ACTION", "dynamodb:SearchVectors"): (
        "real action (DynamoDB's SearchVectors API in botocore, named in ReadOnlyAccess): denied because it reads items"
    ),
    (*PLANNER_POLICY, "parliament", "UNKNOWN_ACTION", "logs:GetLogObject"): (
        "real action (CloudWatch Logs' GetLogObject API in botocore, granted by ReadOnlyAccess's logs:Get*): denied "
        "because it returns logged content"
    ),
    ("app-deployer", "sam-deploy", "parliament", "UNKNOWN_ACTION", "lambda:GetFunctionScalingConfig"): (
        "real action, newer than parliament's list: CloudFormation's AWS::Lambda::Function read handler calls it "
        "(its resource schema as cfn-lint ships it); granted on this stack's functions only"
    ),
}


def _rule_for(role: str, policy: str, finding: Finding) -> tuple[str, str, str, str, str] | None:
    tool, category, subject = finding
    for rule in ALLOWED:
        r_role, r_policy, r_tool, r_category, r_subject = rule
        if (
            (r_policy, r_tool, r_category) == (policy, tool, category)
            and fnmatch.fnmatchcase(role, r_role)
            and fnmatch.fnmatchcase(subject, r_subject)
        ):
            return rule
    return None


def test_no_unexplained_linter_findings(rendered_roles: dict[str, RoleDocuments]) -> None:
    unexplained: list[str] = []
    used: set[tuple[str, str, str, str, str]] = set()
    total = 0
    for role_name, role in sorted(rendered_roles.items()):
        short = role_name.removeprefix("tfsam-local-")
        for policy_name, document in sorted(role.inline.items()):
            for finding in sorted(findings(document)):
                total += 1
                rule = _rule_for(short, policy_name, finding)
                if rule is None:
                    unexplained.append(f"{short}/{policy_name}: {finding}")
                else:
                    used.add(rule)
    print(f"linter findings: {total}, explained by {len(used)} rules")
    assert not unexplained, "unexplained parliament/cloudsplaining findings:\n" + "\n".join(unexplained)
    stale = [rule for rule in ALLOWED if rule not in used]
    assert not stale, f"allow-list rules that match nothing any more (remove them): {stale}"


def test_linters_do_flag_a_bad_policy() -> None:
    # Guard against a silently broken linter setup (e.g. parliament failing to load its data).
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
    found = findings(bad)
    assert any(tool == "parliament" for tool, _, _ in found)
    assert any(tool == "cloudsplaining" and cat == "allows_privilege_escalation" for tool, cat, _ in found)
