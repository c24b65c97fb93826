"""Warm API request overhead: GET /items/{id} through the handler vs the raw GetItem it performs.

Each side runs in a Lambda-like process (:mod:`bench.coldstart`) that stays up like a warm Lambda
environment, against the same seeded moto table: the handler with tracing, metrics, logging and validation
on, the baseline as a bare ``boto3`` client with the app's client settings (``service.dal.client.CLIENT_CONFIG``),
unpatched, in its own process (X-Ray patches botocore class-wide). After a warm-up that reaches steady state,
the processes take turns in small blocks (the order rotates every round) so machine noise hits all of them
alike; the statistic is the p50 of all timed requests per side.

Why long-lived: a warm Lambda environment serves invocation after invocation from one process, and a
process's first requests include one-off work (SDK client, X-Ray patch, validators built on first use).

Tracing: with ``Tracing: Active`` Lambda decides per invocation whether X-Ray samples it (default rule: the
first request each second, then 5%), and hands the decision to the function in ``_X_AMZN_TRACE_ID``. The judged
figure follows that rule, so its p50 is what a deployed function's typical request pays; the same handler with
every request sampled (segments built, serialised and sent) is reported beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import coldstart, fixture, lambda_site
from bench.stats import paired_ratio_interval, percentile

_MARK = "@@"  # bench/_child.py's answer prefix


def app_client_config() -> dict[str, object]:
    """The app's botocore Config arguments: the baseline GetItem uses the very same client settings."""
    import sys

    if str(lambda_site.LAYER_SRC) not in sys.path:
        sys.path.insert(0, str(lambda_site.LAYER_SRC))
    from service.dal.client import CLIENT_CONFIG

    return dict(CLIENT_CONFIG)


# The processes that take turns: the baseline, the judged handler and two handlers that attribute the gap.
KINDS: dict[str, dict[str, Any]] = {
    "raw": {"target": "floor"},  # bare boto3 GetItem with the app's client settings
    "default": {"trace": "lambda-default"},  # the handler, X-Ray's default sampling: the judged figure
    "all": {"trace": "all"},  # the handler, every request sampled (worst case)
    "untraced": {"trace": "lambda-default", "env": {"POWERTOOLS_TRACE_DISABLED": "true"}},  # what X-Ray costs
}


@dataclass(frozen=True)
class WarmResult:
    samples: dict[str, list[float]]  # seconds per request, by kind, in the order timed
    statuses: set[object]
    sampled: int  # requests sampled under the default rule
    block: int = 20  # requests per turn: samples[kind][i * block:(i + 1) * block] is turn i

    def p50(self, kind: str) -> float:
        return percentile(self.samples[kind], 50)

    def ratio(self, kind: str) -> float:
        return self.p50(kind) / self.p50("raw")

    def interval(self, kind: str) -> tuple[float, float]:
        """95% bootstrap interval of ``ratio(kind)`` over turns (each turn's blocks were timed side by side)."""
        size = self.block
        turns = range(0, len(self.samples["raw"]), size)
        return paired_ratio_interval(
            [(self.samples[kind][i : i + size], self.samples["raw"][i : i + size]) for i in turns]
        )


class _WarmProcess:
    """One ``_child`` in serve mode: warmed up once, then asked for blocks of timed requests."""

    def __init__(self, spec: dict[str, Any], env: dict[str, str], stderr: Any) -> None:
        self.spec = spec
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(coldstart.CHILD), json.dumps({**spec, "serve": True})],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )

    def _answer(self) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # lines without the mark are the handler's own logs
            if line.startswith(_MARK):
                body = line[len(_MARK) :].strip()
                return body if body == "ready" else json.loads(body)
        raise RuntimeError(f"{self.spec['target']} exited (rc={self.proc.wait()}) before answering")

    def ready(self) -> None:
        if self._answer() != "ready":
            raise RuntimeError(f"{self.spec['target']} did not start serving")

    def time(self, n: int) -> list[float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return list(self._answer())

    def finish(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        summary = dict(self._answer())
        self.proc.wait(timeout=30)
        return summary

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def measure(site: Path, table: fixture.Table, requests: int = 1200, block: int = 20, warmup: int = 300) -> WarmResult:
    """One warm process per kind (``KINDS``); they take turns for ``block`` requests until each has timed
    ``requests``. Each handler request gets its own trace header, as Lambda sets one per invocation."""
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    base_env = coldstart.child_env("api", table.name, table.endpoint, "127.0.0.1:2000")
    processes: dict[str, _WarmProcess] = {}
    with tempfile.TemporaryFile("w+") as stderr:
        try:
            for kind, how in KINDS.items():
                raw = how.get("target") == coldstart.FLOOR
                spec = {
                    "paths": coldstart.child_paths("api", site),
                    "target": coldstart.FLOOR if raw else coldstart.FUNCTIONS["api"],
                    "event": coldstart.first_event(coldstart.FLOOR if raw else "api", table),
                    "warmup": warmup,
                    "repeat": 0,
                    "client_config": app_client_config() if raw else None,
                    "trace": how.get("trace"),
                }
                processes[kind] = _WarmProcess(spec, {**base_env, **how.get("env", {})}, stderr)
            for process in processes.values():
                process.ready()
            kinds = list(KINDS)
            for turn in range(max(1, requests // block)):
                for offset in range(len(kinds)):
                    kind = kinds[(turn + offset) % len(kinds)]  # nobody always goes first
                    samples[kind].extend(processes[kind].time(block))
            summaries = {kind: process.finish() for kind, process in processes.items()}
        except Exception as exc:
            stderr.seek(0)
            raise RuntimeError(f"warm benchmark failed: {exc}\n{stderr.read()[-1500:]}") from exc
        finally:
            for process in processes.values():
                process.kill()
    statuses = {summary["result"] for summary in summaries.values()}
    return WarmResult(samples, statuses, int(summaries["default"]["sampled"] or 0), block)
