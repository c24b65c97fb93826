"""Warm API request overhead: GET /items/{id} through the handler vs the raw GetItem it performs.

Both run in Lambda-like processes (:mod:`bench.coldstart`) against the same seeded moto table: the handler
with tracing, metrics, logging and validation on, the baseline as a bare ``boto3`` client with the app's
client settings (``service.dal.client.CLIENT_CONFIG``), unpatched, in its own process (X-Ray patches
botocore class-wide). Blocks of requests alternate between the two
processes so machine noise hits both; the statistic is the p50 of all timed requests.
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

    @property
    def handler_p50(self) -> float:
        return percentile(self.handler_s, 50)

    @property
    def raw_p50(self) -> float:
        return percentile(self.raw_s, 50)


def measure(site: Path, table: fixture.Table, requests: int = 400, blocks: int = 8, warmup: int = 30) -> WarmResult:
    handler: list[float] = []
    raw: list[float] = []
    statuses: set[object] = set()
    per_block = max(1, requests // blocks)
    for _ in range(blocks):
        for target in (coldstart.FLOOR, "api"):
            spec = {
                "paths": coldstart.child_paths("api", site),
                "target": coldstart.FLOOR if target == coldstart.FLOOR else coldstart.FUNCTIONS["api"],
                "event": coldstart.first_event(target, table),
                "warmup": warmup,
                "repeat": per_block,
                "client_config": app_client_config() if target == coldstart.FLOOR else None,
            }
            out = coldstart.run_child(spec, coldstart.child_env("api", table.name, table.endpoint, "127.0.0.1:2000"))
            (raw if target == coldstart.FLOOR else handler).extend(out["samples_s"])
            statuses.add(out["result"])
    return WarmResult(handler, raw, statuses)
