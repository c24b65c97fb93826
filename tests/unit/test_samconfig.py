"""sam/samconfig.toml acknowledges no CloudFormation capability, and the template needs none.

CloudFormation requires CAPABILITY_IAM/CAPABILITY_NAMED_IAM for AWS::IAM::* resources and CAPABILITY_AUTO_EXPAND
for nested applications or macros run without a change set, and answers a missing one with
InsufficientCapabilities; AWS documents no error for one a template does not need. So what keeps the app layer
free of IAM is the absence of the acknowledgement, checked here on both sides.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tooling

SAMCONFIG = tooling.REPO_ROOT / "sam" / "samconfig.toml"
# Resource types that need an acknowledgement (CreateChangeSet/CreateStack "Capabilities"): IAM ones, and nested
# stacks (a SAM AWS::Serverless::Application becomes one).
NEEDS_A_CAPABILITY = ("AWS::IAM::", "AWS::CloudFormation::Stack", "AWS::Serverless::Application")


def test_samconfig_acknowledges_no_capability() -> None:
    config = tomllib.loads(SAMCONFIG.read_text())
    found = [
        f"{env}.{command}"
        for env, commands in config.items()
        if isinstance(commands, dict)
        for command, section in commands.items()
        if "capabilities" in section.get("parameters", {})
    ]
    assert not found, f"samconfig.toml acknowledges capabilities in {found}: the template needs none"


def test_the_transformed_template_needs_no_capability(sam_transformed: dict[str, Any]) -> None:
    types = sorted({r["Type"] for r in sam_transformed["Resources"].values()})
    assert types, "the transform produced no resources"
    needing = [t for t in types if t.startswith(NEEDS_A_CAPABILITY)]
    assert not needing, f"these need a CloudFormation capability (and the app deployer has no IAM): {needing}"


def test_the_comment_says_what_aws_documents() -> None:
    # The old comment claimed an unneeded capability "fails the deploy"; AWS documents only the missing case.
    text = SAMCONFIG.read_text()
    assert "fails the deploy" not in text
    assert "InsufficientCapabilities" in text
