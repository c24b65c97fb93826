"""Issue 8, scripts: the emulator dies while `deploy.sh local` is in the middle of `terraform apply`.

Its own cloud (isolated state dir, free ports) and its own xdist group, so it can run on the other worker while
the tier's shared cloud is busy. The emulator is SIGKILLed (no chance to clean up) a moment after the terraform
stage starts. Expected: a clear one-line error naming the emulator and what to do, a non-zero exit in bounded
time, no runtime started and no emulator/terraform process left behind, and a plain re-run recovers (fresh
emulator, full apply, the API answers /health); `local.sh stop` then leaves nothing running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests
import tooling
from botocore.exceptions import BotoCoreError, ClientError
from localcloud import emulator as emu

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("emulator-dies")]

REPO = tooling.REPO_ROOT
# Terraform retries a refused connection (max_retries = 3 per call, several calls in flight): bounded, not fast.
FAILURE_TIMEOUT = 240
DEPLOY_TIMEOUT = 600
# The emulator is killed once `terraform apply` has created something in it (a half-applied cloud), at the latest
# this long after the apply started.
FIRST_RESOURCE_TIMEOUT = 60


def _env(root: Path) -> dict[str, str]:
    # Inherited TFSAM_/AWS_ variables (a developer's cloud, real credentials) must not leak into this cloud.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFSAM_", "AWS_"))}
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(emu.free_port())
    api, lam, emulator_port = sorted(ports)
    env.update(
        TFSAM_LOCAL_DIR=str(root),
        TFSAM_API_PORT=str(api),
        TFSAM_LAMBDA_PORT=str(lam),
        TFSAM_EMULATOR_PORT=str(emulator_port),
    )
    return env


def _script(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / args[0]), *args[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ours(root: Path, port: str) -> list[str]:
    """Live processes that belong to this cloud: their command line names its state dir or emulator port."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        line = _cmdline(int(entry))
        if str(root) in line or f"--port {port}" in line:
            found.append(f"{entry}: {line[:200]}")
    return found


def _wait_gone(root: Path, port: str, timeout: float = 15) -> list[str]:
    # A process that is exiting may still be listed for a moment after its parent returned.
    deadline = time.monotonic() + timeout
    left = _ours(root, port)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _ours(root, port)
    return left


def _wait_first_resource(endpoint_url: str) -> str | None:
    """The first project resource Terraform created in the emulator (so the kill leaves a half-applied cloud)."""
    kwargs = {"region_name": "ap-northeast-1", "endpoint_url": endpoint_url}
    creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    iam = boto3.client("iam", **kwargs, **creds)
    sqs = boto3.client("sqs", **kwargs, **creds)
    deadline = time.monotonic() + FIRST_RESOURCE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("tfsam-")]
            queues = sqs.list_queues().get("QueueUrls", [])
        except (BotoCoreError, ClientError):  # the emulator is busy under Terraform: keep polling
            roles, queues = [], []
        if roles or queues:
            return (roles + queues)[0]
        time.sleep(0.3)
    return None


def test_emulator_killed_mid_apply_fails_clearly_and_the_next_run_recovers(tmp_path: Path) -> None:
    root = tmp_path / "state"
    env = _env(root)
    timings: dict[str, float] = {}
    started = time.monotonic()
    deploy = subprocess.Popen(
        [str(REPO / "scripts" / "deploy.sh"), "local"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    apply_started = threading.Event()

    def reader() -> None:
        assert deploy.stdout is not None
        for line in deploy.stdout:
            lines.append(line.rstrip("\n"))
            if line.lstrip().startswith("$ terraform apply"):
                apply_started.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        assert apply_started.wait(DEPLOY_TIMEOUT), "\n".join(lines[-40:])
        timings["start -> terraform apply"] = time.monotonic() - started
        victim = emu.running(root / "emulator")
        assert victim is not None, "no emulator recorded in the state dir:\n" + "\n".join(lines[-40:])
        created = _wait_first_resource(victim.endpoint_url)
        timings["apply -> first resource"] = time.monotonic() - started - timings["start -> terraform apply"]
        assert deploy.poll() is None, "deploy ended before the emulator could be killed:\n" + "\n".join(lines)
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        code = deploy.wait(FAILURE_TIMEOUT)
        thread.join(10)
        timings["kill -> deploy exit"] = time.monotonic() - killed
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
            # deploy.sh's own children (terraform, its provider) would outlive it: end this cloud's processes only.
            for entry in _ours(root, env["TFSAM_EMULATOR_PORT"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.split(":")[0]), signal.SIGKILL)

    output = "\n".join(lines)
    assert code != 0, output[-3000:]
    assert "Traceback" not in output
    last = lines[-1] if lines else ""
    assert "emulator" in last and "deploy.sh local" in last, (
        f"last line is not a clear error: {last!r}\n{output[-3000:]}"
    )
    assert "==> [runtime]" not in output, "a runtime was started on a half-applied cloud"

    port = env["TFSAM_EMULATOR_PORT"]
    left = _wait_gone(root, port)
    assert not left, "orphaned processes after the failed deploy:\n" + "\n".join(left)
    assert not (root / "runtime.pid").exists()

    # Terraform records what it created before the emulator died: a half-applied state of a cloud that is gone.
    tfstate = root / "terraform" / "terraform.tfstate"
    half_applied = len(json.loads(tfstate.read_text())["resources"]) if tfstate.is_file() else 0
    assert half_applied, "the kill was meant to leave a half-applied cloud (resources in the Terraform state)"

    t0 = time.monotonic()
    recovered = _script(env, "deploy.sh", "local", timeout=DEPLOY_TIMEOUT)
    timings["recovery deploy"] = time.monotonic() - t0
    try:
        assert recovered.returncode == 0, recovered.stdout[-3000:] + recovered.stderr[-3000:]
        assert "started emulator pid" in recovered.stdout, "the re-run should start a fresh emulator"
        # ...which the re-run set aside instead of planning against resources that no longer exist.
        assert (root / "terraform" / "terraform.tfstate.previous-emulator").is_file()
        health = requests.get(f"http://127.0.0.1:{env['TFSAM_API_PORT']}/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    finally:
        stop = _script(env, "local.sh", "stop", timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    left = _wait_gone(root, port)
    assert not left, "processes left after local.sh stop:\n" + "\n".join(left)
    print("\nemulator-dies timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print(f"killed after {created or 'nothing (timeout)'} existed; {half_applied} resources in the half-applied state")
    watchdog = "interrupting terraform" in output
    print(f"deploy.sh interrupted terraform itself: {watchdog}; failed deploy's last line: {last}")
