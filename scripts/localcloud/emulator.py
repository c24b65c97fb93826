"""The embedded AWS emulator: a moto server on loopback, run as its own background process.

Public API (stable; the local cloud, deploy scripts and tests import it):

- ``start(state_dir, port=None, *, timeout=30.0) -> Emulator`` starts ``python -m localcloud.moto_shims``
  (moto plus the shims of :mod:`localcloud.moto_shims`) on 127.0.0.1, on ``port`` or a free one, writes
  ``moto.pid`` / ``moto.log`` / ``moto.port`` into ``state_dir`` and returns once the server answers *and* is
  the process it started (it listens on the port itself: another moto answering there is not ours). A ``port``
  another process holds raises :class:`PortInUse` before anything is started or written; if one takes it
  while moto starts, the new process is stopped (its ``moto.log`` stays) and :class:`PortInUse` is raised too.
- ``Emulator.endpoint_url`` is ``http://localhost:PORT`` (``localhost``, not 127.0.0.1: S3 path-style calls
  through Terraform's provider need it); ``Emulator.stop()`` ends that one process and nothing else.
- ``running(state_dir) -> Emulator | None`` re-attaches to a server another process started in ``state_dir``;
  ``stop(state_dir) -> bool`` stops it (only if the recorded PID is still our moto process);
  ``Emulator.listening()`` says whether that process is the one listening on its port.
- CLI: ``python -m localcloud.emulator start|stop|status --dir DIR [--port N]`` prints the endpoint URL.

The server runs with ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (AWS managed policies exist, so attachments work)
and ``DOCKER_HOST`` pointing at a socket that does not exist (moto must never start Lambda containers here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import tooling

from localcloud import ports

HOST = "127.0.0.1"
ENTRY_MODULE = "localcloud.moto_shims"
PID_FILE = "moto.pid"
LOG_FILE = "moto.log"
PORT_FILE = "moto.port"
ACCOUNT_ID = "123456789012"
FREE_PORT_ATTEMPTS = 3  # a port free_port() handed out can be taken before moto binds it (parallel test workers)


class PortInUse(RuntimeError):
    """The emulator's port is held by another process; no emulator of this call is left running."""

    def __init__(self, use: ports.PortUse):
        self.use = use
        super().__init__(f"port {use.port} on {HOST} is in use by {ports.describe(use)}")


def free_port(host: str = HOST) -> int:
    """A port the kernel just handed out (bind to 0); fixed ports collide between parallel test workers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of the moto process: project tools on PATH, managed policies loaded, Docker unreachable."""
    env = tooling.tool_env(base)
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    env["DOCKER_HOST"] = "unix:///nonexistent/moto-no-docker.sock"
    scripts = str(tooling.REPO_ROOT / "scripts")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (scripts, env.get("PYTHONPATH", "")) if p)
    return env


def _python() -> str:
    venv_python = tooling.VENV_BIN / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _is_our_process(pid: int) -> bool:
    """True if ``pid`` is alive and is a moto server started by this module (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return ENTRY_MODULE.encode() in cmdline


@dataclass
class Emulator:
    """A running moto server and the files that describe it."""

    port: int
    pid: int
    state_dir: Path
    process: subprocess.Popen[bytes] | None = None  # set only in the process that started it

    @property
    def endpoint_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_FILE

    def listening(self) -> bool:
        """This process itself listens on the port (so what answers there is this emulator, not another one)."""
        return ports.listens(self.pid, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate this server (SIGTERM, then SIGKILL after ``timeout``) and remove its pid/port files."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
        elif _is_our_process(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _is_our_process(self.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _is_our_process(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        for name in (PID_FILE, PORT_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()


def start(state_dir: Path, port: int | None = None, *, timeout: float = 30.0) -> Emulator:
    """Start moto (with shims) in the background and wait until it answers; raise with the log tail if not.

    Raises :class:`PortInUse` if another process holds ``port`` (checked first: nothing is started or written)
    or takes it while moto starts; with no ``port``, a free one is tried up to FREE_PORT_ATTEMPTS times.
    """
    state_dir = Path(state_dir)
    if port:  # 0 or None: a free port
        use = ports.in_use(port)
        if use is not None:
            raise PortInUse(use)
        return _start(state_dir, port, timeout)
    for attempt in range(1, FREE_PORT_ATTEMPTS + 1):
        try:
            return _start(state_dir, free_port(), timeout)
        except PortInUse:
            if attempt == FREE_PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _start(state_dir: Path, port: int, timeout: float) -> Emulator:
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / LOG_FILE).open("ab")
    process = subprocess.Popen(
        [_python(), "-m", ENTRY_MODULE, "--host", HOST, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=server_env(),
        cwd=state_dir,
        start_new_session=True,  # its own process group: a Ctrl-C in the caller's terminal does not hit it
    )
    log.close()
    emulator = Emulator(port=port, pid=process.pid, state_dir=state_dir, process=process)
    (state_dir / PID_FILE).write_text(f"{process.pid}\n")
    (state_dir / PORT_FILE).write_text(f"{port}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        # Only our own process counts: a moto of another local cloud on the same port answers too.
        if emulator.listening() and _healthy(port):
            return emulator
        time.sleep(0.2)
    emulator.stop()
    use = ports.in_use(port)
    if use is not None:  # moto's own words for this ("Port N is in use by another program") are in its log
        raise PortInUse(use)
    tail = (state_dir / LOG_FILE).read_text(errors="replace")[-2000:]
    raise RuntimeError(f"moto did not become healthy on port {port} within {timeout}s; log tail:\n{tail}")


def running(state_dir: Path) -> Emulator | None:
    """The emulator recorded in ``state_dir`` if its process is still alive, else None."""
    state_dir = Path(state_dir)
    try:
        pid = int((state_dir / PID_FILE).read_text())
        port = int((state_dir / PORT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return Emulator(port=port, pid=pid, state_dir=state_dir) if _is_our_process(pid) else None


def stop(state_dir: Path) -> bool:
    """Stop the emulator recorded in ``state_dir``; False if none was running."""
    emulator = running(state_dir)
    if emulator is None:
        return False
    emulator.stop()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=tooling.LOCAL_STATE_DIR / "emulator")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.action == "start":
        emulator = running(args.dir) or start(args.dir, args.port)
        print(emulator.endpoint_url)
        return 0
    if args.action == "stop":
        return 0 if stop(args.dir) else 1
    emulator = running(args.dir)
    if emulator is None:
        return 1
    print(emulator.endpoint_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
