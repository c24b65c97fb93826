"""The seam between the layers: Terraform's `sam_parameters` (published in the SSM contract, deploylib.contract)
-> `sam --parameter-overrides`.

This is the ONE place that quotes overrides, for real deploys, `sam build` and the local runtime alike.
SAM CLI replaces (does not merge) samconfig's parameter_overrides with the CLI's (aws-sam-cli#2380), so we
always pass the complete set, and we check it against the template's own Parameters before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deploylib.errors import DeployError

# Values SAM CLI's CfnParameterOverridesType accepts without quoting (it splits on spaces and treats `"`/`\`
# specially); everything else is double-quoted with `"` and `\` escaped.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:,@+=#*-]+$")


def template_parameters(template_path: Path) -> dict[str, dict[str, Any]]:
    """The template's Parameters section, read with SAM CLI's own YAML loader (it knows !Ref/!Sub tags)."""
    from samcli.yamlhelper import yaml_parse

    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployError(f"cannot read SAM template {template_path}: {exc.strerror}") from exc
    template = yaml_parse(text) or {}
    params = template.get("Parameters") or {}
    if not isinstance(params, dict):
        raise DeployError(f"{template_path}: Parameters must be a mapping")
    return params


def sam_parameters_from_outputs(outputs: Mapping[str, Any]) -> dict[str, str]:
    """Pick `sam_parameters` out of `terraform output -json` (each output is {"value": ..., "type": ...})."""
    entry = outputs.get("sam_parameters")
    if entry is None:
        raise DeployError(
            "Terraform output 'sam_parameters' is missing: apply the infra first (./scripts/deploy.sh <env> --tf-only)"
        )
    value = entry.get("value") if isinstance(entry, Mapping) else None
    if not isinstance(value, Mapping):
        raise DeployError("Terraform output 'sam_parameters' is not a map: check terraform/contract.tf")
    return {str(k): _as_string(str(k), v) for k, v in value.items()}


def _as_string(key: str, value: Any) -> str:
    if isinstance(value, list | tuple):
        # The contract says lists arrive comma-joined; accept a real list too, since CommaDelimitedList wants that.
        return ",".join(str(v) for v in value)
    if value is None:
        raise DeployError(f"Terraform output sam_parameters.{key} is null: check terraform/contract.tf")
    return str(value)


def complete_parameters(
    sam_parameters: Mapping[str, str], template_path: Path, warn: Callable[[str], None] = print
) -> dict[str, str]:
    """The template's parameters, every one of them from Terraform; fail naming the first gap.

    A key the template does not declare only warns: the infra publishes a new parameter before the app uses it
    (docs/ci-cd.md), and the app drops one before the infra does.
    """
    declared = template_parameters(template_path)
    missing = sorted(set(declared) - set(sam_parameters))
    if missing:
        raise DeployError(
            f"Terraform output sam_parameters lacks {missing[0]} (needed by {template_path.name} Parameters"
            + (f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else "")
            + "): add it to local.sam_parameters in terraform/contract.tf and re-apply"
        )
    for extra in sorted(set(sam_parameters) - set(declared)):
        warn(
            f"WARNING: Terraform's sam_parameters has {extra}, which {template_path.name} does not declare: "
            "not passed to sam"
        )
    return {key: sam_parameters[key] for key in declared}


def quote_value(key: str, value: str) -> str:
    """Quote one value the way SAM CLI's override parser (CfnParameterOverridesType) reads it back unchanged."""
    if value and _PLAIN_VALUE.match(value):
        return value
    if "\\" in value:
        # SAM CLI unescapes only \" \' and "\ ", so a backslash cannot round-trip; no Terraform id contains one.
        raise DeployError(f"sam_parameters.{key} contains a backslash, which SAM CLI cannot take as an override")
    escaped = value.replace('"', '\\"')
    return f'"{escaped}"'


def parameter_overrides(parameters: Mapping[str, str]) -> list[str]:
    """`Key=Value` tokens for `--parameter-overrides` (one argv item each; no shell involved)."""
    return [f"{key}={quote_value(key, value)}" for key, value in parameters.items()]


def build_overrides(outputs: Mapping[str, Any], template_path: Path) -> list[str]:
    """terraform output -json -> the complete, checked, safely quoted --parameter-overrides arguments."""
    return parameter_overrides(complete_parameters(sam_parameters_from_outputs(outputs), template_path))


def check_planned_outputs(plan: Mapping[str, Any], template_path: Path, warn: Callable[[str], None] = print) -> None:
    """Fail BEFORE apply when the plan's `sam_parameters` keys cannot match the template's Parameters.

    `terraform show -json <plan>` has `output_changes.sam_parameters.after` (values known at plan time, None for
    unknown ones) and `after_unknown` (True when even the keys are unknown: then nothing can be checked yet).
    """
    change = (plan.get("output_changes") or {}).get("sam_parameters")
    if change is None:
        raise DeployError(
            "the plan has no output 'sam_parameters': add it to terraform/outputs.tf (value local.sam_parameters, "
            "whose keys are the template's Parameters)"
        )
    after, unknown = change.get("after"), change.get("after_unknown")
    if unknown is True or not isinstance(after, Mapping):
        return
    keys = set(after) | (set(unknown) if isinstance(unknown, Mapping) else set())
    complete_parameters(dict.fromkeys(keys, "planned"), template_path, warn)
