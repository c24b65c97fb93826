"""Scheduled job: drift repair, purge of expired rows, idempotency per schedule time, second run no-op."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from app_support import TABLE_NAME, stream_records

EVENT = json.loads((Path(__file__).resolve().parents[3] / "sam" / "events" / "schedule-daily.json").read_text())


@pytest.fixture
def run_job(ddb: Any, lambda_context: Any) -> Any:
    import scheduled_handler

    def _run(event_time: str) -> dict[str, Any]:
        event = copy.deepcopy(EVENT) | {"time": event_time}
        return scheduled_handler.lambda_handler(event, lambda_context)

    return _run


@pytest.fixture
def drain_stream(ddb: Any, lambda_context: Any) -> Any:
    """Feed every stream record so far to the processor, as the event source mapping would."""
    import processor_handler

    def _drain() -> None:
        response = processor_handler.lambda_handler({"Records": stream_records(ddb)}, lambda_context)
        assert response["batchItemFailures"] == []

    return _drain


def _count(ddb: Any, entity: str) -> dict[str, int]:
    row = ddb.get_item(TableName=TABLE_NAME, Key={"PK": {"S": f"STATS#{entity}"}, "SK": {"S": "TOTAL"}})
    return {k: int(v["N"]) for k, v in row.get("Item", {}).items() if k == "Count" or k.startswith("StatusCount_")}


def _expire(ddb: Any, pk: str, sk: str) -> None:
    ddb.update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": pk}, "SK": {"S": sk}},
        UpdateExpression="SET ExpiresAt = :t",
        ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 60)}},
    )


def test_repairs_drift_and_reports_it(call_api: Any, ddb: Any, run_job: Any, drain_stream: Any) -> None:
    user = call_api("POST", "/users", {"name": "Taro", "email": "t@example.com"}).body["user"]
    for name in ("a", "b"):
        call_api("POST", "/items", {"name": name})
    call_api("POST", f"/users/{user['UserId']}/orders", {"amount": 3})
    drain_stream()
    # Drift the processor cannot see: a lost update and a stale status bucket.
    ddb.update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": "STATS#Item"}, "SK": {"S": "TOTAL"}},
        UpdateExpression="SET #c = :c",
        ExpressionAttributeNames={"#c": "Count"},
        ExpressionAttributeValues={":c": {"N": "99"}},
    )
    ddb.update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": "STATS#Order"}, "SK": {"S": "TOTAL"}},
        UpdateExpression="SET StatusCount_PAID = :c",
        ExpressionAttributeValues={":c": {"N": "4"}},
    )
    report = run_job("2026-11-21T00:00:00Z")
    assert report["changed"] is True
    assert report["purged"] == {}
    repaired = {change["entity_type"]: change for change in report["stats_repaired"]}
    assert set(repaired) == {"Item", "Order"}
    assert repaired["Item"]["before"]["count"] == 99
    assert repaired["Item"]["after"] == {"count": 2, "by_status": {}}
    assert repaired["Order"]["after"] == {"count": 1, "by_status": {"PENDING": 1}}
    assert _count(ddb, "Item") == {"Count": 2}
    assert _count(ddb, "Order") == {"Count": 1, "StatusCount_PENDING": 1}

    second = run_job("2026-11-22T00:00:00Z")
    assert second["changed"] is False
    assert second["stats_repaired"] == []


def test_writes_still_in_the_stream_are_not_counted_twice(
    call_api: Any, ddb: Any, run_job: Any, drain_stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recount sees a write the processor has not applied yet; the job's settle wait lets the processor
    apply it, so the gap closes and nothing is overwritten (an overwrite would count the write twice)."""
    call_api("POST", "/items", {"name": "a"})
    drain_stream()
    call_api("POST", "/items", {"name": "b"})  # its INSERT record is still in the stream
    waits: list[float] = []
    monkeypatch.setattr("time.sleep", lambda seconds: (waits.append(seconds), drain_stream()))
    report = run_job("2026-11-21T00:00:00Z")
    assert report["stats_repaired"] == []
    assert len(waits) == 1
    drain_stream()  # nothing left to apply
    assert _count(ddb, "Item") == {"Count": 2}


def test_a_gap_that_moves_while_settling_is_left_for_the_next_run(
    call_api: Any, ddb: Any, run_job: Any, drain_stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_api("POST", "/items", {"name": "a"})
    drain_stream()
    call_api("POST", "/items", {"name": "b"})  # in flight: the gap is +1
    monkeypatch.setattr("time.sleep", lambda _s: call_api("POST", "/items", {"name": "c"}))  # now +2
    report = run_job("2026-11-21T00:00:00Z")
    assert report["stats_repaired"] == [{"entity_type": "Item", "skipped": "still settling"}]
    drain_stream()
    assert _count(ddb, "Item") == {"Count": 3}


def test_creates_missing_stats_rows(call_api: Any, ddb: Any, run_job: Any) -> None:
    call_api("POST", "/items", {"name": "a"})  # the stream never delivers it: same gap after the settle wait
    report = run_job("2026-11-21T00:00:00Z")
    assert [c["entity_type"] for c in report["stats_repaired"]] == ["Item"]
    assert _count(ddb, "Item") == {"Count": 1}
    assert _count(ddb, "User") == {}  # nothing to count, nothing written


def test_purges_expired_rows_and_second_run_changes_nothing(
    call_api: Any, ddb: Any, run_job: Any, drain_stream: Any
) -> None:
    keep = call_api("POST", "/items", {"name": "keep"}).body["item"]
    gone = call_api("POST", "/items", {"name": "gone"}).body["item"]
    user = call_api("POST", "/users", {"name": "Taro", "email": "t@example.com"}).body["user"]
    order = call_api("POST", f"/users/{user['UserId']}/orders", {"amount": 3}).body["order"]
    _expire(ddb, f"ITEM#{gone['ItemId']}", "METADATA")
    _expire(ddb, f"USER#{user['UserId']}", f"ORDER#{order['OrderId']}")
    drain_stream()
    assert _count(ddb, "Item") == {"Count": 2}

    first = run_job("2026-11-21T00:00:00Z")
    assert first["purged"] == {"Item": 1, "Order": 1}
    assert first["stats_repaired"] == []  # recount happens before the purge: the stream carries it
    remaining = ddb.scan(TableName=TABLE_NAME, FilterExpression="attribute_exists(EntityType)")["Items"]
    assert sorted(row["PK"]["S"] for row in remaining) == sorted([f"ITEM#{keep['ItemId']}", f"USER#{user['UserId']}"])

    drain_stream()  # the REMOVE records of the purge reach the processor
    assert _count(ddb, "Item") == {"Count": 1}
    assert _count(ddb, "Order") == {"Count": 0, "StatusCount_PENDING": 0}

    second = run_job("2026-11-22T00:00:00Z")
    assert (second["changed"], second["purged"], second["stats_repaired"]) == (False, {}, [])


def test_redelivered_schedule_event_does_not_run_again(call_api: Any, ddb: Any, run_job: Any) -> None:
    call_api("POST", "/items", {"name": "a"})
    first = run_job("2026-11-21T00:00:00Z")
    assert first["changed"] is True
    # Drift introduced after the run: a redelivery of the same event must not act on it.
    ddb.update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": "STATS#Item"}, "SK": {"S": "TOTAL"}},
        UpdateExpression="SET #c = :c",
        ExpressionAttributeNames={"#c": "Count"},
        ExpressionAttributeValues={":c": {"N": "42"}},
    )
    again = run_job("2026-11-21T00:00:00Z")
    assert again == first
    assert _count(ddb, "Item") == {"Count": 42}
    record = ddb.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "IDEMPOTENCY#scheduled"}},
    )["Items"]
    assert len(record) == 1
    assert int(record[0]["ExpiresAt"]["N"]) > time.time()


def test_event_without_time_is_rejected(ddb: Any, lambda_context: Any) -> None:
    import scheduled_handler
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError

    event = {k: v for k, v in EVENT.items() if k != "time"}
    with pytest.raises(IdempotencyKeyError):
        scheduled_handler.lambda_handler(event, lambda_context)


def test_expiry_extended_after_listing_is_not_purged(call_api: Any, ddb: Any) -> None:
    from service.dal.dynamodb import DynamoEntityStore
    from service.keys import EntityType

    item = call_api("POST", "/items", {"name": "a"}).body["item"]
    _expire(ddb, f"ITEM#{item['ItemId']}", "METADATA")
    store = DynamoEntityStore(TABLE_NAME, "EntityTypeIndex", "GSI1")
    now = int(time.time())
    [key] = store.expired_keys(EntityType.ITEM, now)
    ddb.update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": key["PK"]}, "SK": {"S": key["SK"]}},
        UpdateExpression="SET ExpiresAt = :t",
        ExpressionAttributeValues={":t": {"N": str(now + 3600)}},
    )
    assert store.delete_if_expired(key, now) is False
    assert "Item" in ddb.get_item(TableName=TABLE_NAME, Key={"PK": {"S": key["PK"]}, "SK": {"S": key["SK"]}})
