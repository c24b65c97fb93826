"""The contract reader (deploylib.contract): where it looks, what it accepts, and the one line for each bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import tooling
from botocore.stub import Stubber
from deploylib import contract as app_contract
from deploylib.errors import DeployError
from deploylib.overrides import template_parameters

TEMPLATE = tooling.REPO_ROOT / "sam" / "template.yaml"
SAMCONFIG = tooling.REPO_ROOT / "sam" / "samconfig.toml"
DEV = app_contract.Location("dev", "tfsam", "eu-west-1", "AWS_REGION")


def document(**changes: Any) -> dict[str, Any]:
    parameters = {name: f"v-{name.lower()}" for name in template_parameters(TEMPLATE)}
    parameters.update(changes.pop("parameters", {}))
    for name in changes.pop("drop", ()):
        del parameters[name]
    doc = {
        "version": 1,
        "hash": app_contract.parameters_hash(parameters),
        "region": "eu-west-1",
        "stack_name": "tfsam-dev-app",
        "artifact_bucket": "tfsam-dev-sam-artifacts-123456789012",
        "parameters": parameters,
    }
    doc.update(changes)
    return doc


def test_the_default_project_is_terraforms() -> None:
    from deploylib.environment_files import hcl_values

    text = (tooling.TERRAFORM_DIR / "variables.tf").read_text()
    block = text[text.index('variable "project_name"') :]
    default = next(line.split("=", 1)[1].strip().strip('"') for line in block.splitlines() if "default" in line)
    assert default == app_contract.DEFAULT_PROJECT
    for tfvars in (tooling.TERRAFORM_DIR / "environments").glob("*.tfvars"):
        # A tfvars that renamed the project would publish under a path the app side does not look at.
        assert "project_name" not in hcl_values(tfvars), f"{tfvars.name}: set TFSAM_PROJECT for the app side too"


def test_the_path_is_the_one_terraform_writes() -> None:
    text = (tooling.TERRAFORM_DIR / "contract.tf").read_text()
    assert 'contract_parameter_name = "/${var.project_name}/${var.environment}/contract"' in text
    assert f"contract_version        = {app_contract.CONTRACT_VERSION}" in text
    assert DEV.name == "/tfsam/dev/contract"
    assert DEV.app_deployer_role == "tfsam-dev-app-deployer"


@pytest.mark.parametrize(
    ("environ", "region", "source"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1", "AWS_REGION"),
        ({"AWS_DEFAULT_REGION": "us-east-1"}, "us-east-1", "AWS_DEFAULT_REGION"),
        ({}, "ap-northeast-1", "samconfig.toml [prod.deploy.parameters]"),
        ({"TFSAM_PROJECT": "shop"}, "ap-northeast-1", "samconfig.toml [prod.deploy.parameters]"),
    ],
)
def test_locate(environ: dict[str, str], region: str, source: str) -> None:
    location = app_contract.locate("prod", SAMCONFIG, environ)
    assert (location.region, location.region_source) == (region, source)
    assert location.name == f"/{environ.get('TFSAM_PROJECT', 'tfsam')}/prod/contract"


def test_locate_falls_back_to_the_default_section_and_needs_some_region(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('version = 0.1\n[default.global.parameters]\nregion = "sa-east-1"\n')
    assert app_contract.locate("qa", samconfig, {}).region == "sa-east-1"
    samconfig.write_text("version = 0.1\n")
    with pytest.raises(DeployError, match="no region for the qa contract: set AWS_REGION"):
        app_contract.locate("qa", samconfig, {})


@pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")
def test_the_hash_is_terraforms_sha256_of_jsonencode(tmp_path: Path) -> None:
    parameters = {"b": "x<&>y", "a": "arn:aws:iam::1:role/r", "SubnetIds": "subnet-1,subnet-2", "u": "é"}
    expression = f"sha256(jsonencode({json.dumps(parameters)}))"
    result = subprocess.run(
        ["terraform", "console"], input=expression, cwd=tmp_path, env=tooling.tool_env(),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.strip().strip('"') == app_contract.parameters_hash(parameters)


def test_parse_accepts_the_document() -> None:
    contract = app_contract.parse(DEV, json.dumps(document()))
    assert contract.stack_name == "tfsam-dev-app"
    assert set(contract.parameters) == set(template_parameters(TEMPLATE))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "SSM parameter /tfsam/dev/contract is not a JSON contract document"),
        (json.dumps(document(version=2)), "is contract version 2, this checkout reads version 1"),
        (json.dumps({k: v for k, v in document().items() if k != "stack_name"}), "(stack_name: Field required)"),
        (json.dumps(document(parameters={"TableName": 7})), "(parameters.TableName: Input should be a valid string)"),
        (json.dumps(document() | {"hash": "0" * 64}), "do not match its hash (edited by hand?)"),
        (json.dumps([1]), "is not a contract document"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(DeployError) as caught:
        app_contract.parse(DEV, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def stubbed(error_code: str | None = None, value: str | None = None) -> Any:
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    stub = Stubber(client)
    if error_code:
        stub.add_client_error("get_parameter", service_error_code=error_code, expected_params={"Name": DEV.name})
    else:
        response = {"Parameter": {"Name": DEV.name, "Type": "String", "Value": value, "Version": 3}}
        stub.add_response("get_parameter", response, expected_params={"Name": DEV.name})
    stub.activate()
    return client


def test_read_a_missing_contract_says_the_infra_is_not_applied() -> None:
    with pytest.raises(DeployError) as caught:
        app_contract.read(DEV, stubbed("ParameterNotFound"))
    assert str(caught.value) == (
        "infra for dev is not applied (no SSM parameter /tfsam/dev/contract in eu-west-1): "
        "run ./scripts/deploy.sh dev --tf-only"
    )


def test_read_access_denied_names_the_role_and_path() -> None:
    with pytest.raises(DeployError) as caught:
        app_contract.read(DEV, stubbed("AccessDeniedException"))
    assert "not allowed to read SSM parameter /tfsam/dev/contract in eu-west-1 (AccessDeniedException)" in str(
        caught.value
    )
    assert "the app-deployer role tfsam-dev-app-deployer may read /tfsam/dev/contract" in str(caught.value)


def test_read_returns_the_parsed_document() -> None:
    assert app_contract.read(DEV, stubbed(value=json.dumps(document()))).region == "eu-west-1"


def test_template_check_names_what_the_contract_lacks() -> None:
    contract = app_contract.parse(DEV, json.dumps(document(drop=["DeadLetterQueueArn", "LogLevel"])))
    with pytest.raises(DeployError) as caught:
        app_contract.template_check(DEV, contract, TEMPLATE, print)
    assert str(caught.value).startswith(
        "template.yaml needs parameters DeadLetterQueueArn, LogLevel, which the dev contract (/tfsam/dev/contract) "
        "lacks: the infra change that adds them must be applied first"
    )


def test_template_check_warns_about_keys_the_template_dropped() -> None:
    contract = app_contract.parse(DEV, json.dumps(document(parameters={"VpcId": "vpc-1"})))
    warnings: list[str] = []
    parameters = app_contract.template_check(DEV, contract, TEMPLATE, warnings.append)
    assert list(parameters) == list(template_parameters(TEMPLATE))
    assert warnings == [
        "WARNING: the dev contract has VpcId, which template.yaml no longer declares: not passed to sam "
        "(terraform/contract.tf can drop it once no deployed app version needs it)"
    ]
