"""Plans of dev, staging and prod (against an empty emulator) succeed and differ only where their tfvars say.

Expected differences are derived from each tfvars file (NAT placement, AZ count, PITR, deletion protection,
retention, CIDR), never hard-coded per environment: after removing the tfvars-driven addresses, every
environment must plan exactly the same set of resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from localcloud import emulator, terraform_workspace
from tfhelpers import Workspace, emulator_workspace, load_tfvars

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("infra-plans")]

ENVIRONMENTS = ("dev", "staging", "prod")
# Addresses whose count follows the tfvars: per-AZ network pieces and NAT.
AZ_KEYED = ("aws_subnet.public", "aws_subnet.private", "aws_route_table.private", "aws_route_table_association.")
NAT_KEYED = ("aws_eip.nat", "aws_nat_gateway.this", "aws_route.private_nat")


@pytest.fixture(scope="session")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    with emulator_workspace(tmp_path_factory, "plans") as scratch:
        yield _plan_all(scratch.cloud, tmp_path_factory)


def _plan_all(cloud: emulator.Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for env in ENVIRONMENTS:
        path = terraform_workspace.prepare(tmp_path_factory.mktemp(f"plan-{env}"), cloud.endpoint_url)
        terraform_workspace.init(path)
        ws = Workspace(path=path, cloud=cloud)
        ws.run("plan", "-input=false", "-lock=false", "-out=tfplan", terraform_workspace.var_file(env))
        result[env] = json.loads(ws.run("show", "-json", "tfplan").stdout)
    return result


def _changes(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in plan["resource_changes"] if c["mode"] == "managed"}


def _after(plan: dict[str, Any], address: str) -> dict[str, Any]:
    return dict(_changes(plan)[address]["change"]["after"])


def _generic(address: str) -> str:
    """Strip the for_each key (AZ names) so addresses compare across environments."""
    return re.sub(r'\["[^"]*"\]$', "", address)


def test_every_plan_only_creates(plans: dict[str, dict[str, Any]]) -> None:
    for env, plan in plans.items():
        actions = {tuple(c["change"]["actions"]) for c in _changes(plan).values()}
        assert actions == {("create",)}, env


def test_per_az_and_nat_resources_follow_tfvars(plans: dict[str, dict[str, Any]]) -> None:
    for env, plan in plans.items():
        tfvars = load_tfvars(env)
        azs = tfvars["az_count"]
        nat = tfvars.get("enable_nat_gateway", False)
        nat_count = 0 if not nat else (1 if tfvars.get("single_nat_gateway", True) else azs)
        addresses = list(_changes(plan))
        for prefix in ("aws_subnet.public", "aws_subnet.private", "aws_route_table.private"):
            assert sum(1 for a in addresses if _generic(a) == prefix) == azs, (env, prefix)
        assert sum(1 for a in addresses if _generic(a) == "aws_nat_gateway.this") == nat_count, env
        assert sum(1 for a in addresses if _generic(a) == "aws_eip.nat") == nat_count, env
        assert sum(1 for a in addresses if _generic(a) == "aws_route.private_nat") == (azs if nat else 0), env
        cidrs = sorted(_after(plan, a)["cidr_block"] for a in addresses if _generic(a) == "aws_subnet.private")
        assert all(c.startswith(tfvars["vpc_cidr"].rsplit(".", 2)[0] + ".") for c in cidrs), (env, cidrs)


def test_same_resource_types_everywhere_apart_from_tfvars_driven_ones(plans: dict[str, dict[str, Any]]) -> None:
    def invariant(plan: dict[str, Any]) -> set[str]:
        return {_generic(a) for a in _changes(plan) if not _generic(a).startswith(NAT_KEYED)}

    reference = invariant(plans["dev"])
    for env in ("staging", "prod"):
        assert invariant(plans[env]) == reference, env


def test_data_protection_and_retention_follow_tfvars(plans: dict[str, dict[str, Any]]) -> None:
    for env, plan in plans.items():
        tfvars = load_tfvars(env)
        table = _after(plan, "aws_dynamodb_table.this")
        assert table["name"] == f"tfsam-{env}-data"
        assert table["point_in_time_recovery"][0]["enabled"] is tfvars["enable_point_in_time_recovery"], env
        assert table["deletion_protection_enabled"] is tfvars["enable_deletion_protection"], env
        groups = [c for a, c in _changes(plan).items() if _generic(a) == "aws_cloudwatch_log_group.function"]
        assert {c["change"]["after"]["retention_in_days"] for c in groups} == {tfvars["log_retention_days"]}
        assert _after(plan, "aws_s3_bucket.artifacts")["bucket"] == f"tfsam-{env}-sam-artifacts-123456789012"
        # Only prod keeps its artifacts on destroy (the infra-deployer's emptying grants follow the same switch).
        assert _after(plan, "aws_s3_bucket.artifacts")["force_destroy"] is (env != "prod"), env
        # The emulator-only switch (local.tfvars) must never reach a real environment.
        assert "aws_s3_bucket_lifecycle_configuration.artifacts[0]" in _changes(plan), env
        variables = plan["variables"]
        assert variables["environment"]["value"] == env
        assert variables["log_level"]["value"] == tfvars["log_level"]


def test_infra_roles_trust_their_own_github_environment(plans: dict[str, dict[str, Any]]) -> None:
    # Trust policies are rendered at plan time only when the OIDC provider ARN is known; here it is not, so
    # check the inputs that decide it instead: every environment separates infra (<env>-infra) and app (<env>).
    for env in ("dev", "staging", "prod"):
        want = {"infra": f"{env}-infra", "app": env}
        assert load_tfvars(env)["github_environments"] == want, env
        assert plans[env]["variables"]["github_environments"]["value"] == want, env


def test_every_ci_role_trusts_the_subject_prefix_github_issues(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Repositories created or renamed since 2026-06-18 get immutable ids in the OIDC subject: with
    github_oidc_subject_prefix set, all three CI roles trust exactly that form (no name-based subject left)."""
    prefix = "repo:acme-123456/shop-456789"
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"  # known: trusts render
    with emulator_workspace(tmp_path_factory, "plans-oidc") as scratch:
        path = terraform_workspace.prepare(tmp_path_factory.mktemp("plan-prod-oidc"), scratch.cloud.endpoint_url)
        terraform_workspace.init(path)
        ws = Workspace(path=path, cloud=scratch.cloud)
        ws.run(
            "plan", "-input=false", "-lock=false", "-out=tfplan", terraform_workspace.var_file("prod"),
            f"-var=github_oidc_subject_prefix={prefix}", f"-var=github_oidc_provider_arn={provider}",
        )  # fmt: skip
        plan = json.loads(ws.run("show", "-json", "tfplan").stdout)
    subjects = {}
    for role in ("app_deployer", "infra_deployer", "infra_planner"):
        trust = json.loads(_after(plan, f"aws_iam_role.{role}")["assume_role_policy"])
        (statement,) = trust["Statement"]
        subjects[role] = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert subjects == {
        "app_deployer": f"{prefix}:environment:prod",
        "infra_deployer": f"{prefix}:environment:prod-infra",
        "infra_planner": f"{prefix}:pull_request",
    }
