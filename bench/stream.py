"""Stream processing throughput on the local cloud's own event source mapping, at batch size 100.

The pieces are the local cloud's (``localcloud.runtime``): its ``StreamPoller`` reads the table's stream from
the emulator and its ``ShardProcessor`` applies the template's mapping semantics (filter, bisect, partial
batch responses); its ``FunctionWorker`` runs the processor in the Lambda runtime interface emulator, as
``deploy.sh local`` does. The runtime itself offers no batch-size override, so this builds the same objects
with the template's event properties and only ``BatchSize`` replaced (the template ships 10).

End to end: the clock starts at the first write (``BatchWriteItem`` of new items, while the poller runs) and
stops when ``STATS#Item`` counts every one of them. With ``preload`` the records are written first and the
clock starts with the poller: processing capacity alone, without the emulator's write path.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
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


def _item(index: int, now: int) -> dict[str, Any]:
    item_id = str(uuid.uuid4())
    return {
        "PK": {"S": f"ITEM#{item_id}"},
        "SK": {"S": "METADATA"},
        "EntityType": {"S": "Item"},
        "ItemId": {"S": item_id},
        "Name": {"S": f"bench {index}"},
        "Tags": {"L": []},
        "CreatedAt": {"N": str(now)},
        "UpdatedAt": {"N": str(now)},
        "version": {"N": "1"},
    }


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
    streams_client = _streams_client(table)
    stream_arn = client.describe_table(TableName=table.name)["Table"]["LatestStreamArn"]
    spec, worker = _processor_worker(work, site, table)
    props = {**processor_event_properties(), "Stream": stream_arn, "BatchSize": batch_size}
    if batching_window is not None:
        props["MaximumBatchingWindowInSeconds"] = batching_window
    config = EsmConfig.from_event_properties(props, spec.arn(fixture.REGION, "123456789012"))
    invocations = 0
    failures: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> InvokeOutcome:
        nonlocal invocations
        invocations += 1
        return worker.invoke(to_json(event).encode())

    stop = threading.Event()
    worker.start()
    poller = StreamPoller(
        config,
        streams_client=streams_client,
        invoke=invoke,
        on_failure=failures.append,
        checkpoints=CheckpointStore(work / "checkpoints.json"),
        stop=stop,
        region=fixture.REGION,
    )

    def write_all() -> None:
        now = int(time.time())
        for offset in range(0, records, 25):
            chunk = [{"PutRequest": {"Item": _item(i, now)}} for i in range(offset, min(records, offset + 25))]
            client.batch_write_item(RequestItems={table.name: chunk})

    try:
        worker.invoke(to_json({"Records": []}).encode())  # the cold start is not throughput
        baseline = _count(client, table.name)
        if preload:
            # Processing only: the stream already holds every record when the poller starts.
            t = time.perf_counter()
            write_all()
            written = time.perf_counter() - t
            started = time.perf_counter()
            poller.start()
        else:
            poller.start()
            started = time.perf_counter()
            write_all()
            written = time.perf_counter() - started
        deadline = time.monotonic() + timeout
        counted = 0
        while counted < records and time.monotonic() < deadline:
            if failures:
                raise RuntimeError(f"records went to the on-failure destination: {failures[0]}")
            time.sleep(0.02)
            counted = _count(client, table.name) - baseline
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        poller.join(10)
        worker.stop()
    # On timeout the rate is what was counted so far (``complete`` False says so), never an extrapolation.
    return StreamResult(counted, elapsed, written, batch_size, invocations, complete=counted >= records)


def _streams_client(table: fixture.Table) -> Any:
    import boto3

    return boto3.client("dynamodbstreams", endpoint_url=table.endpoint, region_name=fixture.REGION, **_creds())


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def coldstart_arch() -> str:
    _scripts_on_path()
    from localcloud.state import host_architecture

    return host_architecture()
