"""When Terraform fails, deploy.sh's error carries the provider's whole diagnostic (service, operation, status
code, AWS error code and message), not the headline its first line holds (issue 25).

A real Terraform and AWS provider apply a rule to a security group that does not exist in moto's server (the
emulator's, in this process): the provider's headline is only "creating VPC Security Group Rule".
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import tooling
from deploylib import local, tfdiag
from deploylib.errors import DeployError
from deploylib.stages import StageRunner
from localcloud import terraform_workspace as tfw
from moto_support import threaded_moto_server

pytestmark = pytest.mark.slow

MISSING_GROUP = "sg-0123456789abcdef0"


def _workspace(tmp_path: Path, endpoint_url: str) -> Path:
    versions = (tooling.TERRAFORM_DIR / "versions.tf").read_text()
    (tmp_path / "versions.tf").write_text(versions)
    (tmp_path / "main.tf").write_text(
        textwrap.dedent(
            f"""
            provider "aws" {{
              region = "{tfw.REGION}"
            }}

            resource "aws_vpc_security_group_egress_rule" "https" {{
              security_group_id = "{MISSING_GROUP}"
              cidr_ipv4         = "10.0.0.0/16"
              ip_protocol       = "tcp"
              from_port         = 443
              to_port           = 443
            }}
            """
        )
    )
    (tmp_path / tfw.OVERRIDE_FILE).write_text(tfw.override_hcl(endpoint_url))
    return tmp_path


def test_a_failed_apply_reports_the_providers_whole_error(tmp_path: Path) -> None:
    with threaded_moto_server() as endpoint_url:
        workdir = _workspace(tmp_path, endpoint_url)
        tfw.run(["init", "-input=false"], workdir)
        runner = StageRunner(tmp_path, {}, out=io.StringIO())
        with pytest.raises(DeployError) as raised:
            local._tf(runner, ["apply", "-input=false", "-auto-approve", "-json"], workdir)
    message = str(raised.value)
    assert "\n" not in message, message
    assert message.startswith("terraform apply failed: creating VPC Security Group Rule"), message
    # The provider's detail: the AWS call and AWS's answer, and the resource it was for.
    for part in (
        "AuthorizeSecurityGroupEgress",
        "StatusCode: 400",
        "InvalidGroup.NotFound",
        MISSING_GROUP,
        "aws_vpc_security_group_egress_rule.https",
    ):
        assert part in message, f"{part!r} missing from: {message}"


def test_human_output_keeps_each_error_with_its_detail_and_drops_the_source_excerpt() -> None:
    # `terraform init` has no -json form: its errors come as text blocks.
    stderr = textwrap.dedent(
        """
        Error: Failed to query available provider packages

          on versions.tf line 6, in terraform:
           6:     aws = {

        Could not retrieve the list of available versions for provider hashicorp/aws: no available releases

        Error: Unsupported argument

          with module.x,
          on main.tf line 3:
           3:   foo = 1

        An argument named "foo" is not expected here.
        """
    )
    assert tfdiag.error_text("", stderr) == (
        "Failed to query available provider packages Could not retrieve the list of available versions for "
        'provider hashicorp/aws: no available releases; Unsupported argument An argument named "foo" is not '
        "expected here."
    )


def test_json_warnings_are_not_errors_and_long_details_are_bounded() -> None:
    stdout = "\n".join(
        [
            '{"type":"diagnostic","diagnostic":{"severity":"warning","summary":"Deprecated","detail":"x"}}',
            "not json",
            '{"type":"diagnostic","diagnostic":{"severity":"error","summary":"creating X","detail":"'
            + "d" * (tfdiag.MAX_DETAIL + 50)
            + '"}}',
        ]
    )
    text = tfdiag.error_text(stdout, "")
    assert "Deprecated" not in text
    assert text.startswith("creating X: ddd") and text.endswith(" ...")
    assert len(text) < tfdiag.MAX_DETAIL + 40
