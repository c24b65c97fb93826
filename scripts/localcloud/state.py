"""Where the local cloud keeps its state, and which loopback ports it uses.

Everything lives under one directory (`.local/` by default, or `$TFSAM_LOCAL_DIR`) so that a test can run a
whole isolated local cloud next to a developer's, and `local.sh stop` knows exactly what it started:

    <dir>/emulator/            moto.pid, moto.port, moto.log (localcloud.emulator's files)
    <dir>/terraform/           the emulator Terraform workspace (state, plan, override)
    <dir>/build/               sam build output when TFSAM_LOCAL_DIR is set (else <repo>/.aws-sam/build)
    <dir>/runtime.json         what the runtime runs: template, parameter values, endpoint, ports
    <dir>/runtime.pid|.log     the local runtime (API, stream poller, schedule, invoke service)
    <dir>/workers/<fn>.pid|.log one Lambda runtime interface emulator per function (children of the runtime)
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tooling

HOST = "127.0.0.1"
DEFAULT_API_PORT = 3000
DEFAULT_LAMBDA_PORT = 3001
DEFAULT_CONCURRENCY = 2
REGION = "ap-northeast-1"
ACCOUNT_ID = "123456789012"
# The emulator ignores credentials; these only keep SDKs from looking for real ones.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
RUNTIME_MODULE = "localcloud.runtime"


def host_architecture() -> str:
    """The Lambda architecture that runs natively here (what `deploy.sh local` builds for)."""
    return "arm64" if platform.machine().lower() in {"aarch64", "arm64"} else "x86_64"


@dataclass(frozen=True)
class LocalState:
    root: Path
    api_port: int
    lambda_port: int
    emulator_port: int | None
    isolated: bool
    function_concurrency: int = 2

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LocalState:
        env = os.environ if environ is None else environ
        custom = env.get("TFSAM_LOCAL_DIR")
        root = Path(custom).resolve() if custom else tooling.LOCAL_STATE_DIR
        emulator_port = env.get("TFSAM_EMULATOR_PORT")
        return cls(
            root=root,
            api_port=int(env.get("TFSAM_API_PORT", DEFAULT_API_PORT)),
            lambda_port=int(env.get("TFSAM_LAMBDA_PORT", DEFAULT_LAMBDA_PORT)),
            emulator_port=int(emulator_port) if emulator_port else None,
            isolated=bool(custom),
            # Execution environments per function under concurrent load (Lambda scales out; 2 cores here).
            function_concurrency=int(env.get("TFSAM_FUNCTION_CONCURRENCY", DEFAULT_CONCURRENCY)),
        )

    def with_recorded_ports(self) -> LocalState:
        """The ports the running runtime was started with (runtime.json), so `local.sh` needs no env vars."""
        config = read_json(self.runtime_config) or {}
        return LocalState(
            root=self.root,
            api_port=int(config.get("api_port", self.api_port)),
            lambda_port=int(config.get("lambda_port", self.lambda_port)),
            emulator_port=self.emulator_port,
            isolated=self.isolated,
            function_concurrency=self.function_concurrency,
        )

    @property
    def emulator_dir(self) -> Path:
        return self.root / "emulator"

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    @property
    def build_dir(self) -> Path:
        # The default build dir is the one `sam` commands use; an isolated state dir gets its own.
        return self.root / "build" if self.isolated else tooling.REPO_ROOT / ".aws-sam" / "build"

    @property
    def cache_dir(self) -> Path:
        # sam build's cache is content-addressed, so isolated runs may share it (and stay fast).
        return tooling.REPO_ROOT / ".aws-sam" / "cache"

    @property
    def build_stamp(self) -> Path:
        return self.root / "build.sha256"

    @property
    def runtime_config(self) -> Path:
        return self.root / "runtime.json"

    @property
    def runtime_pid(self) -> Path:
        return self.root / "runtime.pid"

    @property
    def runtime_log(self) -> Path:
        return self.root / "runtime.log"

    @property
    def workers_dir(self) -> Path:
        return self.root / "workers"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def lambda_url(self) -> str:
        return f"http://{HOST}:{self.lambda_port}"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int, marker: str) -> bool:
    """`pid` runs and its command line contains `marker` (a recycled PID belongs to someone else)."""
    return marker in process_cmdline(pid)


def runtime_pid(state: LocalState) -> int | None:
    """PID of this state dir's runtime if it is still running; removes a stale PID file."""
    pid = read_pid(state.runtime_pid)
    if pid is None:
        return None
    if alive(pid, RUNTIME_MODULE) and str(state.runtime_config) in process_cmdline(pid):
        return pid
    with contextlib.suppress(FileNotFoundError):
        state.runtime_pid.unlink()
    return None


def stop_process_group(pid: int, marker: str, timeout: float = 10.0) -> bool:
    """SIGTERM the process group led by `pid` (the runtime and the workers it spawned), then SIGKILL."""
    if not alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid, marker):
        time.sleep(0.1)
    if alive(pid, marker):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # A member that started while the group was being signalled (a worker restarted mid-shutdown) outlives the
    # leader: the group id stays valid while any member lives, so sweep it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return True


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
