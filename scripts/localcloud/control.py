"""`scripts/local.sh {status|logs|stop|invoke FUNCTION [-e EVENT]|env}`: manage the local cloud.

`invoke` mirrors `sam local invoke`: the function's response on stdout, a summary on stderr, exit 1 on a
function error; with no event, a scheduled function gets the EventBridge event its schedule would send (and
any other function `{}`). An event file must be valid JSON: a missing or malformed one is refused (exit 2)
before anything is invoked. For an API Gateway proxy event the summary also gives the response's statusCode,
e.g. `ApiFunction: ok (invoke 200, API status 404)`: that status is information, not the exit code (exit 0
when the invoke worked, as `sam local invoke`), since a 404 or 400 is often the answer under test.
`stop` ends only the processes this state dir recorded, by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from localcloud import emulator as emu
from localcloud.state import (
    DUMMY_CREDENTIALS,
    REGION,
    RUNTIME_MODULE,
    LocalState,
    alive,
    read_json,
    read_pid,
    runtime_pid,
    stop_process_group,
)


class ControlError(Exception):
    pass


def _request(url: str, data: bytes | None = None, timeout: float = 330) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (loopback http)
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ControlError(f"the local runtime does not answer at {url}: run ./scripts/deploy.sh local") from exc


def runtime_status(state: LocalState) -> dict[str, Any] | None:
    if runtime_pid(state) is None:
        return None
    try:
        status, _, body = _request(f"{state.lambda_url}/_local/status", timeout=5)
    except ControlError:
        return None
    return json.loads(body) if status == 200 else None


def cmd_status(state: LocalState) -> int:
    em = emu.running(state.emulator_dir)
    print(f"state dir: {state.root}")
    print(f"emulator:  {f'pid {em.pid} at {em.endpoint_url}' if em else 'not running'}")
    pid = runtime_pid(state)
    info = runtime_status(state)
    if pid is None:
        print("runtime:   not running")
    else:
        print(
            f"runtime:   pid {pid}{'' if info else ' (not answering)'}; API {state.api_url}; Lambda {state.lambda_url}"
        )
    if info:
        for logical_id, fn in info["functions"].items():
            print(f"  {logical_id:<20} {fn['name']:<28} worker pids {' '.join(map(str, fn['pids'])) or '-'}")
        for stream in info["streams"]:
            print(f"  stream -> {stream['function']} (batch {stream['batchSize']}): {stream['stream']}")
            if stream.get("notEmulated"):
                print(f"    not emulated locally (AWS behaves differently): {', '.join(stream['notEmulated'])}")
        for schedule in info["schedules"]:
            print(f"  schedule {schedule['name']} {schedule['expression']} -> {schedule['function']}")
    return 0 if em and info else 1


def cmd_logs(state: LocalState, follow: bool) -> int:
    logs = [state.runtime_log, *sorted(state.workers_dir.glob("*.log")), state.emulator_dir / emu.LOG_FILE]
    existing = [p for p in logs if p.is_file()]
    if not existing:
        raise ControlError(f"no logs under {state.root}: run ./scripts/deploy.sh local")
    for path in existing:
        lines = path.read_text(errors="replace").splitlines()[-40:]
        print(f"==> {path} <==")
        print("\n".join(lines))
    if follow:
        offsets = {p: p.stat().st_size for p in existing}
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                for path in existing:
                    size = path.stat().st_size if path.exists() else 0
                    if size > offsets[path]:
                        with path.open("rb") as fh:
                            fh.seek(offsets[path])
                            sys.stdout.write(fh.read().decode(errors="replace"))
                        offsets[path] = size
                sys.stdout.flush()
                time.sleep(0.5)
    return 0


def cmd_stop(state: LocalState) -> int:
    stopped = []
    pid = read_pid(state.runtime_pid)
    if pid is not None and runtime_pid(state) is not None:
        stop_process_group(pid, RUNTIME_MODULE)
        stopped.append(f"runtime (pid {pid})")
    # Workers belong to the runtime's process group; one left behind by a crash is stopped by its own PID file.
    for pid_file in sorted(state.workers_dir.glob("*.pid")) if state.workers_dir.is_dir() else []:
        worker = read_pid(pid_file)
        if worker is not None and alive(worker, "aws-lambda-rie"):
            stop_process_group_member(worker)
            stopped.append(f"worker {pid_file.stem} (pid {worker})")
        pid_file.unlink(missing_ok=True)
    state.runtime_pid.unlink(missing_ok=True)
    em = emu.running(state.emulator_dir)
    if em is not None:
        em.stop()
        stopped.append(f"emulator (pid {em.pid})")
    else:  # stale files of an emulator that is gone
        for name in (emu.PID_FILE, emu.PORT_FILE):
            (state.emulator_dir / name).unlink(missing_ok=True)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def stop_process_group_member(pid: int) -> None:
    import os
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and alive(pid, "aws-lambda-rie"):
        time.sleep(0.1)
    if alive(pid, "aws-lambda-rie"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def read_event(event_path: str) -> bytes:
    """The event file's bytes ('-': stdin), refused unless they are JSON: Lambda would reject them anyway."""
    name = "the event on stdin" if event_path == "-" else f"event file {event_path}"
    try:
        event = sys.stdin.buffer.read() if event_path == "-" else Path(event_path).read_bytes()
    except OSError as exc:
        raise ControlError(f"cannot read {name}: {exc.strerror}; nothing was invoked") from exc
    try:
        json.loads(event)
    except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError for bytes that are no text
        raise ControlError(f"{name} is not valid JSON ({exc}); nothing was invoked") from exc
    return event


def cmd_invoke(state: LocalState, function: str, event_path: str | None) -> int:
    event = read_event(event_path) if event_path is not None else None
    if runtime_status(state) is None:
        raise ControlError("the local runtime is not running: run ./scripts/deploy.sh local")
    quoted = urllib.parse.quote(function, safe="")
    if event is None:
        info = runtime_status(state) or {}
        names = {s["function"] for s in info.get("schedules", [])}
        fn = info.get("functions", {}).get(function)
        if function in names or (fn is None and any(info["functions"][n]["name"] == function for n in names)):
            status, headers, body = _request(f"{state.lambda_url}/_local/schedules/{quoted}", data=b"")
            return _report(function, status, headers, body)
        event = b"{}"
    status, headers, body = _request(f"{state.lambda_url}/2015-03-31/functions/{quoted}/invocations", data=event)
    return _report(function, status, headers, body, event)


def is_api_event(event: bytes | None) -> bool:
    """An API Gateway proxy event: REST (`httpMethod` + `requestContext`) or HTTP API 2.0 (`requestContext.http`)."""
    try:
        parsed = json.loads(event) if event else None
    except ValueError:
        return False
    if not isinstance(parsed, dict) or not isinstance(parsed.get("requestContext"), dict):
        return False
    return "httpMethod" in parsed or "http" in parsed["requestContext"]


def api_status(body: bytes) -> str:
    """The proxy response's status for the summary: `API status 404`, or what is wrong with the response."""
    try:
        response = json.loads(body)
    except ValueError:
        return "response is not JSON"
    code = response.get("statusCode") if isinstance(response, dict) else None
    if code is None:
        return "no statusCode in the response"
    return f"API status {code}"


def _report(function: str, status: int, headers: dict[str, str], body: bytes, event: bytes | None = None) -> int:
    error = {k.lower(): v for k, v in headers.items()}.get("x-amz-function-error")
    if status == 404:
        raise ControlError(f"no function '{function}' in the template (use a logical id or function name)")
    sys.stdout.write(body.decode(errors="replace") + "\n")
    details = f"invoke {status}"
    if not error and status < 400 and is_api_event(event):
        details += f", {api_status(body)}"
    print(f"local.sh: {function}: {'error (' + error + ')' if error else 'ok'} ({details})", file=sys.stderr)
    return 1 if error or status >= 400 else 0


def cmd_env(state: LocalState) -> int:
    em = emu.running(state.emulator_dir)
    if em is None:
        raise ControlError("the emulator is not running: run ./scripts/deploy.sh local")
    config = read_json(state.runtime_config) or {}
    values = {
        "AWS_ENDPOINT_URL": em.endpoint_url,
        **DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": str(config.get("region", REGION)),
        "AWS_REGION": str(config.get("region", REGION)),
        "TFSAM_API_URL": state.api_url,
        "TFSAM_LAMBDA_ENDPOINT_URL": state.lambda_url,
    }
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local.sh", description="manage the local cloud")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="what runs, where")
    logs = sub.add_parser("logs", help="runtime, function and emulator logs")
    logs.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("stop", help="stop the runtime, its workers and the emulator (by PID)")
    invoke = sub.add_parser("invoke", help="invoke a function like `sam local invoke`")
    invoke.add_argument("function", help="logical id (e.g. ScheduledFunction) or function name")
    invoke.add_argument("-e", "--event", help="event JSON file ('-' for stdin); checked to be JSON before invoking")
    sub.add_parser("env", help='print exports for the AWS CLI/SDKs: eval "$(./scripts/local.sh env)"')
    args = parser.parse_args(argv)
    state = LocalState.from_env().with_recorded_ports()
    try:
        if args.command == "status":
            return cmd_status(state)
        if args.command == "logs":
            return cmd_logs(state, args.follow)
        if args.command == "stop":
            return cmd_stop(state)
        if args.command == "invoke":
            return cmd_invoke(state, args.function, args.event)
        return cmd_env(state)
    except ControlError as exc:
        print(f"local.sh: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # `local.sh status | head`: the reader may leave early, as with any Unix tool. The flush inside the try makes
    # a broken pipe surface here (Python's docs on SIGPIPE), not as a traceback at interpreter exit.
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141  # 128 + SIGPIPE: what a shell reports for a tool the pipe stopped
    raise SystemExit(code)
