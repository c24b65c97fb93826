"""deploy.sh local: a Terraform failure caused by the emulator dying is reported as that, with what to do."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from deploylib import local
from deploylib.cli import Options
from deploylib.errors import DeployError
from localcloud.state import LocalState

RAW = "terraform apply failed: Error: reading STS Caller Identity (workspace /x/terraform)"


def _fail(*_args: object) -> None:
    raise DeployError(RAW)


@pytest.mark.parametrize("emulator_alive", [True, False])
def test_terraform_failure_names_a_dead_emulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator_alive: bool
) -> None:
    monkeypatch.setattr(local, "_apply_terraform", _fail)
    monkeypatch.setattr(local, "_healthy", lambda _url: emulator_alive)
    state = LocalState.from_env({"TFSAM_LOCAL_DIR": str(tmp_path)})
    with pytest.raises(DeployError) as raised:
        local.apply_terraform(state, "http://localhost:1", False, None, Options(env="local"))  # type: ignore[arg-type]
    message = str(raised.value)
    if emulator_alive:
        # A real Terraform error (bad config, unsupported call) is passed through unchanged.
        assert message == RAW
    else:
        assert message.startswith("the local emulator stopped during terraform apply: run ./scripts/deploy.sh local")
        assert str(tmp_path / "emulator" / "moto.log") in message


def test_watchdog_interrupts_only_our_terraform_of_that_workspace(tmp_path: Path) -> None:
    """A dead emulator: Terraform (here a stand-in named `terraform`) is interrupted, another workspace's is not."""
    # Terraform (Go's signal.Notify) handles SIGINT even when it was started with SIGINT ignored, as a background
    # job of a non-interactive shell is; Python would keep ignoring it, so the stand-in installs its handler.
    sleeper = "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); time.sleep(60)"
    ours = subprocess.Popen(["terraform", "-c", sleeper, f"-chdir={tmp_path}/a"], executable=sys.executable)
    other = subprocess.Popen(["terraform", "-c", sleeper, f"-chdir={tmp_path}/b"], executable=sys.executable)
    dead = subprocess.Popen(["true"])
    dead.wait()  # its PID no longer runs the emulator: the watchdog must treat the emulator as gone
    done = threading.Event()
    try:
        started = time.monotonic()
        watch = threading.Thread(target=local._watch_emulator, args=(dead.pid, tmp_path / "a", done), daemon=True)
        watch.start()
        assert ours.wait(15) != 0  # SIGINT -> KeyboardInterrupt in the stand-in
        assert time.monotonic() - started < 10
        assert other.poll() is None
    finally:
        done.set()
        for proc in (ours, other):
            proc.kill()
            proc.wait()
