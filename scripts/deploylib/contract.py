"""The published infra -> app contract: one SSM parameter per environment, written by Terraform (contract.tf).

`deploy.sh <env> --sam-only` needs nothing else from the infra layer: no Terraform, no state, no CI artifact.
The document is read with the caller's credentials (in CI the app-deployer role, which may read exactly this
parameter), validated, checked against sam/template.yaml's Parameters, and turned into sam's arguments.

Where it is read:
- name: ``/<project>/<env>/contract``; the project is TFSAM_PROJECT or Terraform's default project_name
  (``tfsam``), since the app side has no Terraform files to read it from;
- region: AWS_REGION, else AWS_DEFAULT_REGION, else samconfig.toml's region of that config-env (then its
  default.global region). Terraform writes the parameter in the environment's own region, which is the stack's.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from deploylib.errors import DeployError
from deploylib.overrides import template_parameters

CONTRACT_VERSION = 1  # contract.tf's local.contract_version; a reader refuses any other
DEFAULT_PROJECT = "tfsam"  # terraform/variables.tf project_name default (tests/unit/test_deploylib_contract.py)
PROJECT_ENV = "TFSAM_PROJECT"


class Contract(BaseModel):
    """The JSON document contract.tf writes (fields a later version adds are ignored; `version` gates them)."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    version: int
    hash: str
    region: str
    stack_name: str
    artifact_bucket: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class Location:
    """Where an environment's contract lives, and why there (printed by every run, dry or not)."""

    env: str
    project: str
    region: str
    region_source: str

    @property
    def name(self) -> str:
        return f"/{self.project}/{self.env}/contract"

    @property
    def app_deployer_role(self) -> str:
        return f"{self.project}-{self.env}-app-deployer"

    def describe(self) -> str:
        return f"ssm:{self.name} in {self.region} (region from {self.region_source})"


def locate(
    env_name: str, samconfig: Path, environ: Mapping[str, str], *, planned_region: str | None = None
) -> Location:
    project = environ.get(PROJECT_ENV) or DEFAULT_PROJECT
    if planned_region:  # a full deploy just applied Terraform: the contract is where that plan put it
        return Location(env_name, project, planned_region, "the Terraform plan (output aws_region)")
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(variable):
            return Location(env_name, project, environ[variable], variable)
    region, source = _samconfig_region(env_name, samconfig)
    if not region:
        raise DeployError(
            f"no region for the {env_name} contract: set AWS_REGION (the environment's region) or a region in "
            f"{samconfig.name} [{env_name}.deploy.parameters]"
        )
    return Location(env_name, project, region, source)


def _samconfig_region(env_name: str, samconfig: Path) -> tuple[str | None, str]:
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except OSError:
        return None, ""
    except tomllib.TOMLDecodeError as exc:
        raise DeployError(f"{samconfig.name} is not valid TOML ({exc}): fix it and retry") from exc
    for section, command in ((env_name, "deploy"), ("default", "global")):
        region = config.get(section, {}).get(command, {}).get("parameters", {}).get("region")
        if region:
            return str(region), f"{samconfig.name} [{section}.{command}.parameters]"
    return None, ""


def parameters_hash(parameters: Mapping[str, str]) -> str:
    """sha256 of Terraform's jsonencode(parameters): keys sorted, no spaces, <>& escaped as Go's encoder does."""
    text = json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(location: Location, text: str) -> Contract:
    """The parameter's value as a Contract; malformed or foreign documents end as one DeployError line."""
    where = f"SSM parameter {location.name}"
    reapply = f"re-apply the infra (./scripts/deploy.sh {location.env} --tf-only)"
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise DeployError(f"{where} is not a JSON contract document ({exc}): {reapply}") from exc
    if isinstance(raw, dict) and raw.get("version") != CONTRACT_VERSION and isinstance(raw.get("version"), int):
        raise DeployError(
            f"{where} is contract version {raw['version']}, this checkout reads version {CONTRACT_VERSION}: deploy "
            "from a checkout whose scripts/deploylib/contract.py matches the applied terraform/contract.tf"
        )
    try:
        contract = Contract.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "document"
        raise DeployError(f"{where} is not a contract document ({field}: {first['msg']}): {reapply}") from exc
    if parameters_hash(contract.parameters) != contract.hash:
        raise DeployError(f"{where} has parameters that do not match its hash (edited by hand?): {reapply}")
    return contract


def read(location: Location, client: Any) -> Contract:
    """GetParameter of the contract with ``client`` (a boto3 SSM client); every failure is one clear line."""
    import botocore.exceptions

    try:
        response = client.get_parameter(Name=location.name)
    except botocore.exceptions.NoCredentialsError as exc:
        raise DeployError(
            f"no AWS credentials to read {location.describe()}: configure them (the {location.app_deployer_role} "
            "role, AWS_PROFILE or aws configure)"
        ) from exc
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise DeployError(
                f"infra for {location.env} is not applied (no SSM parameter {location.name} in {location.region}): "
                f"run ./scripts/deploy.sh {location.env} --tf-only"
            ) from exc
        if code in {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}:
            raise DeployError(
                f"not allowed to read SSM parameter {location.name} in {location.region} ({code}): the app-deployer "
                f"role {location.app_deployer_role} may read {location.name}; deploy with that role's credentials"
            ) from exc
        raise DeployError(f"cannot read {location.describe()}: {exc}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise DeployError(f"cannot read {location.describe()}: {exc}") from exc
    return parse(location, str(response["Parameter"]["Value"]))


def ssm_client(region: str, endpoint_url: str | None = None, **credentials: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    return boto3.session.Session(region_name=region, **credentials).client(
        "ssm", endpoint_url=endpoint_url, config=config
    )


def template_check(
    location: Location, contract: Contract, template: Path, warn: Callable[[str], None]
) -> dict[str, str]:
    """The template's parameters, each from the contract, in the template's order.

    A parameter the template needs and the contract lacks stops the deploy (the infra change comes first); a
    contract key the template no longer declares is a warning (the app may drop a parameter before the infra).
    """
    declared = template_parameters(template)
    missing = [name for name in declared if name not in contract.parameters]
    if missing:
        raise DeployError(
            f"{template.name} needs parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which the "
            f"{location.env} contract ({location.name}) lacks: the infra change that adds "
            f"{'them' if len(missing) > 1 else 'it'} must be applied first (./scripts/deploy.sh {location.env} "
            "--tf-only, or the infra pipeline)"
        )
    for extra in sorted(set(contract.parameters) - set(declared)):
        warn(
            f"WARNING: the {location.env} contract has {extra}, which {template.name} no longer declares: not "
            "passed to sam (terraform/contract.tf can drop it once no deployed app version needs it)"
        )
    return {name: contract.parameters[name] for name in declared}
