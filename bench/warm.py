"""Warm API request overhead: GET /items/{id} through the handler vs the raw GetItem it performs.

Both run in Lambda-like processes (:mod:`bench.coldstart`) against the same seeded moto table: the handler
with tracing, metrics, logging and validation on, the baseline as a bare ``boto3`` client with the app's
client settings (``service.dal.client.CLIENT_CONFIG``), unpatched, in its own process (X-Ray patches
botocore class-wide). Blocks of requests alternate between the processes so machine noise hits all of them;
the statistic is the p50 of all timed requests.

Tracing: with ``Tracing: Active`` Lambda decides per invocation whether X-Ray samples it (default rule: the
first request each second, then 5%), and hands the decision to the function in ``_X_AMZN_TRACE_ID``. The judged
figure follows that rule, so its p50 is what a deployed function's typical request pays; the same handler with
every request sampled (segments built, serialised and sent) is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench import coldstart, fixture, lambda_site
from bench.stats import percentile


def app_client_config() -> dict[str, object]:
    """The app's botocore Config arguments: the baseline GetItem uses the very same client settings."""
    import sys

    if str(lambda_site.LAYER_SRC) not in sys.path:
        sys.path.insert(0, str(lambda_site.LAYER_SRC))
    from service.dal.client import CLIENT_CONFIG

    return dict(CLIENT_CONFIG)


@dataclass(frozen=True)
class WarmResult:
    handler_s: list[float]
    raw_s: list[float]
    statuses: set[object]
    traced_s: list[float]  # the handler again, every request sampled for X-Ray
    sampled: int  # requests sampled under the default rule (handler_s)

    @property
    def handler_p50(self) -> float:
        return percentile(self.handler_s, 50)

    @property
    def traced_p50(self) -> float:
        return percentile(self.traced_s, 50)

    @property
    def raw_p50(self) -> float:
        return percentile(self.raw_s, 50)


def measure(site: Path, table: fixture.Table, requests: int = 400, blocks: int = 8, warmup: int = 30) -> WarmResult:
    """Blocks alternate: raw GetItem, the handler under X-Ray's default sampling, the handler with every request
    sampled. Each handler request gets its own trace header, as Lambda sets one per invocation."""
    samples: dict[str, list[float]] = {"raw": [], "default": [], "all": []}
    statuses: set[object] = set()
    sampled = 0
    per_block = max(1, requests // blocks)
    env = coldstart.child_env("api", table.name, table.endpoint, "127.0.0.1:2000")
    for _ in range(blocks):
        for kind, collected in samples.items():
            raw = kind == "raw"
            spec = {
                "paths": coldstart.child_paths("api", site),
                "target": coldstart.FLOOR if raw else coldstart.FUNCTIONS["api"],
                "event": coldstart.first_event(coldstart.FLOOR if raw else "api", table),
                "warmup": warmup,
                "repeat": per_block,
                "client_config": app_client_config() if raw else None,
                "trace": None if raw else ("lambda-default" if kind == "default" else "all"),
            }
            out = coldstart.run_child(spec, env)
            collected.extend(out["samples_s"])
            statuses.add(out["result"])
            if kind == "default":
                sampled += int(out["sampled"] or 0)
    return WarmResult(samples["default"], samples["raw"], statuses, samples["all"], sampled)
