"""Cold init of each function vs the floor (``import boto3`` + a DynamoDB client), in fresh interpreters.

Each sample is a new ``python -I -S`` process (no site-packages) whose ``sys.path`` is what Lambda gives the
function: its code directory, the layer's ``service`` package and the layer's dependency closure
(:mod:`bench.lambda_site`). The environment is the template's (Globals + the function's variables) plus what
the Lambda runtime sets with ``Tracing: Active`` (``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``...), so Powertools
sees a real Lambda and tracing, metrics and validation are all on.

Rounds interleave the floor and the functions (rotating the order) so that a noisy neighbour slows all of
them alike; the statistic is the median per target. With a table endpoint, each process then serves its
first request too (init + first response is what a caller waits for), and reports which modules the X-Ray SDK
patched, which proves tracing of the SDK is really on after the first request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import fixture, lambda_site
from bench.stats import median

REPO = lambda_site.REPO
CHILD = Path(__file__).resolve().parent / "_child.py"
FUNCTIONS = {"api": "api_handler", "processor": "processor_handler", "scheduled": "scheduled_handler"}
FLOOR = "floor"
# What the Lambda runtime puts in every function's environment (python3.13, Tracing: Active).
RUNTIME_ENV = {
    "AWS_REGION": fixture.REGION,
    "AWS_DEFAULT_REGION": fixture.REGION,
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "LANG": "en_US.UTF-8",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "PYTHONDONTWRITEBYTECODE": "",
    **fixture.CREDENTIALS,
}


def template_env(function: str, table: str) -> dict[str, str]:
    """The variables sam/template.yaml gives the function (Globals + its own), for environment "local"."""
    return {
        "ENVIRONMENT": "local",
        "TABLE_NAME": table,
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "tfsam-local",
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        "POWERTOOLS_SERVICE_NAME": function,
    }


def child_env(function: str, table: str, endpoint: str | None, xray_address: str) -> dict[str, str]:
    env = {**RUNTIME_ENV, **template_env(function, table)}
    env["LAMBDA_TASK_ROOT"] = str(REPO / "sam" / "functions" / function)
    env["AWS_LAMBDA_FUNCTION_NAME"] = f"tfsam-local-{function}"
    # Segments go over UDP to a loopback port nobody reads (the daemon's job); sending them is part of the cost.
    env["AWS_XRAY_DAEMON_ADDRESS"] = xray_address
    if endpoint:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    if function == "scheduled":
        # The seeded table has no stats rows, so the job finds drift and would sleep its settle wait (20 s by
        # default) before repairing: a deliberate wait for the stream, not work, so the benchmark times it as 0.
        env["STATS_SETTLE_SECONDS"] = "0"
    return env


def child_paths(function: str, site: Path) -> list[str]:
    return [str(REPO / "sam" / "functions" / function), str(lambda_site.LAYER_SRC), str(site)]


def first_event(function: str, table: fixture.Table | None) -> dict[str, Any] | None:
    """The first request each target serves: GET of the seeded item, its INSERT record, a new schedule tick."""
    if table is None:
        return None
    if function == FLOOR:
        return table.get_item_args()
    if function == "api":
        return fixture.event("api-get-item")
    if function == "processor":
        batch = fixture.event("stream-insert")
        for record in batch["Records"]:
            record["eventID"] = uuid.uuid4().hex  # a fresh stream event: applied, not a ledger duplicate
        return batch
    tick = fixture.event("schedule-daily")
    tick["time"] = f"2099-01-01T00:00:00.{uuid.uuid4().int % 10**6:06d}Z"  # a new idempotency key per run
    return tick


def run_child(spec: dict[str, Any], env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    python = sys.executable
    proc = subprocess.run(
        [python, "-I", "-S", str(CHILD), json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{spec['target']} failed (rc={proc.returncode}): {proc.stderr[-1500:]}")
    return dict(json.loads(lines[-1]))


@dataclass
class Samples:
    init_s: list[float] = field(default_factory=list)
    init_cpu_s: list[float] = field(default_factory=list)
    first_total_s: list[float] = field(default_factory=list)  # init + first request
    results: list[Any] = field(default_factory=list)
    patched: list[list[str]] = field(default_factory=list)

    @property
    def init(self) -> float:
        return median(self.init_s)

    @property
    def first_total(self) -> float | None:
        return median(self.first_total_s) if self.first_total_s else None


def measure(
    rounds: int,
    site: Path,
    table: fixture.Table | None = None,
    targets: tuple[str, ...] = (FLOOR, *FUNCTIONS),
    xray_address: str = "127.0.0.1:2000",
) -> dict[str, Samples]:
    """``rounds`` fresh processes per target, interleaved; with ``table`` each also serves a first request."""
    found = {target: Samples() for target in targets}
    table_name = table.name if table else fixture.TABLE
    endpoint = table.endpoint if table else None
    for index in range(rounds):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            function = "api" if target == FLOOR else target
            spec = {
                "paths": child_paths(function, site),
                "target": FLOOR if target == FLOOR else FUNCTIONS[target],
                "event": first_event(target, table),
            }
            out = run_child(spec, child_env(function, table_name, endpoint, xray_address))
            samples = found[target]
            samples.init_s.append(out["init_s"])
            samples.init_cpu_s.append(out["init_cpu_s"])
            if out["first_s"] is not None:
                samples.first_total_s.append(out["init_s"] + out["first_s"])
            samples.results.append(out["result"])
            samples.patched.append(out["patched"])
    return found


def build_site(work: Path) -> Path:
    site = work / "lambda-site"
    lambda_site.build(site)
    return site
