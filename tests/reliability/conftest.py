"""Fixtures of the reliability tier: ONE local cloud for the whole tier, deployed through the real entry point.

``scripts/deploy.sh local`` runs with an isolated state dir (``TFSAM_LOCAL_DIR``) and free ports
(``TFSAM_API_PORT``/``TFSAM_LAMBDA_PORT``/``TFSAM_EMULATOR_PORT``), so it never touches a developer's ``.local/``
cloud or another worker's; ``scripts/local.sh stop`` with the same environment ends exactly what it started.
Every test that uses it carries ``xdist_group("localcloud-reliability")`` so ``--dist loadgroup`` keeps them on
one worker (one deploy).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import tooling
from iamcheck.rendered import RoleDocuments, roles_from_show
from localcloud import emulator
from localcloud import terraform_workspace as tfw

REPO = tooling.REPO_ROOT
DEPLOY_TIMEOUT = 900


@dataclass
class LocalCloud:
    root: Path
    env: dict[str, str]
    api_url: str
    lambda_url: str
    endpoint_url: str
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name="ap-northeast-1",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    @property
    def table_name(self) -> str:
        return str(self.outputs["table_name"])

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    def script(
        self, *args: str, timeout: float = 120, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(REPO / "scripts" / args[0]), *args[1:]],
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def isolated_env(root: Path) -> dict[str, str]:
    """Environment for a local cloud of its own: state dir under ``root`` and three free loopback ports."""
    ports = set()
    while len(ports) < 3:
        ports.add(emulator.free_port())
    api, lam, emu = sorted(ports)
    env = dict(os.environ)
    env.update(
        {
            "TFSAM_LOCAL_DIR": str(root),
            "TFSAM_API_PORT": str(api),
            "TFSAM_LAMBDA_PORT": str(lam),
            "TFSAM_EMULATOR_PORT": str(emu),
        }
    )
    return env


ATTACH_ENV = "TFSAM_RELIABILITY_ATTACH"


def _attach(root: Path) -> LocalCloud:
    """A cloud someone already deployed with TFSAM_LOCAL_DIR=root (iterating on the tier; never stopped here)."""
    config = json.loads((root / "runtime.json").read_text())
    env = dict(os.environ)
    env.update(
        {
            "TFSAM_LOCAL_DIR": str(root),
            "TFSAM_API_PORT": str(config["api_port"]),
            "TFSAM_LAMBDA_PORT": str(config["lambda_port"]),
        }
    )
    return LocalCloud(
        root=root,
        env=env,
        api_url=f"http://127.0.0.1:{config['api_port']}",
        lambda_url=f"http://127.0.0.1:{config['lambda_port']}",
        endpoint_url=str(config["endpoint_url"]),
        outputs=tfw.outputs(root / "terraform"),
    )


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The tier's cloud. ``TFSAM_RELIABILITY_ATTACH=<state dir>`` reuses a running one (developer loop)."""
    if os.environ.get(ATTACH_ENV):
        yield _attach(Path(os.environ[ATTACH_ENV]).resolve())
        return
    root = tmp_path_factory.mktemp("reliability-cloud")
    env = isolated_env(root)
    run = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "local"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT,
    )
    try:
        if run.returncode != 0:
            pytest.fail(f"deploy.sh local failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        port = (root / "emulator" / "moto.port").read_text().strip()
        cloud = LocalCloud(
            root=root,
            env=env,
            api_url=f"http://127.0.0.1:{env['TFSAM_API_PORT']}",
            lambda_url=f"http://127.0.0.1:{env['TFSAM_LAMBDA_PORT']}",
            endpoint_url=f"http://localhost:{port}",
            outputs=tfw.outputs(root / "terraform"),
        )
        yield cloud
    finally:
        subprocess.run(
            [str(REPO / "scripts" / "local.sh"), "stop"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )


@pytest.fixture(scope="session")
def terraform_show(local_cloud: LocalCloud) -> dict[str, Any]:
    result = tfw.run(["show", "-json"], local_cloud.terraform_dir)
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="session")
def rendered_roles(terraform_show: dict[str, Any]) -> dict[str, RoleDocuments]:
    return roles_from_show(terraform_show)
