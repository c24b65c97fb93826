"""deploy.sh local never uses a port something else holds: it refuses up front, in one line, starting nothing.

Stand-ins (plain Python HTTP servers answering 200 to every GET, so they look like a healthy moto) play the
other programs: a second local cloud (their command lines carry `localcloud.moto_shims` / `localcloud.runtime
--config <dir>/runtime.json`, the emulator's working directory is `<dir>/emulator`, as the real ones do) or an
unrelated server. Nothing real is started: the emulator, Terraform, sam build and the runtime are replaced by
functions that fail the test if called. A refused run creates nothing at all: not even TFSAM_LOCAL_DIR.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from deploylib import cli, local
from deploylib.cli import Options
from deploylib.errors import DeployError
from localcloud import emulator as emu
from localcloud import ports
from localcloud.state import LocalState

# Serves HTTP 200 on every port in argv[1] ("p1,p2"); later argv words are only there to be seen in its cmdline.
FAKE_SERVER = r"""
import http.server, sys, threading
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
servers = [http.server.ThreadingHTTPServer(("127.0.0.1", int(p)), Ok) for p in sys.argv[1].split(",")]
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def serve() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """serve(ports, *marker_words, cwd=None): a stand-in server process, stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(port_list: list[int], *words: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        if cwd is not None:
            cwd.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_SERVER, ",".join(map(str, port_list)), *words],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def fake_other_cloud(
    serve: Callable[..., subprocess.Popen[str]], root: Path, emulator: int, api: int, lam: int
) -> tuple[int, int]:
    """A running local cloud in ``root``: (emulator pid, runtime pid)."""
    moto = serve([emulator], emu.ENTRY_MODULE, cwd=root / "emulator")
    runtime = serve([api, lam], "localcloud.runtime", "--config", str(root / "runtime.json"), cwd=root)
    return moto.pid, runtime.pid


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every step that would start or change something; the list names any that was reached."""
    reached: list[str] = []

    def forbid(name: str) -> Callable[..., None]:
        def called(*_args: object, **_kwargs: object) -> None:
            reached.append(name)
            raise AssertionError(f"{name} was started")

        return called

    monkeypatch.setattr(emu, "start", forbid("emulator"))
    monkeypatch.setattr(local, "apply_terraform", forbid("terraform"))
    monkeypatch.setattr(local.tfw, "run", forbid("terraform"))
    monkeypatch.setattr(local, "sam_build", forbid("sam build"))
    monkeypatch.setattr(local, "start_runtime", forbid("runtime"))
    monkeypatch.setattr(cli, "check_inputs", lambda *_args: None)  # tools on PATH: not what is tested here
    return reached


def deploy(monkeypatch: pytest.MonkeyPatch, root: Path, emulator: int | None, api: int, lam: int, *args: str) -> int:
    monkeypatch.setenv("TFSAM_LOCAL_DIR", str(root))
    monkeypatch.setenv("TFSAM_API_PORT", str(api))
    monkeypatch.setenv("TFSAM_LAMBDA_PORT", str(lam))
    if emulator is None:
        monkeypatch.delenv("TFSAM_EMULATOR_PORT", raising=False)
    else:
        monkeypatch.setenv("TFSAM_EMULATOR_PORT", str(emulator))
    return cli.main(["local", *args])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == "", "a refused run printed stages: something was started"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deploy.sh: error: "), err
    return lines[0]


def test_a_second_cloud_on_the_same_three_ports_is_refused_before_anything_starts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[..., subprocess.Popen[str]],
    nothing_starts: list[str],
) -> None:
    """The tester's case: clone A runs; clone B with the same ports used to talk to A's emulator."""
    emulator, api, lam = emu.free_port(), emu.free_port(), emu.free_port()
    other = tmp_path / "clone-a"
    moto_pid, runtime_pid = fake_other_cloud(serve, other, emulator, api, lam)
    ours = tmp_path / "clone-b"

    code = deploy(monkeypatch, ours, emulator, api, lam)

    line = one_error_line(capsys)
    assert code == 2
    assert nothing_starts == []
    assert not ours.exists(), "a refused run must not even create its state dir"
    assert (
        f"{emulator} (TFSAM_EMULATOR_PORT) by another local cloud's emulator (pid {moto_pid}, state dir {other})"
        in line
    )
    assert f"{api} (TFSAM_API_PORT) by another local cloud's runtime (pid {runtime_pid}, state dir {other})" in line
    assert f"{lam} (TFSAM_LAMBDA_PORT)" in line
    assert "set TFSAM_EMULATOR_PORT, TFSAM_API_PORT, TFSAM_LAMBDA_PORT to free ports" in line
    assert f"TFSAM_LOCAL_DIR={other} ./scripts/local.sh stop" in line
    assert line.endswith("nothing was started")


def test_only_the_emulator_port_taken_names_that_port_and_its_variable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[..., subprocess.Popen[str]],
    nothing_starts: list[str],
) -> None:
    emulator = emu.free_port()
    squatter = serve([emulator])  # an unrelated server that happens to answer like a healthy moto

    code = deploy(monkeypatch, tmp_path / "cloud", emulator, emu.free_port(), emu.free_port())

    line = one_error_line(capsys)
    assert code == 2 and nothing_starts == [] and not (tmp_path / "cloud").exists()
    comm = Path(f"/proc/{squatter.pid}/comm").read_text().strip()
    assert line == (
        f"deploy.sh: error: port {emulator} (TFSAM_EMULATOR_PORT) on 127.0.0.1 is in use by another program "
        f"(pid {squatter.pid}, {comm}): set TFSAM_EMULATOR_PORT to a free port; nothing was started"
    )


@pytest.mark.parametrize("variable", ["TFSAM_API_PORT", "TFSAM_LAMBDA_PORT"])
def test_a_taken_api_or_lambda_port_is_refused_before_the_emulator_and_terraform(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[..., subprocess.Popen[str]],
    nothing_starts: list[str],
    variable: str,
) -> None:
    """Before: found only after ~70 s of terraform and sam build, with the new emulator left running."""
    api, lam = emu.free_port(), emu.free_port()
    serve([api if variable == "TFSAM_API_PORT" else lam])

    code = deploy(monkeypatch, tmp_path / "cloud", emu.free_port(), api, lam)

    line = one_error_line(capsys)
    assert code == 2 and nothing_starts == [] and not (tmp_path / "cloud").exists()
    assert f"({variable}) on 127.0.0.1 is in use by another program" in line
    assert f"set {variable} to a free port" in line


def test_a_plain_socket_listener_counts_as_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nothing_starts: list[str]
) -> None:
    import socket

    with socket.socket() as squatter:  # held by this very test process: listening, answering nothing
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        api = squatter.getsockname()[1]
        code = deploy(monkeypatch, tmp_path / "cloud", None, api, emu.free_port())
    line = one_error_line(capsys)
    assert code == 2 and nothing_starts == []
    assert f"port {api} (TFSAM_API_PORT) on 127.0.0.1 is in use by another program" in line


def test_the_same_port_for_two_variables_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nothing_starts: list[str]
) -> None:
    port = emu.free_port()
    code = deploy(monkeypatch, tmp_path / "cloud", port, port, emu.free_port())
    line = one_error_line(capsys)
    assert code == 2 and nothing_starts == []
    assert line == (
        f"deploy.sh: error: TFSAM_EMULATOR_PORT and TFSAM_API_PORT are both {port}: give each its own port; "
        "nothing was started"
    )


def test_ports_held_by_this_clouds_own_processes_are_fine(
    tmp_path: Path, serve: Callable[..., subprocess.Popen[str]]
) -> None:
    """A redeploy: this cloud's emulator (reused) and runtime (restarted by start_runtime) hold the ports."""
    root = tmp_path / "cloud"
    emulator, api, lam = emu.free_port(), emu.free_port(), emu.free_port()
    moto = serve([emulator], emu.ENTRY_MODULE, cwd=root / "emulator")
    (root / "emulator" / emu.PID_FILE).write_text(f"{moto.pid}\n")
    (root / "emulator" / emu.PORT_FILE).write_text(f"{emulator}\n")
    runtime = serve([api, lam], "localcloud.runtime", "--config", str(root / "runtime.json"), cwd=root)
    (root / "runtime.pid").write_text(f"{runtime.pid}\n")
    state = LocalState.from_env(
        {
            "TFSAM_LOCAL_DIR": str(root),
            "TFSAM_EMULATOR_PORT": str(emulator),
            "TFSAM_API_PORT": str(api),
            "TFSAM_LAMBDA_PORT": str(lam),
        }
    )
    local.check_ports(state, Options(env="local"))  # raises DeployError on any conflict


def test_this_clouds_own_emulator_port_is_not_usable_as_its_api_port(
    tmp_path: Path, serve: Callable[..., subprocess.Popen[str]]
) -> None:
    root = tmp_path / "cloud"
    emulator = emu.free_port()
    moto = serve([emulator], emu.ENTRY_MODULE, cwd=root / "emulator")
    (root / "emulator" / emu.PID_FILE).write_text(f"{moto.pid}\n")
    (root / "emulator" / emu.PORT_FILE).write_text(f"{emulator}\n")
    state = LocalState.from_env(
        {"TFSAM_LOCAL_DIR": str(root), "TFSAM_API_PORT": str(emulator), "TFSAM_LAMBDA_PORT": str(emu.free_port())}
    )
    with pytest.raises(DeployError) as raised:
        local.check_ports(state, Options(env="local"))
    assert f"by this local cloud's emulator (pid {moto.pid}, state dir {root})" in str(raised.value)
    assert "local.sh stop" not in str(raised.value)  # stopping itself is not the advice


def test_tf_only_does_not_need_the_api_ports(tmp_path: Path, serve: Callable[..., subprocess.Popen[str]]) -> None:
    api = emu.free_port()
    serve([api])
    state = LocalState.from_env({"TFSAM_LOCAL_DIR": str(tmp_path / "cloud"), "TFSAM_API_PORT": str(api)})
    local.check_ports(state, Options(env="local", tf_only=True))
    with pytest.raises(DeployError):
        local.check_ports(state, Options(env="local"))


def test_emulator_start_refuses_a_taken_port_without_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Callable[..., subprocess.Popen[str]]
) -> None:
    port = emu.free_port()
    squatter = serve([port], emu.ENTRY_MODULE, cwd=tmp_path / "other" / "emulator")
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(emu.PortInUse) as raised:
        emu.start(tmp_path / "ours" / "emulator", port)
    assert str(raised.value) == (
        f"port {port} on 127.0.0.1 is in use by another local cloud's emulator "
        f"(pid {squatter.pid}, state dir {tmp_path / 'other'})"
    )
    assert not (tmp_path / "ours").exists()


# Stands in for moto: after moto's import time, it tries the port, and exits as moto does when it is taken.
FAKE_MOTO = r"""
import socket, sys, time
port = int(sys.argv[sys.argv.index("--port") + 1])
time.sleep(1.0)
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    sock.bind(("127.0.0.1", port))
except OSError:
    print(f"Port {port} is in use by another program. Either identify and stop that program, or start the server")
    sys.exit(1)
time.sleep(60)
"""


def test_a_healthy_moto_that_is_not_the_started_process_is_never_taken_for_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Callable[..., subprocess.Popen[str]]
) -> None:
    """The race the up-front check cannot close: the port is taken after it looked. Before, start() returned
    as soon as *anything* answered /moto-api/ on the port, and Terraform ran against the other cloud."""
    port = emu.free_port()
    other = serve([port], emu.ENTRY_MODULE, cwd=tmp_path / "other" / "emulator")
    real_in_use, checks = ports.in_use, []

    def free_at_first_look(port: int) -> ports.PortUse | None:  # the up-front check saw it free
        checks.append(port)
        return None if len(checks) == 1 else real_in_use(port)

    monkeypatch.setattr(ports, "in_use", free_at_first_look)
    real_popen = subprocess.Popen
    spawned: list[subprocess.Popen[bytes]] = []

    def fake_moto(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_popen([sys.executable, "-c", FAKE_MOTO, *args[3:]], **kwargs)  # type: ignore[call-overload]
        spawned.append(proc)
        return proc

    monkeypatch.setattr(subprocess, "Popen", fake_moto)
    state_dir = tmp_path / "ours" / "emulator"
    started = time.monotonic()
    with pytest.raises(RuntimeError) as raised:
        emu.start(state_dir, port, timeout=120)
    monkeypatch.undo()
    assert time.monotonic() - started < 60  # refused on sight, not after the start timeout
    assert str(raised.value) == (
        f"port {port} on 127.0.0.1 is in use by another local cloud's emulator "
        f"(pid {other.pid}, state dir {tmp_path / 'other'})"
    )
    assert spawned and spawned[0].poll() is not None, "the process started for this call is left running"
    assert other.poll() is None
    assert not (state_dir / emu.PID_FILE).exists() and not (state_dir / emu.PORT_FILE).exists()
    assert "is in use by another program" in (state_dir / emu.LOG_FILE).read_text()  # the log stays


def test_ensure_emulator_names_the_variable_when_the_port_is_lost_after_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use = ports.PortUse(5100, frozenset())
    monkeypatch.setattr(emu, "start", lambda *_a, **_k: (_ for _ in ()).throw(emu.PortInUse(use)))
    state = LocalState.from_env({"TFSAM_LOCAL_DIR": str(tmp_path), "TFSAM_EMULATOR_PORT": "5100"})
    with pytest.raises(DeployError) as raised:
        local.ensure_emulator(state, None)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "port 5100 (TFSAM_EMULATOR_PORT) on 127.0.0.1 is in use by another program: "
        "set TFSAM_EMULATOR_PORT to a free port; the emulator of this run was stopped"
    )


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        (
            "abc",
            "TFSAM_API_PORT, TFSAM_LAMBDA_PORT, TFSAM_EMULATOR_PORT and TFSAM_FUNCTION_CONCURRENCY must be integers",
        ),
        ("70000", "TFSAM_API_PORT=70000 is not a TCP port (1-65535): nothing was started"),
    ],
)
def test_a_port_variable_that_is_no_port_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    capsys: pytest.CaptureFixture[str],
    nothing_starts: list[str],
    api: str,
    expected: str,
) -> None:
    monkeypatch.setenv("TFSAM_LOCAL_DIR", str(tmp_path / "cloud"))
    monkeypatch.setenv("TFSAM_API_PORT", api)
    monkeypatch.setenv("TFSAM_LAMBDA_PORT", str(emu.free_port()))
    monkeypatch.delenv("TFSAM_EMULATOR_PORT", raising=False)
    code = cli.main(["local"])
    line = one_error_line(capsys)
    assert code == 2 and nothing_starts == [] and not (tmp_path / "cloud").exists()
    assert expected in line
