"""Helpers shared by the infra tests: a Terraform workspace bound to an emulator, and readers of Terraform JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from localcloud import emulator, terraform_workspace

REGION = "ap-northeast-1"


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


def _plain(value: Any) -> Any:
    """python-hcl2 (v8) keeps HCL string quotes and comment entries; turn its output into plain values."""
    if isinstance(value, str):
        return json.loads(value) if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if not str(k).startswith("__")}
    return value


def load_tfvars(environment: str) -> dict[str, Any]:
    """``terraform/environments/<environment>.tfvars`` as a plain dict."""
    import hcl2
    import tooling

    with (tooling.TERRAFORM_DIR / "environments" / f"{environment}.tfvars").open() as handle:
        return dict(_plain(hcl2.load(handle)))


@contextlib.contextmanager
def emulator_workspace(tmp_path_factory: Any, name: str) -> Iterator[Workspace]:
    """A fresh emulator (own free port) and an initialised workspace on it; the emulator is stopped after."""
    cloud = emulator.start(tmp_path_factory.mktemp(f"{name}-emulator"))
    try:
        path = terraform_workspace.prepare(tmp_path_factory.mktemp(f"{name}-tf"), cloud.endpoint_url)
        terraform_workspace.init(path)
        yield Workspace(path=path, cloud=cloud)
    finally:
        cloud.stop()
