"""Bad-input paths of deploy.sh / local.sh that tests/unit/test_deploylib_cli.py and tests/e2e do not cover.

Already covered elsewhere (not repeated): unknown environment and bad flags, missing tfvars/backend/terraform,
no AWS credentials for a real environment, --sam-only without a published contract or without a running local cloud, a
second `deploy.sh local` changing nothing, `local.sh stop` leaving no process.

Here: every local.sh command on an empty state dir; stale PID/port files (including a recycled PID that
belongs to an unrelated process, which must never be signalled); and, on the tier's cloud, a busy API port:
clear message, non-zero exit, no orphaned runtime, and the next run recovers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import tooling
from conftest import LocalCloud, isolated_env

pytestmark = [pytest.mark.slow]

REPO = tooling.REPO_ROOT


def local_sh(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / "local.sh"), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_local_sh_with_nothing_deployed(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "empty")
    status = local_sh(env, "status")
    assert status.returncode == 1 and "not running" in status.stdout
    for args in (("invoke", "ApiFunction"), ("env",), ("logs",)):
        result = local_sh(env, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "local.sh: error:" in result.stderr and "deploy.sh local" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    stop = local_sh(env, "stop")
    assert stop.returncode == 0 and "nothing was running" in stop.stdout
    unknown = local_sh(env, "frobnicate")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_stale_state_files_are_cleaned_and_foreign_pids_never_signalled(tmp_path: Path) -> None:
    root = tmp_path / "stale"
    env = isolated_env(root)
    # A long-lived process of ours that is NOT part of any local cloud stands in for a recycled PID.
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        (root / "emulator").mkdir(parents=True)
        (root / "workers").mkdir()
        (root / "runtime.pid").write_text(f"{bystander.pid}\n")
        (root / "emulator" / "moto.pid").write_text(f"{bystander.pid}\n")
        (root / "emulator" / "moto.port").write_text("1\n")
        (root / "workers" / "ApiFunction.pid").write_text(f"{bystander.pid}\n")
        status = local_sh(env, "status")
        assert status.returncode == 1 and "not running" in status.stdout
        stop = local_sh(env, "stop")
        assert stop.returncode == 0, stop.stderr
        assert bystander.poll() is None, "stop signalled a process that is not the local cloud's"
        leftovers = [p for p in root.rglob("*.pid")] + list(root.rglob("moto.port"))
        assert not leftovers, f"stale files survive stop: {leftovers}"
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.xdist_group("localcloud-reliability")
def test_busy_api_port_fails_clearly_and_the_next_run_recovers(local_cloud: LocalCloud) -> None:
    """Runs last in the tier (file order): a refused run changes nothing, the next one redeploys."""
    pid_file = local_cloud.root / "runtime.pid"
    runtime_before = pid_file.read_text() if pid_file.exists() else None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        env = {**local_cloud.env, "TFSAM_API_PORT": str(busy)}
        failed = subprocess.run(
            [str(REPO / "scripts" / "deploy.sh"), "local"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert f"{busy} (TFSAM_API_PORT)" in output and "in use" in output, output[-2000:]
    assert "Traceback" not in output
    # Refused before anything started (no terraform, no build): the running cloud is left exactly as it was.
    assert "==> [terraform" not in failed.stdout and "==> [build" not in failed.stdout, failed.stdout[-2000:]
    assert (pid_file.read_text() if pid_file.exists() else None) == runtime_before
    if runtime_before:
        pid = int(runtime_before.split()[0])
        assert b"localcloud.runtime" in Path(f"/proc/{pid}/cmdline").read_bytes()

    recovered = local_cloud.script("deploy.sh", "local", timeout=600)
    assert recovered.returncode == 0, recovered.stdout[-2000:] + recovered.stderr[-2000:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{local_cloud.api_url}/health", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.5)
    assert requests.get(f"{local_cloud.api_url}/health", timeout=5).json()["status"] == "ok"


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
