"""Static checks of terraform/: formatting, offline validation, checkov, and the variable conventions.

Bad input must fail at plan time, before any API call: those tests point the provider at a closed port, so a
plan that got past validation would fail differently (and slowly).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import tooling
from localcloud import emulator, terraform_workspace

TF_DIR = tooling.TERRAFORM_DIR
ENVIRONMENTS = ("local", "dev", "staging", "prod")


def _variables() -> dict[str, dict[str, Any]]:
    with (TF_DIR / "variables.tf").open() as handle:
        parsed = hcl2.load(handle)
    return {name.strip('"'): body for block in parsed["variable"] for name, body in block.items()}


def test_fmt_is_clean() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        env=terraform_workspace._env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


def test_layout_is_the_agreed_one() -> None:
    expected = {
        "versions.tf", "providers.tf", "backend.tf", "variables.tf", "locals.tf", "outputs.tf",
        "network.tf", "dynamodb.tf", "queues.tf", "iam.tf", "storage.tf", "monitoring.tf", "contract.tf",
    }  # fmt: skip
    assert {p.name for p in TF_DIR.glob("*.tf")} == expected
    assert {p.stem for p in (TF_DIR / "environments").glob("*.tfvars")} == set(ENVIRONMENTS)
    for env in ("dev", "staging", "prod"):
        backend = (TF_DIR / "backends" / f"{env}.s3.tfbackend").read_text()
        assert "use_lockfile = true" in backend and "encrypt      = true" in backend, env
        assert f'key          = "tfsam/{env}/terraform.tfstate"' in backend


def test_every_variable_has_type_description_and_validation_with_message() -> None:
    variables = _variables()
    assert len(variables) > 10
    for name, body in variables.items():
        assert body.get("type"), f"{name}: no type"
        assert len(str(body.get("description", ""))) > 10, f"{name}: no description"
        validations = body.get("validation") or []
        assert validations, f"{name}: no validation"
        for rule in validations:
            assert "must" in str(rule.get("error_message", "")), f"{name}: message does not say what is allowed"


def test_committed_provider_targets_real_aws() -> None:
    text = "".join(p.read_text() for p in TF_DIR.glob("*.tf"))
    for emulator_only in ("endpoints {", "skip_credentials_validation", "access_key", "localhost", 'backend "local"'):
        assert emulator_only not in text, emulator_only


@pytest.mark.slow
def test_validate_offline(tmp_path: Path) -> None:
    workdir = terraform_workspace.prepare(tmp_path, "http://localhost:9")
    terraform_workspace.run(["init", "-backend=false", "-input=false"], workdir)
    result = terraform_workspace.run(["validate", "-json"], workdir, check=False)
    report = json.loads(result.stdout)
    assert report["valid"], report["diagnostics"]
    assert report["warning_count"] == 0, report["diagnostics"]


@pytest.mark.slow
def test_checkov_has_no_failed_checks_and_every_skip_is_justified() -> None:
    if not tooling.CHECKOV.exists():
        pytest.fail(f"checkov missing at {tooling.CHECKOV}: run scripts/bootstrap.sh")
    result = subprocess.run(
        [str(tooling.CHECKOV), "-d", str(TF_DIR), "--framework", "terraform", "--skip-download", "--quiet",
         "--compact", "-o", "json"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    assert not failed, failed
    assert report["summary"]["passed"] > 100
    for skipped in results.get("skipped_checks", []):
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 30, f"{skipped['check_id']} on {skipped['resource']}: skip without a reason"


@pytest.fixture(scope="module")
def offline_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose endpoints point at a closed port: any API call would fail, not just be slow."""
    workdir = terraform_workspace.prepare(
        tmp_path_factory.mktemp("bad-input"), f"http://localhost:{emulator.free_port()}"
    )
    terraform_workspace.init(workdir)
    return workdir


# Terraform reports every invalid variable of a run together, so two plans cover all the cases (vpc_cidr twice).
BAD_INPUTS: list[list[tuple[str, str]]] = [
    [
        ("environment=qa", "environment must be one of: local, dev, staging, prod"),
        ("vpc_cidr=10.0.0.1/16", "vpc_cidr must be a network address"),
        ("log_retention_days=10", "log_retention_days must be a CloudWatch Logs retention value"),
        ('stream_consumer_principals=["arn:aws:iam::12345:user/x"]', "must be a list of IAM role ARNs"),
    ],
    [
        ("vpc_cidr=10.0.0.0/8", "prefix length from /16 to /20"),
        ("processor_stream_arn=arn:aws:dynamodb:ap-northeast-1:123456789012:table/t", "DynamoDB stream ARN"),
        ("function_timeouts={api=30}", "exactly the keys api, processor and scheduled"),
        ("github_repository=not-a-repo", "owner/name"),
        ("az_count=4", "az_count must be 2 or 3"),
    ],
]


@pytest.mark.slow
@pytest.mark.parametrize("cases", BAD_INPUTS, ids=["env-cidr-retention-principal", "cidr-stream-timeouts-repo-az"])
def test_bad_input_fails_at_plan_before_any_call(offline_workspace: Path, cases: list[tuple[str, str]]) -> None:
    result = terraform_workspace.run(
        ["plan", "-input=false", "-lock=false", terraform_workspace.var_file("dev")]
        + [f"-var={assignment}" for assignment, _ in cases],
        offline_workspace,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    output = " ".join((result.stdout + result.stderr).split())
    assert output.count("Invalid value for variable") == len(cases), output
    for assignment, message in cases:
        assert message in output, f"{assignment}: expected {message!r}"
