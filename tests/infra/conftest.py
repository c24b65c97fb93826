"""Fixtures of the infra tier: emulators, Terraform workspaces pointed at them, and helpers on rendered state.

Applying the module takes about a minute, so it happens once per module (module-scoped fixtures). Tests that
share an applied workspace carry ``xdist_group`` marks; ``pytest_xdist_make_scheduler`` below makes
``pytest tests/infra -n 2`` honour them (the apply module on one worker, the env plans on the other). Without
group scheduling the tests are still correct, only slower (each worker applies its own copy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from localcloud import emulator, terraform_workspace

REGION = "ap-northeast-1"


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule by xdist_group when tests/infra is run on its own with -n (the apply must run once)."""
    from xdist.scheduler import LoadGroupScheduling

    return LoadGroupScheduling(config, log)


@dataclass
class Workspace:
    """An initialised Terraform workspace bound to a running emulator."""

    path: Path
    cloud: emulator.Emulator

    def run(self, *args: str, check: bool = True) -> Any:
        return terraform_workspace.run(list(args), self.path, check=check)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.cloud.endpoint_url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulator.Emulator]:
    """A moto server of this module's own (free port), stopped by PID afterwards."""
    server = emulator.start(tmp_path_factory.mktemp("emulator"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def workspace(cloud: emulator.Emulator, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    path = terraform_workspace.prepare(tmp_path_factory.mktemp("tf"), cloud.endpoint_url)
    terraform_workspace.init(path)
    return Workspace(path=path, cloud=cloud)


def state_resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource (managed and data) of a ``terraform show -json`` document, modules included."""
    found: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        found.extend(module.get("resources", []))
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", {}).get("root_module", {}))
    return found


def plan_json(ws: Workspace, *var_args: str) -> dict[str, Any]:
    """``terraform plan`` with the given -var/-var-file arguments, returned as ``show -json`` of the plan."""
    ws.run("plan", "-input=false", "-lock=false", "-out=tfplan", *var_args)
    return json.loads(ws.run("show", "-json", "tfplan").stdout)
