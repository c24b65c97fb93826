"""Stream processing throughput on the local cloud's own event source mapping, at batch size 100.

The pieces are the local cloud's (``localcloud.runtime``): its ``StreamPoller`` reads the table's stream from
the emulator and its ``ShardProcessor`` applies the template's mapping semantics (filter, bisect, partial
batch responses); its ``FunctionWorker`` runs the processor in the Lambda runtime interface emulator, as
``deploy.sh local`` does. The runtime itself offers no batch-size override, so this builds the same objects
with the template's event properties and only ``BatchSize`` replaced (the template ships 10).

End to end: the clock starts at the first write (``BatchWriteItem`` of new items, while the poller runs) and
stops when the invocation that applied the last of them returns (the processor commits ``STATS#Item`` before
it answers; the count is read once afterwards and must equal the records written). The writes come from their
own process (``bench.stream_writer``), as an application's would. With ``preload`` the records are written
first and the clock starts with the poller: processing capacity alone, without the emulator's write path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import coldstart, fixture, lambda_site

REPO = lambda_site.REPO
TEMPLATE = REPO / "sam" / "template.yaml"


@dataclass(frozen=True)
class StreamResult:
    records: int
    seconds: float
    write_seconds: float
    batch_size: int
    invocations: int
    complete: bool = True

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def _scripts_on_path() -> None:
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)


def processor_event_properties() -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    events = template["Resources"]["ProcessorFunction"]["Properties"]["Events"]
    return next(dict(e["Properties"]) for e in events.values() if e["Type"] == "DynamoDB")


def _layer_dir(work: Path, site: Path) -> Path:
    """``<dir>/python`` laid out like the built CommonLayer: the service package plus the dependency closure."""
    python = work / "layer" / "python"
    python.mkdir(parents=True, exist_ok=True)
    for entry in [lambda_site.LAYER_SRC / "service", *site.iterdir()]:
        link = python / entry.name
        if not link.exists():
            link.symlink_to(entry.resolve() if entry.is_symlink() else entry)
    return python.parent


def _count(client: Any, table: str) -> int:
    found = client.get_item(TableName=table, Key={"PK": {"S": "STATS#Item"}, "SK": {"S": "TOTAL"}}, ConsistentRead=True)
    return int(found.get("Item", {}).get("Count", {}).get("N", "0"))


def _processor_worker(work: Path, site: Path, table: fixture.Table) -> tuple[Any, Any]:
    """The processor as the local runtime runs it: RIE + awslambdaric, the layer laid out under /opt/python."""
    from localcloud.runtime.model import FunctionSpec
    from localcloud.runtime.workers import FunctionWorker, build_runtime_site

    spec = FunctionSpec(
        logical_id="ProcessorFunction",
        function_name="tfsam-bench-processor",
        handler="processor_handler.lambda_handler",
        code_dir=REPO / "sam" / "functions" / "processor",
        layer_dirs=(_layer_dir(work, site),),
        environment=coldstart.template_env("processor", table.name),
        timeout=60,
        memory=256,
        architecture="arm64" if coldstart_arch() == "arm64" else "x86_64",
        runtime="python3.13",
    )
    worker = FunctionWorker(
        spec,
        endpoint_url=table.endpoint,
        region=fixture.REGION,
        runtime_site=build_runtime_site(work / "runtime-python"),
        workers_dir=work / "workers",
    )
    return spec, worker


class _Applied:
    """The new items the processor has applied, from the invocations' own answers.

    The clock stops when the invocation that applied the last one returns (its transaction committed the stats
    before it answered); STATS#Item is then read once to prove it. Polling the table instead would put the
    measuring itself on the emulator's busiest path.
    """

    def __init__(self, records: int) -> None:
        self.records = records
        self.items: set[str] = set()
        self.done = threading.Event()
        self.finished = 0.0
        self.invocations = 0

    def note(self, event: dict[str, Any], outcome: Any) -> None:
        self.invocations += 1
        if outcome.function_error is not None:
            return
        payload = outcome.payload if isinstance(outcome.payload, dict) else {}
        failed = {f.get("itemIdentifier") for f in payload.get("batchItemFailures") or []}
        for record in event["Records"]:
            stream_record = record["dynamodb"]
            if record["eventName"] == "INSERT" and stream_record["SequenceNumber"] not in failed:
                self.items.add(stream_record["Keys"]["PK"]["S"])
        if len(self.items) >= self.records and not self.done.is_set():
            self.finished = time.perf_counter()
            self.done.set()


class _Writer:
    """The producer process (``bench.stream_writer``), started and ready (SDK imported, items built) before any
    clock runs; ``write()`` tells it to go and returns the time it spent writing."""

    def __init__(self, table: fixture.Table, records: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.stream_writer", table.endpoint, table.name, str(records)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._line() != "ready":
            self.process.kill()
            raise RuntimeError("the stream writer did not start (its error is above)")

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def write(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        line = self._line()
        if self.process.wait(60) != 0 or not line:
            raise RuntimeError("the stream writer failed (its error is above)")
        return float(json.loads(line)["seconds"])


def measure(
    work: Path,
    site: Path,
    table: fixture.Table,
    *,
    records: int = 1000,
    batch_size: int = 100,
    batching_window: float | None = None,
    preload: bool = False,
    timeout: float = 120,
) -> StreamResult:
    _scripts_on_path()
    from localcloud.runtime.esm import EsmConfig, InvokeOutcome, to_json
    from localcloud.runtime.streams import CheckpointStore, StreamPoller

    client = table.client()
    stream_arn = client.describe_table(TableName=table.name)["Table"]["LatestStreamArn"]
    spec, worker = _processor_worker(work, site, table)
    props = {**processor_event_properties(), "Stream": stream_arn, "BatchSize": batch_size}
    if batching_window is not None:
        props["MaximumBatchingWindowInSeconds"] = batching_window
    applied = _Applied(records)
    failures: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> InvokeOutcome:
        outcome = worker.invoke(to_json(event).encode())
        applied.note(event, outcome)
        return outcome

    stop = threading.Event()
    poller = StreamPoller(
        EsmConfig.from_event_properties(props, spec.arn(fixture.REGION, "123456789012")),
        streams_client=table.streams_client(),
        invoke=invoke,
        on_failure=failures.append,
        checkpoints=CheckpointStore(work / "checkpoints.json"),
        stop=stop,
        region=fixture.REGION,
    )
    worker.start()
    try:
        # The cold start is not throughput: init, then one real record (sam/events/stream-insert.json), so the
        # lazily created SDK client and X-Ray patching (``service/dal/client.py``) are paid before the clock.
        warm = worker.invoke(to_json(fixture.event("stream-insert")).encode())
        if warm.function_error:
            raise RuntimeError(f"the processor failed its warm-up record: {warm.payload}")
        baseline = _count(client, table.name)
        writer = _Writer(table, records)
        if preload:  # processing only: the stream already holds every record when the poller starts
            written = writer.write()
            started = time.perf_counter()
            poller.start()
        else:
            poller.start()
            started = time.perf_counter()
            written = writer.write()
        deadline = time.monotonic() + timeout
        while not applied.done.wait(0.05) and time.monotonic() < deadline:
            if failures:
                raise RuntimeError(f"records went to the on-failure destination: {failures[0]}")
        elapsed = (applied.finished if applied.done.is_set() else time.perf_counter()) - started
        counted = _count(client, table.name) - baseline
        if applied.done.is_set() and counted != records:
            raise RuntimeError(f"the processor reported {records} records applied but STATS#Item counts {counted}")
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(10)
        worker.stop()
    # On timeout the rate is what was counted so far (``complete`` False says so), never an extrapolation.
    return StreamResult(counted, elapsed, written, batch_size, applied.invocations, complete=counted >= records)


def coldstart_arch() -> str:
    _scripts_on_path()
    from localcloud.state import host_architecture

    return host_architecture()
