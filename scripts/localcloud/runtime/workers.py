"""One Lambda execution environment per function: the Runtime Interface Emulator that ships with SAM CLI
(`samcli/local/rapid/aws-lambda-rie-<arch>`, the same binary `sam local` runs inside its containers) driving
`awslambdaric`, the official Python runtime interface client, on this machine's Python 3.13.

The function sees what Lambda gives it: its built code dir first on sys.path, then each layer's `python/`, then a
runtime dir holding only awslambdaric and boto3 (like Lambda's /var/runtime; NOT the dev venv, so a dependency
missing from the layer fails here as it would in AWS), the template's environment variables, the reserved
AWS_LAMBDA_* variables, and AWS_ENDPOINT_URL pointing every SDK call at the emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from localcloud.runtime.esm import InvokeOutcome
from localcloud.runtime.model import FunctionSpec
from localcloud.state import DUMMY_CREDENTIALS, HOST

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# What the Lambda python3.13 runtime provides besides the standard library.
RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")


def rie_binary(architecture: str) -> Path:
    import samcli

    arch = "arm64" if architecture == "arm64" else "x86_64"
    path = Path(samcli.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{arch}"
    if not path.is_file():
        raise RuntimeError(f"SAM CLI's runtime interface emulator is missing: {path}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def build_runtime_site(target: Path) -> Path:
    """A directory with links to awslambdaric, boto3 and their dependencies only (Lambda's /var/runtime)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for dist in _closure(RUNTIME_DISTRIBUTIONS):
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".data")) or top in {"..", "__pycache__", "bin"}:
                continue
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())
    return target


def base_python() -> str:
    """The interpreter behind the venv: with -S it has no site-packages, only what PYTHONPATH adds."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


class RuntimeStopping(RuntimeError):
    """The runtime is shutting down: no execution environment may start, nothing is invoked."""


def parse_invoke_response(body: bytes) -> InvokeOutcome:
    """RIE answers 200 for everything; errors are recognised by their shape (as SAM CLI's parser does)."""
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        # A timeout or runtime crash comes back as plain text ("Task timed out after 3.00 seconds").
        return InvokeOutcome({"errorMessage": text.strip(), "errorType": "Runtime.Unknown"}, "Unhandled")
    if (
        isinstance(payload, dict)
        and "errorMessage" in payload
        and set(payload)
        <= {
            "errorMessage",
            "errorType",
            "stackTrace",
            "requestId",
            "cause",
        }
    ):
        return InvokeOutcome(payload, "Unhandled")
    return InvokeOutcome(payload, None)


class FunctionWorker:
    """A running execution environment for one function; invocations are serialised like one Lambda
    instance (RIE itself crashes on concurrent invokes)."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        endpoint_url: str,
        region: str,
        runtime_site: Path,
        workers_dir: Path,
        index: int = 0,
    ):
        self.spec = spec
        self.endpoint_url = endpoint_url
        self.region = region
        self.runtime_site = runtime_site
        self.workers_dir = workers_dir
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False  # set by close(): the runtime is stopping
        self.port = 0
        name = spec.logical_id if index == 0 else f"{spec.logical_id}-{index}"
        self.log_path = workers_dir / f"{name}.log"
        self.pid_path = workers_dir / f"{name}.pid"

    def environment(self) -> dict[str, str]:
        spec = self.spec
        # Lambda's order: /var/task (cwd, added by `-m`), /opt/python/lib/python3.13/site-packages, /opt/python,
        # then the runtime's own packages.
        python_path = [str(d / "python" / "lib" / "python3.13" / "site-packages") for d in spec.layer_dirs]
        python_path += [str(d / "python") for d in spec.layer_dirs]
        python_path.append(str(self.runtime_site))
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(python_path),
            "PYTHONDONTWRITEBYTECODE": "1",
            **spec.environment,
        }
        # Reserved variables win over the template's, as in Lambda.
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                **DUMMY_CREDENTIALS,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{spec.logical_id}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                "LAMBDA_RUNTIME_DIR": str(self.runtime_site),
                # What `sam local` sets: Powertools Tracer (X-Ray) disables itself, there is no daemon here.
                "AWS_SAM_LOCAL": "true",
            }
        )
        return env

    def start(self, timeout: float = 10.0) -> None:
        if self._closed:
            raise RuntimeStopping(f"{self.spec.logical_id}: the runtime is stopping")
        self.workers_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        runtime_api_port = free_port()
        cmd = [
            str(rie_binary(self.spec.architecture)),
            "--log-level",
            "error",
            # Both listeners on loopback only (RIE's default is 0.0.0.0:8080).
            "--runtime-interface-emulator-address",
            f"{HOST}:{self.port}",
            "--runtime-api-address",
            f"{HOST}:{runtime_api_port}",
            base_python(),
            "-S",
            "-m",
            "awslambdaric",
            self.spec.handler,
        ]
        log = self.log_path.open("ab")
        # Same process group as the runtime: stopping the runtime's group stops every worker.
        self._process = subprocess.Popen(
            cmd,
            cwd=self.spec.code_dir,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        if self._closed:  # close() ran while this was starting: it must not outlive the runtime
            self.stop()
            raise RuntimeStopping(f"{self.spec.logical_id}: the runtime is stopping")
        self.pid_path.write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.spec.logical_id}: RIE exited; see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.spec.logical_id}: RIE did not listen on {HOST}:{self.port}")

    def invoke(self, event: bytes) -> InvokeOutcome:
        """Raises RuntimeStopping once close() was called: a shutdown is not a function error, so a stream
        batch in flight is neither retried nor sent to the on-failure destination (its checkpoint stays)."""
        with self._lock:
            if self._closed:
                raise RuntimeStopping(f"{self.spec.logical_id}: the runtime is stopping")
            if self._process is None or self._process.poll() is not None:
                self.start()
            request = urllib.request.Request(
                f"http://{HOST}:{self.port}{INVOKE_PATH}",
                data=event,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.spec.timeout + 15) as resp:  # noqa: S310 (loopback http)
                    body = resp.read()
            except (urllib.error.URLError, OSError) as exc:
                # The environment died mid-invoke (e.g. the handler called os._exit): restart on next use.
                self.stop()
                if self._closed:  # it was stopped by the shutdown, not by the function
                    raise RuntimeStopping(f"{self.spec.logical_id}: the runtime is stopping") from exc
                return InvokeOutcome({"errorMessage": str(exc), "errorType": "Runtime.ExitError"}, "Unhandled")
            return parse_invoke_response(body)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()

    def close(self) -> None:
        """Stop for good (runtime shutdown): later invocations raise RuntimeStopping instead of restarting."""
        self._closed = True
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


class FunctionPool:
    """A function's execution environments. Like Lambda, concurrent invocations scale out to more environments
    (up to `max_size`); an idle environment is always reused first, so sequential calls stay warm in one."""

    def __init__(self, spec: FunctionSpec, factory: Callable[[int], FunctionWorker], max_size: int):
        self.spec = spec
        self._factory = factory
        self.max_size = max(1, max_size)
        self._all: list[FunctionWorker] = []
        self._idle: list[FunctionWorker] = []
        self._cond = threading.Condition()
        self._closed = False

    def start(self) -> None:
        """The first environment up front (its PID is known from the start); more only under load."""
        worker = self._factory(0)
        worker.start()
        with self._cond:
            self._all.append(worker)
            self._idle.append(worker)

    def _acquire(self) -> tuple[FunctionWorker, bool]:
        with self._cond:
            while not self._idle and len(self._all) >= self.max_size:
                self._cond.wait()
            if self._closed:
                raise RuntimeStopping(f"{self.spec.logical_id}: the runtime is stopping")
            if self._idle:
                return self._idle.pop(), False
            worker = self._factory(len(self._all))
            self._all.append(worker)
            return worker, True

    def invoke(self, event: bytes) -> InvokeOutcome:
        worker, new = self._acquire()
        try:
            if new:
                worker.start()
            return worker.invoke(event)
        finally:
            with self._cond:
                self._idle.append(worker)
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
        for worker in workers:
            worker.close()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._all if w.pid is not None]
