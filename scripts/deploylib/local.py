"""`deploy.sh local`: the same two layers on the embedded cloud, skipping every step whose inputs are unchanged.

ports (each port this run binds must be free or held by this cloud's own processes; checked before anything
starts or is written) -> emulator (reused while healthy and provably its own) -> terraform (first apply straight
away; later a plan with -detailed-exitcode and an apply only when it shows changes) -> sam build (skipped when
sources + overrides hash is unchanged) -> local runtime (restarted only when the build or its configuration changed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tooling
from localcloud import emulator as emu
from localcloud import ports
from localcloud import terraform_workspace as tfw
from localcloud.state import (
    ACCOUNT_ID,
    HOST,
    REGION,
    RUNTIME_MODULE,
    LocalState,
    alive,
    host_architecture,
    read_json,
    runtime_pid,
    stop_process_group,
)

from deploylib import contract as app_contract
from deploylib import tfdiag
from deploylib.cli import Layout, Options
from deploylib.errors import DeployError
from deploylib.overrides import parameter_overrides
from deploylib.stages import StageRunner

PLAN_FILE = "local.tfplan"


def _healthy(endpoint_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint_url}/moto-api/", timeout=2) as resp:  # noqa: S310 (loopback)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def check_ports(state: LocalState, opts: Options) -> None:
    """Refuse, in one line and before anything starts or is written, a port this run needs that is taken.

    A port held by this cloud's own processes is fine: a redeploy reuses the emulator, and restarts the runtime
    only after stopping the old one. The emulator port is checked only when a new emulator will be started
    on TFSAM_EMULATOR_PORT (without it, the emulator takes a free port); the API and Lambda ports only when
    this run starts the runtime (not with --tf-only or --plan).
    """
    wanted: list[tuple[str, int, set[int]]] = []
    current = emu.running(state.emulator_dir)
    reused = current is not None and current.listening() and _healthy(current.endpoint_url)
    if not reused and state.emulator_port is not None:
        wanted.append(("TFSAM_EMULATOR_PORT", state.emulator_port, {current.pid} if current else set()))
    if not (opts.plan_only or opts.tf_only):
        runtime = runtime_pid(state)
        ours = {runtime} if runtime is not None else set()
        wanted += [("TFSAM_API_PORT", state.api_port, ours), ("TFSAM_LAMBDA_PORT", state.lambda_port, ours)]
    for variable, port, _ in wanted:
        if not 1 <= port <= 65535:
            raise DeployError(f"{variable}={port} is not a TCP port (1-65535): nothing was started")
    by_port: dict[int, list[str]] = {}
    for variable, port, _ in wanted:
        by_port.setdefault(port, []).append(variable)
    for port, variables in by_port.items():
        if len(variables) > 1:
            raise DeployError(f"{' and '.join(variables)} are both {port}: give each its own port; nothing was started")
    taken = []
    for variable, port, ours in wanted:
        use = ports.in_use(port)
        if use is not None and not use.held_only_by(ours):
            taken.append((variable, use))
    if taken:
        raise DeployError(ports_in_use_message(taken, state, "nothing was started"))


def ports_in_use_message(taken: list[tuple[str, ports.PortUse]], state: LocalState, outcome: str) -> str:
    """One line: each taken port, its variable and who holds it; what to set; how to stop a local cloud holding it."""
    held = [f"{use.port} ({variable}) by {ports.describe(use, state.root)}" for variable, use in taken]
    variables = ", ".join(variable for variable, _ in taken)
    if len(taken) == 1:
        head = f"port {held[0].replace(' by ', f' on {HOST} is in use by ', 1)}: set {variables} to a free port"
    else:
        head = f"ports on {HOST} are in use: {'; '.join(held)}: set {variables} to free ports"
    stops = [
        "./scripts/local.sh stop"
        if root == tooling.LOCAL_STATE_DIR
        else f"TFSAM_LOCAL_DIR={shlex.quote(str(root))} ./scripts/local.sh stop"
        for root in ports.other_clouds([use for _, use in taken], state.root)
    ]
    if stops:
        head += f" or stop that local cloud ({'; '.join(stops)})"
    return f"{head}; {outcome}"


def ensure_emulator(state: LocalState, runner: StageRunner) -> tuple[emu.Emulator, bool]:
    """(emulator, fresh): reuse the recorded one if it answers and is provably ours, else start one (empty)."""
    current = emu.running(state.emulator_dir)
    if current is not None and current.listening() and _healthy(current.endpoint_url):
        runner.say(f"    reusing emulator pid {current.pid} at {current.endpoint_url}")
        return current, False
    if current is not None:
        current.stop()
    try:
        started = emu.start(state.emulator_dir, state.emulator_port)
    except emu.PortInUse as exc:  # taken after check_ports looked (or a free port lost three times)
        raise DeployError(
            ports_in_use_message([("TFSAM_EMULATOR_PORT", exc.use)], state, "the emulator of this run was stopped")
        ) from exc
    except RuntimeError as exc:
        raise DeployError(
            f"the emulator did not start: {str(exc).splitlines()[0]} (log: {state.emulator_dir})"
        ) from exc
    runner.say(f"    started emulator pid {started.pid} at {started.endpoint_url}")
    return started, True


def apply_terraform(state: LocalState, endpoint_url: str, fresh: bool, runner: StageRunner, opts: Options) -> None:
    watched = emu.running(state.emulator_dir)
    stop_watch = threading.Event()
    if watched is not None:
        threading.Thread(
            target=_watch_emulator, args=(watched.pid, state.terraform_dir, stop_watch, runner.say), daemon=True
        ).start()
    try:
        _apply_terraform(state, endpoint_url, fresh, runner, opts)
    except DeployError as exc:
        if _healthy(endpoint_url):
            raise
        # The emulator died under Terraform: its raw error ("reading STS Caller Identity", "connection refused")
        # hides the cause. A re-run recovers: a dead emulator is replaced by a fresh one and the state of the
        # old one is set aside (see ensure_emulator / the `fresh` branch below).
        verb = str(exc).split(" failed:", 1)[0].removeprefix("terraform ")
        raise DeployError(
            f"the local emulator stopped during terraform {verb}: run ./scripts/deploy.sh local again"
            f" (emulator log: {state.emulator_dir / emu.LOG_FILE})"
        ) from exc
    finally:
        stop_watch.set()


def _watch_emulator(pid: int, workdir: Path, done: threading.Event, say: Callable[[str], None] = print) -> None:
    """Interrupt our Terraform once the emulator process is gone.

    Without it, a dead emulator leaves Terraform in the provider's resource waiters (which retry a refused
    connection until their own timeouts, many minutes): measured > 4 minutes with no output at all.
    """
    while not done.wait(1.0):
        if alive(pid, emu.ENTRY_MODULE):
            continue
        marker = f"-chdir={workdir}"
        children = _terraform_children(marker)
        if children:
            say(f"    emulator pid {pid} is gone: interrupting terraform (pid {', '.join(map(str, children))})")
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGINT)  # graceful: Terraform cancels and still writes its state
        if done.wait(20.0):
            return
        for child in _terraform_children(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        return


def _terraform_children(marker: str) -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ')'.
        if stat.rsplit(")", 1)[1].split()[1] == me and cmdline.startswith("terraform ") and marker in cmdline:
            found.append(int(entry))
    return found


def _apply_terraform(state: LocalState, endpoint_url: str, fresh: bool, runner: StageRunner, opts: Options) -> None:
    workdir = tfw.prepare(state.terraform_dir, endpoint_url)
    tfstate = workdir / "terraform.tfstate"
    if fresh and tfstate.exists():
        # A new emulator is an empty cloud: state from the previous one describes resources that are gone.
        tfstate.rename(workdir / "terraform.tfstate.previous-emulator")
    if not (workdir / ".terraform").is_dir() or not (workdir / ".terraform.lock.hcl").is_file():
        _tf(runner, ["init", "-input=false"], workdir)
    variables = [tfw.var_file("local"), "-var", f"lambda_architecture={host_architecture()}"]
    if not tfstate.exists() and not opts.plan_only:
        runner.say("    no state yet: applying directly")
        _tf(runner, ["apply", "-input=false", "-auto-approve", "-json", *variables], workdir)
        return
    # -json so that a failure carries the provider's whole diagnostic (see tfdiag); --plan shows the human form.
    machine = [] if opts.plan_only else ["-json"]
    result = _tf(
        runner,
        ["plan", "-input=false", "-detailed-exitcode", f"-out={PLAN_FILE}", *machine, *variables],
        workdir,
        ok=(0, 2),
    )
    if opts.plan_only:
        runner.say(result.stdout[-4000:])
        return
    if result.returncode == 0:
        runner.say("    no changes: nothing to apply")
        return
    _tf(runner, ["apply", "-input=false", "-json", PLAN_FILE], workdir)


def _tf(
    runner: StageRunner, args: list[str], workdir: Path, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    runner.say(f"    $ terraform {' '.join(args)}")
    result = tfw.run(args, workdir, check=False)
    if result.returncode not in ok:
        error = tfdiag.error_text(result.stdout or "", result.stderr or "")
        raise DeployError(f"terraform {args[0]} failed: {error} (workspace {workdir})")
    return result


def local_contract(endpoint_url: str, layout: Layout, runner: StageRunner) -> dict[str, str]:
    """The template's parameters from the contract Terraform published to the emulator's SSM, exactly as a real
    `--sam-only` reads it (no Terraform, no state)."""
    location = app_contract.Location(
        "local", os.environ.get(app_contract.PROJECT_ENV) or app_contract.DEFAULT_PROJECT, REGION, "the local cloud"
    )
    client = app_contract.ssm_client(
        REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 (moto)
    )
    runner.say(f"    {location.describe()}")
    contract = app_contract.read(location, client)
    return app_contract.template_check(location, contract, layout.template, runner.say)


def sources_hash(layout: Layout, overrides: list[str]) -> str:
    """Everything `sam build` reads: the template, function and layer sources, and the overrides."""
    digest = hashlib.sha256()
    digest.update("\0".join(overrides).encode())
    files = [layout.template]
    for folder in (layout.sam / "functions", layout.sam / "layers"):
        files += sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(layout.root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def runtime_code_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted((tooling.REPO_ROOT / "scripts" / "localcloud").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def sam_build(layout: Layout, state: LocalState, overrides: list[str], runner: StageRunner) -> str:
    build_hash = sources_hash(layout, overrides)
    built_template = state.build_dir / "template.yaml"
    if built_template.is_file() and state.build_stamp.is_file() and state.build_stamp.read_text() == build_hash:
        runner.say(f"    sources unchanged (sha256 {build_hash[:12]}): reusing {state.build_dir}")
        return build_hash
    state.root.mkdir(parents=True, exist_ok=True)
    state.cache_dir.mkdir(parents=True, exist_ok=True)
    # Isolated local clouds share sam build's dependency cache; two builds filling it at once corrupt it, so
    # builds take turns on a lock file beside it (released when the process exits, whatever happens).
    with (state.cache_dir.parent / "cache.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run_sam_build(layout, state, overrides, runner)
    state.build_stamp.write_text(build_hash)
    return build_hash


def _run_sam_build(layout: Layout, state: LocalState, overrides: list[str], runner: StageRunner) -> None:
    runner.run(
        [
            "sam",
            "build",
            "--template-file",
            str(layout.template),
            "--build-dir",
            str(state.build_dir),
            "--cached",
            "--cache-dir",
            str(state.cache_dir),
            "--parallel",
            "--parameter-overrides",
            *overrides,
        ],
        cwd=layout.root,
    )


def start_runtime(state: LocalState, config: dict[str, Any], runner: StageRunner) -> int:
    """Reuse the running runtime if it runs exactly this config; else (re)start it and wait until it answers."""
    pid = runtime_pid(state)
    if pid is not None and read_json(state.runtime_config) == config and _runtime_ready(state):
        runner.say(f"    runtime pid {pid} already runs this build: kept")
        return pid
    if pid is not None:
        runner.say(f"    stopping runtime pid {pid} (build or configuration changed)")
        stop_process_group(pid, RUNTIME_MODULE)
    # check_ports saw these free (or ours) before terraform; something may have taken one since.
    taken = [
        (variable, use)
        for variable, port in (("TFSAM_API_PORT", state.api_port), ("TFSAM_LAMBDA_PORT", state.lambda_port))
        if (use := ports.in_use(port)) is not None
    ]
    if taken:
        raise DeployError(ports_in_use_message(taken, state, "the runtime was not started"))
    state.runtime_config.write_text(json.dumps(config, indent=1))
    env = tooling.tool_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tooling.REPO_ROOT / "scripts"), env.get("PYTHONPATH")) if p)
    log = state.runtime_log.open("ab")
    process = subprocess.Popen(
        [str(tooling.VENV_BIN / "python"), "-m", RUNTIME_MODULE, "--config", str(state.runtime_config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=state.root,
        start_new_session=True,  # its own process group (its workers join it): stop = one killpg, by this PID
    )
    log.close()
    state.runtime_pid.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = state.runtime_log.read_text(errors="replace").strip().splitlines()[-1:]
            raise DeployError(f"the local runtime exited ({tail[0] if tail else 'no output'}); see {state.runtime_log}")
        if _runtime_ready(state):
            return process.pid
        time.sleep(0.2)
    raise DeployError(f"the local runtime did not answer within 60s; see {state.runtime_log}")


def _runtime_ready(state: LocalState) -> bool:
    return _runtime_info(state) is not None


def _runtime_info(state: LocalState) -> dict[str, Any] | None:
    """The runtime's /_local/status document, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{state.lambda_url}/_local/status", timeout=2) as resp:  # noqa: S310
            return dict(json.loads(resp.read())) if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def not_emulated_warnings(info: dict[str, Any] | None) -> list[str]:
    """One line per stream mapping whose template settings the local poller does not honour."""
    return [
        f"  WARNING:    stream -> {stream['function']}: not emulated locally ({', '.join(stream['notEmulated'])}); "
        "AWS behaves differently"
        for stream in (info or {}).get("streams", [])
        if stream.get("notEmulated")
    ]


def deploy_local(opts: Options, layout: Layout, runner: StageRunner) -> None:
    try:
        state = LocalState.from_env()
    except ValueError as exc:
        raise DeployError(
            f"TFSAM_API_PORT, TFSAM_LAMBDA_PORT, TFSAM_EMULATOR_PORT and TFSAM_FUNCTION_CONCURRENCY must be integers"
            f" ({exc}); nothing was started"
        ) from exc
    if opts.sam_only:
        current = emu.running(state.emulator_dir)
        if current is None or not current.listening() or not _healthy(current.endpoint_url):
            # Checked before anything starts: --sam-only must not bring up an empty cloud.
            raise DeployError(
                "the local emulator is not running, so there is no local infra: run ./scripts/deploy.sh local"
            )
    check_ports(state, opts)  # before the state dir is even created: a refused run leaves nothing behind
    state.root.mkdir(parents=True, exist_ok=True)
    with runner.stage("emulator", f"moto server on {HOST} (state in {state.root})"):
        emulator, fresh = ensure_emulator(state, runner)
    if not opts.sam_only:
        with runner.stage("terraform", "apply environments/local.tfvars to the emulator"):
            apply_terraform(state, emulator.endpoint_url, fresh, runner, opts)
        if opts.plan_only or opts.tf_only:
            return
    with runner.stage("contract", "the app contract from the emulator's SSM"):
        parameters = local_contract(emulator.endpoint_url, layout, runner)
        overrides = parameter_overrides(parameters)
    with runner.stage("build", f"sam build -> {state.build_dir}"):
        build_hash = sam_build(layout, state, overrides, runner)
    config = {
        "template": str(state.build_dir / "template.yaml"),
        "parameters": parameters,
        "endpoint_url": emulator.endpoint_url,
        "region": REGION,
        "account": ACCOUNT_ID,
        "api_port": state.api_port,
        "lambda_port": state.lambda_port,
        "state_dir": str(state.root),
        "build_hash": build_hash,
        "function_concurrency": state.function_concurrency,
        # The runtime's own code: editing the local cloud restarts it like a new build would.
        "runtime_hash": runtime_code_hash(),
    }
    with runner.stage("runtime", f"local runtime (API {state.api_url})"):
        pid = start_runtime(state, config, runner)
    local_sh = "./scripts/local.sh"
    runner.say(
        "\n".join(
            [
                "",
                f"  API:        {state.api_url}   (e.g. curl {state.api_url}/health)",
                f"  Emulator:   {emulator.endpoint_url}   (pid {emulator.pid})",
                f"  Lambda API: {state.lambda_url}   (runtime pid {pid})",
                f'  Next:       eval "$({local_sh} env)"; aws dynamodb scan --table-name {parameters.get("TableName")}',
                f"              {local_sh} invoke ScheduledFunction | {local_sh} logs | {local_sh} stop",
                *not_emulated_warnings(_runtime_info(state)),
            ]
        )
    )
