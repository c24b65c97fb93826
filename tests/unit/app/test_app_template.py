"""The SAM template: lint clean, parameters == Terraform's sam_parameters keys, and what it must not create."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "sam" / "template.yaml"
OUTPUTS_TF = REPO / "terraform" / "outputs.tf"
VENV_BIN = REPO / ".venv" / "bin"


class _Loader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub...) as {"Fn": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


def _sam_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    env["SAM_CLI_TELEMETRY"] = "0"
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def terraform_sam_parameter_keys(path: Path) -> set[str]:
    """Keys of output sam_parameters; `value = local.<name>` (contract.tf builds the map once) is followed to that
    local in the module's other files."""
    import hcl2

    def load(file: Path) -> dict[str, Any]:
        with file.open(encoding="utf-8") as handle:
            return dict(hcl2.load(handle))

    for block in load(path).get("output", []):
        for name, body in block.items():
            if name.strip('"') != "sam_parameters":
                continue
            value = body["value"]
            named = re.fullmatch(r"\$\{local\.(\w+)\}", value.strip()) if isinstance(value, str) else None
            if named:
                found = [
                    local[named.group(1)]
                    for file in sorted(path.parent.glob("*.tf"))
                    for local in load(file).get("locals", [])
                    if named.group(1) in local
                ]
                assert len(found) == 1, f"local.{named.group(1)} is defined {len(found)} times"
                value = found[0]
            assert isinstance(value, dict), f"output sam_parameters is not a map: {value!r}"
            return {key.strip('"') for key in value}
    raise AssertionError(f"{path} declares no output sam_parameters")


def test_parameters_match_terraform_sam_parameters(template: dict[str, Any]) -> None:
    if not OUTPUTS_TF.exists():
        pytest.skip("terraform/outputs.tf does not exist yet (infra layer), nothing to compare with")
    assert set(template["Parameters"]) == terraform_sam_parameter_keys(OUTPUTS_TF)


FUNCTIONS = {"api": "ApiFunction", "processor": "ProcessorFunction", "scheduled": "ScheduledFunction"}


def _timeout(template: dict[str, Any], logical_id: str, environment: str) -> int:
    value = template["Resources"][logical_id]["Properties"].get("Timeout", template["Globals"]["Function"]["Timeout"])
    if isinstance(value, dict):  # !FindInMap [EnvironmentConfig, !Ref Environment, Key]
        mapping, _, key = value["Fn::FindInMap"]
        return int(template["Mappings"][mapping][environment][key])
    return int(value)


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "prod"])
def test_terraform_duration_alarms_use_the_functions_timeouts(template: dict[str, Any], environment: str) -> None:
    """Terraform's duration alarms fire at 80% of function_timeouts: those must be the template's Timeouts."""
    from deploylib.environment_files import hcl_values

    variables = hcl_values(REPO / "terraform" / "variables.tf")["variable"]
    default = next(v["function_timeouts"]["default"] for v in variables if "function_timeouts" in v)
    chosen = hcl_values(REPO / "terraform" / "environments" / f"{environment}.tfvars").get("function_timeouts", default)
    expected = {short: _timeout(template, logical_id, environment) for short, logical_id in FUNCTIONS.items()}
    assert {short: int(seconds) for short, seconds in chosen.items()} == expected


def test_every_parameter_is_described_and_constrained(template: dict[str, Any]) -> None:
    for name, spec in template["Parameters"].items():
        assert spec.get("Description"), name
        if spec["Type"] == "String":
            assert "AllowedPattern" in spec or "AllowedValues" in spec, name
    assert template["Parameters"]["LambdaArchitecture"]["Default"] == "arm64"
    assert template["Parameters"]["SubnetIds"]["Type"] == "CommaDelimitedList"


def test_environment_mappings_cover_every_environment(template: dict[str, Any]) -> None:
    environments = set(template["Parameters"]["Environment"]["AllowedValues"])
    assert set(template["Mappings"]["EnvironmentConfig"]) == environments
    keys = {frozenset(v) for v in template["Mappings"]["EnvironmentConfig"].values()}
    assert len(keys) == 1  # every environment defines the same settings


def test_creates_no_infrastructure(template: dict[str, Any]) -> None:
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert types == {
        "AWS::Serverless::LayerVersion",
        "AWS::Serverless::Api",
        "AWS::Serverless::Function",
    }
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Properties"]["Role"] == {"Ref": f"{name}RoleArn"}
            assert "Policies" not in resource["Properties"]
            assert resource["Properties"]["FunctionName"] == {"Ref": f"{name}Name"}


def test_processor_event_source(template: dict[str, Any]) -> None:
    stream = template["Resources"]["ProcessorFunction"]["Properties"]["Events"]["TableStream"]["Properties"]
    assert stream["Stream"] == {"Ref": "TableStreamArn"}
    assert stream["BatchSize"] == 10
    assert stream["MaximumBatchingWindowInSeconds"] == 5
    assert 0 <= stream["MaximumRetryAttempts"] <= 10
    assert 60 <= stream["MaximumRecordAgeInSeconds"] <= 86400
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Ref": "DeadLetterQueueArn"}
    [pattern] = [f["Pattern"] for f in stream["FilterCriteria"]["Filters"]]
    prefixes = {p["prefix"] for p in yaml.safe_load(pattern)["dynamodb"]["Keys"]["PK"]["S"]}
    assert prefixes == {"ITEM#", "USER#"}


def test_schedule_is_daily_midnight_utc(template: dict[str, Any]) -> None:
    daily = template["Resources"]["ScheduledFunction"]["Properties"]["Events"]["Daily"]["Properties"]
    assert daily["Schedule"] == "cron(0 0 * * ? *)"


def test_every_route_of_the_app_is_an_api_event(template: dict[str, Any]) -> None:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    import json

    from service.api.app import openapi_document

    events = template["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    declared = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events}
    paths = json.loads(openapi_document())["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    routes.add(("GET", "/openapi.json"))
    assert declared == routes


def test_transform_creates_expected_resources(sam_transformed: dict[str, Any]) -> None:
    output = sam_transformed
    types = sorted({r["Type"] for r in output["Resources"].values()})
    assert "AWS::IAM::Role" not in types
    assert "AWS::IAM::Policy" not in types
    mapping = next(r for r in output["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {"Ref": "DeadLetterQueueArn"}
    stages = [r for r in output["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1
    assert stages[0]["Properties"]["AccessLogSetting"]["DestinationArn"] == {"Ref": "ApiAccessLogGroupArn"}


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_gateway_generated_errors_have_the_apis_error_shape(
    response_type: str, sam_transformed: dict[str, Any]
) -> None:
    """Errors API Gateway answers itself (no route, too large, throttled, integration failure) are the same
    `{"error": {"code", "message"}}` JSON the function returns, even when the message holds quotes."""
    api = next(r for r in sam_transformed["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    template = responses[response_type]["responseTemplates"]["application/json"]
    # API Gateway's simple substitution: messageString is the message already quoted as a JSON string.
    message = 'Missing "Authentication" Token \\ ünïcode'
    body = template.replace("$context.error.messageString", json.dumps(message)).replace(
        "$context.error.responseType", "MISSING_AUTHENTICATION_TOKEN"
    )
    assert json.loads(body) == {"error": {"code": "MISSING_AUTHENTICATION_TOKEN", "message": message}}


@pytest.mark.slow
def test_sam_validate_lint() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "sam"), "validate", "--lint", "-t", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=_sam_env(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_cfn_lint() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=_sam_env(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
