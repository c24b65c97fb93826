"""``deploy.sh local`` from nothing, then the no-change redeploy, on an isolated local cloud.

The local cloud honours ``TFSAM_LOCAL_DIR`` and ``TFSAM_*_PORT`` (scripts/localcloud/state.py), so this run
gets its own state directory and free ports and never touches a developer's ``.local``. ``sam build``'s
content-addressed cache (``.aws-sam/cache``) is shared by design, so "from nothing" means no emulator, no
Terraform state and no build output, but possibly warm dependency wheels. The cloud is stopped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import lambda_site

REPO = lambda_site.REPO


@dataclass(frozen=True)
class DeployResult:
    first_s: float
    redeploy_s: float


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> float:
    started = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}; log tail:\n{tail}")
    return elapsed


def measure(work: Path, timeout: float = 600) -> DeployResult:
    env = dict(os.environ)
    env.update(
        TFSAM_LOCAL_DIR=str(work / "localcloud"),
        TFSAM_API_PORT=str(_free_port()),
        TFSAM_LAMBDA_PORT=str(_free_port()),
    )
    env.pop("TFSAM_EMULATOR_PORT", None)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "deploy.log"
    deploy = [str(REPO / "scripts" / "deploy.sh"), "local"]
    try:
        first = _run(deploy, env, log, timeout)
        again = _run(deploy, env, log, timeout)
    finally:
        subprocess.run([str(REPO / "scripts" / "local.sh"), "stop"], cwd=REPO, env=env, capture_output=True)
    return DeployResult(first, again)
