"""Fixtures shared by every tier. Tier-specific fixtures live in tests/<tier>/conftest.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
import tooling


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return tooling.REPO_ROOT


@pytest.fixture(scope="session")
def tool_env() -> dict[str, str]:
    """Environment for subprocesses: the bootstrapped venv and Terraform's offline provider config."""
    return tooling.tool_env()


def free_port() -> int:
    """A loopback port nothing listens on right now (tests run in parallel: never hard-code ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def sam_transformed() -> dict[str, Any]:
    """sam/template.yaml through the SAM transform, offline: the CloudFormation template AWS would run."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    parsed = yaml_parse((tooling.REPO_ROOT / "sam" / "template.yaml").read_text())
    # What `sam package` does before CloudFormation sees the template: local paths become S3 URIs.
    for name, resource in parsed["Resources"].items():
        for prop in ("CodeUri", "ContentUri"):
            if prop in resource["Properties"]:
                resource["Properties"][prop] = f"s3://artifacts/{name}.zip"
    params = {"Environment": "dev", "LambdaArchitecture": "arm64"}

    class _Loader:
        def load(self, *_args: Any, **_kwargs: Any) -> dict[str, Any]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    return dict(transform(parsed, params, _Loader()))
