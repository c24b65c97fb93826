"""Stopping the local cloud leaves no process behind, even when a worker would restart mid-shutdown."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from localcloud.runtime.model import FunctionSpec
from localcloud.runtime.workers import FunctionPool, FunctionWorker, RuntimeStopping
from localcloud.state import stop_process_group


def _worker(tmp_path: Path) -> FunctionWorker:
    spec = FunctionSpec(
        logical_id="Fn",
        function_name="tfsam-test-fn",
        handler="handler.handler",
        code_dir=tmp_path,
        layer_dirs=(),
        environment={},
        timeout=2,
        memory=128,
        architecture="x86_64",
        runtime="python3.13",
    )
    return FunctionWorker(
        spec, endpoint_url="http://localhost:1", region="ap-northeast-1", runtime_site=tmp_path, workers_dir=tmp_path
    )


def test_a_closed_worker_never_starts_an_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("an environment was started"))
    worker = _worker(tmp_path)
    worker.close()
    with pytest.raises(RuntimeStopping):
        worker.invoke(b"{}")  # before: a dead or missing environment was (re)started here


def test_a_stopped_pool_neither_scales_out_nor_invokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("an environment was started"))
    pool = FunctionPool(_worker(tmp_path).spec, lambda index: _worker(tmp_path), max_size=2)
    pool.stop()
    with pytest.raises(RuntimeStopping):
        pool.invoke(b"{}")


def test_stopping_the_group_also_stops_a_member_started_during_the_stop(tmp_path: Path) -> None:
    # A leader that, on SIGTERM, starts one more process in its group and exits: what a worker restarted by
    # the runtime mid-shutdown used to be. Its PID is written to a file so the test can look for it.
    marker = "tfsam-shutdown-probe"
    child_pid = tmp_path / "child.pid"
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, subprocess, sys, time, pathlib\n"
            "def late(*_):\n"
            "    p = subprocess.Popen(['sleep', '60'])\n"
            f"    pathlib.Path({str(child_pid)!r}).write_text(str(p.pid))\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, late)\n"
            "time.sleep(60)\n",
            marker,
        ],
        start_new_session=True,
    )
    time.sleep(0.5)  # the handler is installed
    try:
        assert stop_process_group(leader.pid, marker, timeout=5)
        leader.wait(5)
        late = int(child_pid.read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(late):
            time.sleep(0.05)
        assert not _alive(late), "a process started during the stop outlived it"
    finally:
        if leader.poll() is None:
            leader.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
