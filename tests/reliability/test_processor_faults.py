"""The stream processor under injected faults, on the tier's local cloud (the runtime's ESM poller, real worker).

5,000 stream records are produced by writing rows straight into the emulator's table, while a chaos thread
SIGKILLs the processor's runtime process (awslambdaric under the worker's RIE) at intervals: the invocation in
flight dies mid-batch, possibly after applying part of it, and the ESM retries / bisects (transient failures
with partial application, the hardest case for exactly-once). Poison records (unknown EntityType, an entity
changing type in place) are mixed in, some of them in the middle of an item's history.

Afterwards the whole stream is read back. The processor's own LEDGER# inserts appear in it in the order the
processor applied events, which makes "applied exactly once" and "in order" observable from outside:

- every stats-changing good record is applied exactly once, or (only when an earlier record of the same item
  was poison in the same failed batch) it is not applied and lies inside a DLQ range;
- every poison record is unapplied and lies inside an on-failure (DLQ) record's shard/sequence range;
- per item, applied records follow stream order, and none is applied after a poison record of that item in the
  same failed batch;
- STATS#<type> equals a recount of the table minus exactly the deltas of those blocked good records.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import LocalCloud

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud-reliability")]

SEED = 20261121
TAG = "chaos"
# Scale 1 (the default, what `make test` runs) writes exactly 5,000 stream records, about a minute on the local
# cloud since localcloud.moto_shims stopped moto's whole-table copy per transaction (that cost O(table) per
# processor record and forced a 0.12 scale). TFSAM_RELIABILITY_STREAM_SCALE shrinks or grows the run.
SCALE = float(os.environ.get("TFSAM_RELIABILITY_STREAM_SCALE", "1"))
ITEMS, USERS, ORDERS = int(1720 * SCALE), max(2, int(400 * SCALE)), int(1000 * SCALE)
ITEM_DELETES, ORDER_MODIFIES, SECOND_MODIFIES = int(300 * SCALE), int(1000 * SCALE), int(500 * SCALE)
POISON, POISON_HISTORIES = max(4, int(40 * SCALE)), max(2, int(10 * SCALE))
KILL_INTERVAL = 4.0  # the 5,000-record run takes ~45 s: about ten crashes, well above the five asserted
ENTITY_TYPES = ("Item", "User", "Order")
STATUSES = ("PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED")


def seq(value: str) -> int:
    return int(value)


@dataclass
class Chaos:
    """Kills the processor's function process now and then (only ever a child of our own worker)."""

    cloud: LocalCloud
    interval: float
    kills: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def _victim(self) -> int | None:
        try:
            worker = int((self.cloud.root / "workers" / "ProcessorFunction.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{worker}/cmdline").read_bytes()
            if b"aws-lambda-rie" not in cmdline:
                return None
            children = []
            for task in os.listdir(f"/proc/{worker}/task"):
                children += Path(f"/proc/{worker}/task/{task}/children").read_text().split()
        except (OSError, ValueError, IndexError):
            return None
        for child in children:
            try:
                if b"awslambdaric" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
            except OSError:
                continue
        return None

    def run(self) -> None:
        rng = random.Random(SEED)
        while not self.stop.wait(self.interval * rng.uniform(0.6, 1.4)):
            victim = self._victim()
            if victim is not None:
                try:
                    os.kill(victim, signal.SIGKILL)
                    self.kills += 1
                except ProcessLookupError:
                    pass


def _put(client: Any, table: str, item: dict[str, Any]) -> None:
    client.put_item(
        TableName=table, Item={k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in item.items()}
    )


def workload(rng: random.Random) -> list[list[tuple[str, dict[str, Any]]]]:
    """Phases of (op, row); rows of one phase touch distinct keys, so a phase may be written in parallel."""
    now = int(time.time())

    def item(n: int, entity: str = "Item") -> dict[str, Any]:
        # Complete rows (what the API writes), so listings other tests make keep working on them.
        row = {"PK": f"ITEM#{TAG}-i-{n}", "SK": "METADATA", "EntityType": entity, "CreatedAt": now, "version": 1}
        return {**row, "ItemId": f"{TAG}-i-{n}", "Name": f"chaos {n}", "UpdatedAt": now}

    users = [
        {"PK": f"USER#{TAG}-u-{n}", "SK": "PROFILE", "EntityType": "User", "CreatedAt": now, "version": 1}
        | {"UserId": f"{TAG}-u-{n}", "Name": "chaos", "Email": "chaos@example.com", "UpdatedAt": now}
        for n in range(USERS)
    ]
    orders = [
        {
            "PK": f"USER#{TAG}-u-{n % USERS}",
            "SK": f"ORDER#{n:06d}",
            "EntityType": "Order",
            "Status": "PENDING",
            "CreatedAt": now,
            "version": 1,
            "OrderId": f"{n:06d}",
            "UserId": f"{TAG}-u-{n % USERS}",
            "Amount": 100,
            "Currency": "JPY",
            "UpdatedAt": now,
        }
        for n in range(ORDERS)
    ]
    poison = [item(100_000 + n, rng.choice(["Bogus", "item", "Widget"])) for n in range(POISON)]
    histories = [item(200_000 + n) for n in range(POISON_HISTORIES)]
    phase1 = [("put", item(n)) for n in range(ITEMS)] + [("put", u) for u in users] + [("put", r) for r in poison]
    phase1 += [("put", h) for h in histories]
    rng.shuffle(phase1)
    modified = rng.sample(orders, ORDER_MODIFIES)
    phase2 = [("put", o) for o in orders] + [("put", {**h, "EntityType": "Bogus"}) for h in histories]
    phase3 = [("put", {**o, "Status": rng.choice(STATUSES[1:]), "version": 2}) for o in modified]
    phase3 += [("put", h) for h in histories]  # back to Item: still poison (the old image is Bogus)
    phase4 = [("put", {**o, "Status": "DELIVERED", "version": 3}) for o in rng.sample(modified, SECOND_MODIFIES)]
    phase4 += [("delete", item(n)) for n in rng.sample(range(ITEMS), ITEM_DELETES)]
    phase4 += [("delete", h) for h in histories]  # good again: -1 for an Item... unless blocked behind poison
    for phase in (phase2, phase3, phase4):
        rng.shuffle(phase)
    return [phase1, phase2, phase3, phase4]


def write(cloud: LocalCloud, phases: list[list[tuple[str, dict[str, Any]]]]) -> int:
    local = threading.local()

    def client() -> Any:
        if not hasattr(local, "c"):
            local.c = cloud.client("dynamodb")
        return local.c

    def apply(op: tuple[str, dict[str, Any]]) -> None:
        kind, row = op
        if kind == "put":
            _put(client(), cloud.table_name, row)
        else:
            client().delete_item(TableName=cloud.table_name, Key={"PK": {"S": row["PK"]}, "SK": {"S": row["SK"]}})

    count = 0
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for phase in phases:
            list(pool.map(apply, phase))
            count += len(phase)
    return count


def read_stream(cloud: LocalCloud) -> tuple[str, list[dict[str, Any]]]:
    streams = cloud.client("dynamodbstreams")
    arn = cloud.outputs["table_stream_arn"]
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                record["_shard"] = shard["ShardId"]
            records += page["Records"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return arn, records


def wait_for_checkpoint(cloud: LocalCloud, arn: str, last: dict[str, int], timeout: float) -> None:
    path = cloud.root / "stream-checkpoints.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            saved = json.loads(path.read_text()).get(arn, {})
        except (OSError, ValueError):
            saved = {}
        if all(seq(saved.get(shard, "0")) >= value for shard, value in last.items()):
            return
        time.sleep(1)
    raise AssertionError(f"the processor did not catch up within {timeout}s (checkpoint {path})")


def drain(cloud: LocalCloud, queue_url: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return messages
        for message in got:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def scan(cloud: LocalCloud) -> Iterator[dict[str, Any]]:
    client = cloud.client("dynamodb")
    kwargs: dict[str, Any] = {}
    while True:
        page = client.scan(TableName=cloud.table_name, ConsistentRead=True, **kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _entity(image: dict[str, Any] | None) -> str | None:
    value = (image or {}).get("EntityType", {}).get("S")
    return value if value in ENTITY_TYPES else None


def classify(record: dict[str, Any]) -> tuple[str, dict[str, int]]:  # noqa: PLR0911 (one return per rule)
    """('poison'|'good'|'noop', {stats key: delta}) — the documented aggregate rules, applied independently."""
    name, data = record["eventName"], record["dynamodb"]
    old, new = data.get("OldImage"), data.get("NewImage")
    if name == "INSERT":
        entity = _entity(new)
        if entity is None:
            return "poison", {}
        deltas = {entity: 1}
        if entity == "Order":
            deltas[f"Order:{new['Status']['S']}"] = 1
        return "good", deltas
    if name == "REMOVE":
        entity = _entity(old)
        if entity is None:
            return "poison", {}
        deltas = {entity: -1}
        if entity == "Order":
            deltas[f"Order:{old['Status']['S']}"] = -1
        return "good", deltas
    before, after = _entity(old), _entity(new)
    if before is None or after is None or before != after:
        return "poison", {}
    if after == "Order" and old["Status"]["S"] != new["Status"]["S"]:
        return "good", {f"Order:{old['Status']['S']}": -1, f"Order:{new['Status']['S']}": 1}
    return "noop", {}


def in_range(record: dict[str, Any], ranges: list[tuple[str, int, int]]) -> bool:
    number = seq(record["dynamodb"]["SequenceNumber"])
    return any(shard == record["_shard"] and start <= number <= end for shard, start, end in ranges)


def test_exactly_once_in_order_with_poison_and_crashes(local_cloud: LocalCloud) -> None:  # noqa: PLR0912
    queue_url = local_cloud.outputs["dead_letter_queue_url"]
    drain(local_cloud, queue_url)
    rng = random.Random(SEED)
    chaos = Chaos(local_cloud, KILL_INTERVAL)
    killer = threading.Thread(target=chaos.run, name="chaos", daemon=True)
    started = time.monotonic()
    killer.start()
    try:
        written = write(local_cloud, workload(rng))
        arn, records = read_stream(local_cloud)
        last: dict[str, int] = {}
        for record in records:
            last[record["_shard"]] = max(last.get(record["_shard"], 0), seq(record["dynamodb"]["SequenceNumber"]))
        wait_for_checkpoint(local_cloud, arn, last, timeout=900)
    finally:
        chaos.stop.set()
        killer.join(10)
    elapsed = time.monotonic() - started

    arn, records = read_stream(local_cloud)
    failures = drain(local_cloud, queue_url)
    ranges = [
        (
            f["DDBStreamBatchInfo"]["shardId"],
            seq(f["DDBStreamBatchInfo"]["startSequenceNumber"]),
            seq(f["DDBStreamBatchInfo"]["endSequenceNumber"]),
        )
        for f in failures
    ]
    assert all(f["DDBStreamBatchInfo"]["streamArn"] == arn for f in failures)

    applied_order: list[str] = []
    for record in records:
        pk = record["dynamodb"]["Keys"]["PK"]["S"]
        if pk.startswith("LEDGER#") and record["eventName"] == "INSERT":
            applied_order.append(pk.removeprefix("LEDGER#"))
    duplicates = [e for e, n in collections.Counter(applied_order).items() if n > 1]
    assert not duplicates, f"events applied twice: {duplicates[:5]}"
    position = {event_id: i for i, event_id in enumerate(applied_order)}

    mine = [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"].split("-", 1)[0] in (f"ITEM#{TAG}", f"USER#{TAG}")]
    assert len(mine) == written
    by_item: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for record in mine:
        keys = record["dynamodb"]["Keys"]
        by_item[(keys["PK"]["S"], keys["SK"]["S"])].append(record)

    unapplied_good: collections.Counter[str] = collections.Counter()
    counts = collections.Counter()
    problems: list[str] = []
    for item, history in by_item.items():
        history.sort(key=lambda r: seq(r["dynamodb"]["SequenceNumber"]))
        poisoned_in_dlq = False
        last_position = -1
        for record in history:
            kind, deltas = classify(record)
            counts[kind] += 1
            event_id = record["eventID"]
            applied = event_id in position
            if kind == "poison":
                if applied:
                    problems.append(f"poison applied: {item} {event_id}")
                if not in_range(record, ranges):
                    problems.append(f"poison not in any DLQ range: {item} seq {record['dynamodb']['SequenceNumber']}")
                poisoned_in_dlq = True
                continue
            if kind == "noop":
                continue
            if applied:
                if position[event_id] < last_position:
                    problems.append(f"applied out of order: {item} {event_id}")
                last_position = position[event_id]
                if poisoned_in_dlq and in_range(record, ranges):
                    problems.append(f"applied after a failed earlier record of the same item: {item} {event_id}")
                continue
            # A good record may stay unapplied only behind a poison record of its item, inside a DLQ range.
            if poisoned_in_dlq and in_range(record, ranges):
                counts["blocked"] += 1
                unapplied_good.update(deltas)
            else:
                problems.append(f"good record lost: {item} {record['eventName']} {event_id}")
    assert not problems, f"{len(problems)} violations:\n" + "\n".join(problems[:30])

    recount: collections.Counter[str] = collections.Counter()
    stats: dict[str, dict[str, Any]] = {}
    for row in scan(local_cloud):
        pk = row["PK"]["S"]
        if pk.startswith("STATS#"):
            stats[pk.removeprefix("STATS#")] = row
            continue
        entity = _entity(row)
        if entity and not pk.startswith(("LEDGER#", "IDEMPOTENCY#")):
            recount[entity] += 1
            if entity == "Order":
                recount[f"Order:{row['Status']['S']}"] += 1
    for entity in ENTITY_TYPES:
        recorded = int(stats.get(entity, {}).get("Count", {"N": "0"})["N"])
        assert recorded == recount[entity] - unapplied_good[entity], (entity, recorded, recount[entity], unapplied_good)
    for status in STATUSES:
        recorded = int(stats.get("Order", {}).get(f"StatusCount_{status}", {"N": "0"})["N"])
        key = f"Order:{status}"
        assert recorded == recount[key] - unapplied_good[key], (status, recorded, recount[key])

    log = (local_cloud.root / "runtime.log").read_text(errors="replace")
    crashed = log.count("invoke ProcessorFunction Unhandled")
    print(
        f"\nprocessor faults: {written} records written ({dict(counts)}) in {elapsed:.0f}s; "
        f"{chaos.kills} function crashes injected, {crashed} failed invocations retried; "
        f"{len(failures)} DLQ records; {len(applied_order)} events applied (whole table)"
    )
    assert counts["poison"] == POISON + 2 * POISON_HISTORIES
    assert SCALE < 1 or written >= 5000, "the full run must cover at least 5,000 stream records"
    assert chaos.kills >= 5 and crashed >= 3, "the chaos thread must actually have failed invocations"
    assert 0 < len(failures) <= counts["poison"]
