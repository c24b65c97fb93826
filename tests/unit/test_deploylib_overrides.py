"""The seam: Terraform's sam_parameters -> `sam --parameter-overrides`, checked against the real template."""

from __future__ import annotations

from pathlib import Path

import pytest
import tooling
from deploylib.errors import DeployError
from deploylib.overrides import (
    build_overrides,
    check_planned_outputs,
    complete_parameters,
    parameter_overrides,
    sam_parameters_from_outputs,
    template_parameters,
)
from samcli.cli.types import CfnParameterOverridesType

TEMPLATE = tooling.SAM_DIR / "template.yaml"

# Values shaped like Terraform's: ARNs, comma-joined lists, plus the awkward characters a value could carry.
AWKWARD = {"SubnetIds": "subnet-0a,subnet-0b", "LogLevel": 'say "hi" it\'s me', "NamePrefix": "tfsam dev"}


def outputs_for(template: Path, **overrides: object) -> dict[str, object]:
    """`terraform output -json` shaped outputs with one value per template parameter."""
    values: dict[str, object] = {name: f"value-of-{name}" for name in template_parameters(template)}
    values.update(overrides)
    return {"sam_parameters": {"value": values, "type": ["map", "string"]}, "other": {"value": "x"}}


def sam_reads(tokens: list[str]) -> dict[str, str]:
    """What SAM CLI itself makes of our tokens (its own --parameter-overrides parser)."""
    return CfnParameterOverridesType().convert(tuple(tokens), None, None)


def test_every_template_parameter_round_trips_through_sam_clis_parser() -> None:
    outputs = outputs_for(TEMPLATE, **AWKWARD)
    tokens = build_overrides(outputs, TEMPLATE)
    expected = {k: str(v) for k, v in outputs["sam_parameters"]["value"].items()}  # type: ignore[index]
    assert sam_reads(tokens) == expected
    assert set(sam_reads(tokens)) == set(template_parameters(TEMPLATE))
    # One argv item per parameter, in the template's order (stable dry-run output and logs).
    assert [t.split("=", 1)[0] for t in tokens] == list(template_parameters(TEMPLATE))


def test_list_values_are_comma_joined_for_comma_delimited_lists() -> None:
    outputs = outputs_for(TEMPLATE, SubnetIds=["subnet-1", "subnet-2"])
    assert sam_reads(build_overrides(outputs, TEMPLATE))["SubnetIds"] == "subnet-1,subnet-2"


def test_a_template_parameter_missing_from_the_outputs_is_named() -> None:
    outputs = outputs_for(TEMPLATE)
    del outputs["sam_parameters"]["value"]["TableStreamArn"]  # type: ignore[index]
    with pytest.raises(DeployError, match=r"lacks TableStreamArn .*terraform/contract.tf"):
        build_overrides(outputs, TEMPLATE)


def test_parameters_with_defaults_are_still_required_because_cli_overrides_replace_samconfig() -> None:
    # aws-sam-cli#2380: a parameter left out would silently fall back to its template default.
    with_default = [k for k, v in template_parameters(TEMPLATE).items() if "Default" in v]
    assert with_default, "the template has parameters with defaults (LogLevel, LambdaArchitecture)"
    outputs = outputs_for(TEMPLATE)
    del outputs["sam_parameters"]["value"][with_default[0]]  # type: ignore[index]
    with pytest.raises(DeployError, match=f"lacks {with_default[0]}"):
        build_overrides(outputs, TEMPLATE)


def test_an_output_key_the_template_does_not_declare_only_warns() -> None:
    # The infra publishes a new parameter before the app uses it (and the app drops one before the infra does).
    warnings: list[str] = []
    parameters = complete_parameters(
        sam_parameters_from_outputs(outputs_for(TEMPLATE, VpcId="vpc-1")), TEMPLATE, warnings.append
    )
    assert "VpcId" not in parameters
    assert warnings == [
        "WARNING: Terraform's sam_parameters has VpcId, which template.yaml does not declare: not passed to sam"
    ]


def test_missing_or_malformed_sam_parameters_output() -> None:
    with pytest.raises(DeployError, match=r"'sam_parameters' is missing.*--tf-only"):
        sam_parameters_from_outputs({"vpc_id": {"value": "vpc-1"}})
    with pytest.raises(DeployError, match="not a map"):
        sam_parameters_from_outputs({"sam_parameters": {"value": "a=b"}})
    with pytest.raises(DeployError, match=r"sam_parameters.Environment is null"):
        sam_parameters_from_outputs({"sam_parameters": {"value": {"Environment": None}}})


def test_backslashes_are_refused_since_sam_cli_cannot_read_them_back() -> None:
    with pytest.raises(DeployError, match="LogLevel contains a backslash"):
        parameter_overrides({"LogLevel": "a\\b c"})


def test_complete_parameters_reads_the_template_with_sam_clis_yaml_loader(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    # Short-form intrinsics (!Ref) would break a plain YAML loader.
    template.write_text(
        "Parameters:\n  A: {Type: String}\n  B: {Type: String, Default: x}\n"
        "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref A}}\n"
    )
    assert complete_parameters({"B": "2", "A": "1"}, template) == {"A": "1", "B": "2"}
    with pytest.raises(DeployError, match="cannot read SAM template"):
        complete_parameters({}, tmp_path / "missing.yaml")


def planned(after: object, after_unknown: object) -> dict[str, object]:
    """The part of `terraform show -json <plan>` the pre-apply check reads."""
    return {
        "output_changes": {"sam_parameters": {"actions": ["create"], "after": after, "after_unknown": after_unknown}}
    }


def test_the_plan_is_checked_before_apply() -> None:
    names = list(template_parameters(TEMPLATE))
    # Known keys, some values unknown until apply (ARNs, ids): the keys alone decide.
    known = {name: "x" for name in names[: len(names) // 2]}
    unknown = {name: True for name in names[len(names) // 2 :]}
    check_planned_outputs(planned({**known, **dict.fromkeys(unknown)}, unknown), TEMPLATE)
    check_planned_outputs(planned(None, True), TEMPLATE)  # the whole map unknown: nothing to check yet
    missing = {k: v for k, v in known.items() if k != names[0]}
    with pytest.raises(DeployError, match=f"lacks {names[0]}"):
        check_planned_outputs(planned(missing, unknown), TEMPLATE)
    with pytest.raises(DeployError, match="no output 'sam_parameters'"):
        check_planned_outputs({"output_changes": {}}, TEMPLATE)
