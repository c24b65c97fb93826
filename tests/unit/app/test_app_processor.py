"""Processor: exact STATS# aggregates from DynamoDB stream batches (moto's real stream records + sam/events)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from app_support import TABLE_NAME, stream_records

EVENTS = Path(__file__).resolve().parents[3] / "sam" / "events"


def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def process(ddb: Any, lambda_context: Any) -> Any:
    import processor_handler

    def _process(records: list[dict[str, Any]]) -> list[str]:
        response = processor_handler.lambda_handler({"Records": copy.deepcopy(records)}, lambda_context)
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    return _process


def _stats(ddb: Any) -> dict[str, dict[str, int]]:
    """Count attributes of each STATS#<EntityType> row ({} when the row does not exist)."""
    result: dict[str, dict[str, int]] = {}
    for entity in ("Item", "User", "Order"):
        item = ddb.get_item(TableName=TABLE_NAME, Key={"PK": {"S": f"STATS#{entity}"}, "SK": {"S": "TOTAL"}})
        result[entity] = {
            name: int(value["N"])
            for name, value in item.get("Item", {}).items()
            if name == "Count" or name.startswith("StatusCount_")
        }
    return result


def _ledger_count(ddb: Any) -> int:
    rows = ddb.scan(
        TableName=TABLE_NAME, FilterExpression="begins_with(PK, :l)", ExpressionAttributeValues={":l": {"S": "LEDGER#"}}
    )["Items"]
    return len(rows)


def _seq(record: dict[str, Any]) -> str:
    return record["dynamodb"]["SequenceNumber"]


def test_insert_modify_remove_from_real_stream(call_api: Any, ddb: Any, process: Any) -> None:
    user = call_api("POST", "/users", {"name": "Taro", "email": "t@example.com"}).body["user"]
    item = call_api("POST", "/items", {"name": "A"}).body["item"]
    call_api("POST", "/items", {"name": "B"})
    base = f"/users/{user['UserId']}/orders"
    order = call_api("POST", base, {"amount": 10}).body["order"]
    call_api("POST", base, {"amount": 20})
    call_api("PUT", f"{base}/{order['OrderId']}", {"status": "PAID", "version": 1})
    call_api("PUT", f"/items/{item['ItemId']}", {"name": "A2", "version": 1})
    call_api("DELETE", f"/items/{item['ItemId']}")

    records = stream_records(ddb)
    assert [r["eventName"] for r in records].count("MODIFY") == 2
    assert process(records) == []
    stats = _stats(ddb)
    assert stats["Item"]["Count"] == 1
    assert stats["User"]["Count"] == 1
    assert stats["Order"]["Count"] == 2
    assert stats["Order"]["StatusCount_PENDING"] == 1
    assert stats["Order"]["StatusCount_PAID"] == 1
    # The API reads the same aggregates.
    api_stats = call_api("GET", "/stats").body["stats"]
    assert api_stats["Order"] == {
        "count": 2,
        "by_status": {"PAID": 1, "PENDING": 1},
        "updated_at": api_stats["Order"]["updated_at"],
    }
    # Only records that changed an aggregate got a ledger row (item MODIFY is a no-op).
    assert _ledger_count(ddb) == len(records) - 1


def test_sample_event_files_insert_modify_remove(ddb: Any, process: Any) -> None:
    assert process(_load("stream-insert.json")["Records"]) == []
    assert _stats(ddb)["Order"] == {"Count": 1, "StatusCount_PENDING": 1}
    assert process(_load("stream-modify.json")["Records"]) == []
    assert _stats(ddb)["Order"] == {"Count": 1, "StatusCount_PENDING": 0, "StatusCount_PAID": 1}
    assert process(_load("stream-remove.json")["Records"]) == []
    stats = _stats(ddb)
    assert stats["Item"]["Count"] == 0
    assert stats["User"]["Count"] == 1
    assert stats["Order"] == {"Count": 0, "StatusCount_PENDING": 0, "StatusCount_PAID": 0}


def test_same_batch_twice_is_counted_once(ddb: Any, process: Any) -> None:
    batch = _load("stream-insert.json")["Records"]
    assert process(batch) == []
    first = _stats(ddb)
    assert process(batch) == []  # a retried delivery
    assert _stats(ddb) == first
    assert first["Item"]["Count"] == 1
    assert _ledger_count(ddb) == 3


def test_poison_record_fails_alone_and_neighbours_apply_once(ddb: Any, process: Any) -> None:
    batch = _load("stream-poison.json")["Records"]
    poison = batch[1]
    assert process(batch) == [_seq(poison)]
    stats = _stats(ddb)
    assert stats["Item"]["Count"] == 1
    assert stats["User"]["Count"] == 1
    # The ESM retries from the failed record: the poison fails again, its neighbours are not re-counted.
    assert process(batch[1:]) == [_seq(poison)]
    assert _stats(ddb) == stats


def test_later_records_of_a_failed_item_are_reported_failed(ddb: Any, process: Any) -> None:
    inserts = _load("stream-insert.json")["Records"]
    modify = _load("stream-modify.json")["Records"][1]  # order PENDING -> PAID
    broken_insert = copy.deepcopy(inserts[2])  # the same order's INSERT, made unusable
    broken_insert["dynamodb"]["NewImage"]["Status"] = {"S": "UNKNOWN"}
    batch = [inserts[0], broken_insert, modify, inserts[1]]
    failed = process(batch)
    assert failed == [_seq(broken_insert), _seq(modify)]
    stats = _stats(ddb)
    assert stats["Item"]["Count"] == 1
    assert stats["User"]["Count"] == 1
    assert stats["Order"] == {}  # neither the failed INSERT nor the blocked MODIFY was applied


def test_transient_failure_is_reported_and_retry_applies_once(
    ddb: Any, process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import processor_handler

    batch = _load("stream-insert.json")["Records"]
    store = processor_handler.stats_store()
    real, real_bulk = store.apply_with_ledger, store.apply_many_with_ledger
    calls = {"n": 0}

    def flaky(event_id: str, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("throttled")
        return real(event_id, **kwargs)

    def bulk_unavailable(*_args: Any, **_kwargs: Any) -> set[str]:
        raise ConnectionError("throttled")  # the bulk path failing leaves every record to the per-record path

    monkeypatch.setattr(store, "apply_with_ledger", flaky)
    monkeypatch.setattr(store, "apply_many_with_ledger", bulk_unavailable)
    assert process(batch) == [_seq(batch[1])]
    monkeypatch.setattr(store, "apply_with_ledger", real)
    monkeypatch.setattr(store, "apply_many_with_ledger", real_bulk)
    # Lambda retries from the first failed record onwards (records after it are redelivered too).
    assert process(batch[1:]) == []
    stats = _stats(ddb)
    assert (stats["Item"]["Count"], stats["User"]["Count"], stats["Order"]["Count"]) == (1, 1, 1)


def test_whole_batch_failing_raises_so_lambda_retries(ddb: Any, process: Any) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    poison = _load("stream-poison.json")["Records"][1]
    with pytest.raises(BatchProcessingError):
        process([poison])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["dynamodb"].pop("NewImage"),
        lambda r: r["dynamodb"]["NewImage"].update({"EntityType": {"S": "Spaceship"}}),
        lambda r: r["dynamodb"]["NewImage"].update({"Name": {"Q": "bad type descriptor"}}),
        lambda r: r["dynamodb"].update({"Keys": {}}),
        lambda r: r.update({"eventID": "bad id with spaces"}),
        lambda r: r.update({"eventName": "TRUNCATE"}),
    ],
    ids=["no-image", "unknown-entity", "bad-descriptor", "no-keys", "bad-event-id", "bad-event-name"],
)
def test_malformed_records_are_poison(ddb: Any, process: Any, mutate: Any) -> None:
    good, bad = copy.deepcopy(_load("stream-insert.json")["Records"][:2])
    mutate(bad)
    assert process([good, bad]) == [_seq(bad)]
    assert _stats(ddb)["Item"]["Count"] == 1


def test_own_partitions_are_ignored(ddb: Any, process: Any) -> None:
    record = copy.deepcopy(_load("stream-insert.json")["Records"][0])
    record["dynamodb"]["Keys"] = {"PK": {"S": "STATS#Item"}, "SK": {"S": "TOTAL"}}
    record["dynamodb"]["NewImage"] = {"PK": {"S": "STATS#Item"}, "SK": {"S": "TOTAL"}, "Count": {"N": "1"}}
    assert process([record]) == []
    assert _stats(ddb)["Item"] == {}
    assert _ledger_count(ddb) == 0


def _item_inserts(count: int) -> list[dict[str, Any]]:
    """``count`` INSERT records of distinct items (the sample record with fresh ids and sequence numbers)."""
    template = _load("stream-insert.json")["Records"][0]
    records = []
    for index in range(count):
        record = copy.deepcopy(template)
        item_id = f"00000000-0000-4000-8000-{index:012d}"
        record["eventID"] = f"bulk{index:06d}"
        record["dynamodb"]["SequenceNumber"] = f"{200000000000000000000 + index}"
        record["dynamodb"]["Keys"]["PK"]["S"] = f"ITEM#{item_id}"
        record["dynamodb"]["NewImage"]["PK"]["S"] = f"ITEM#{item_id}"
        record["dynamodb"]["NewImage"]["ItemId"]["S"] = item_id
        records.append(record)
    return records


def _stats_version(ddb: Any, entity: str) -> int:
    item = ddb.get_item(TableName=TABLE_NAME, Key={"PK": {"S": f"STATS#{entity}"}, "SK": {"S": "TOTAL"}})["Item"]
    return int(item["version"]["N"])


def test_batch_is_applied_in_few_transactions_with_one_ledger_row_per_event(
    ddb: Any, process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import processor_handler

    store = processor_handler.stats_store()
    real = store._transact
    sizes: list[int] = []

    def counting(entries: list[Any], **kwargs: Any) -> set[str]:
        sizes.append(len(entries))
        return real(entries, **kwargs)

    monkeypatch.setattr(store, "_transact", counting)
    records = _item_inserts(150)  # more than one transaction's worth (96 events)
    assert process(records) == []
    assert sizes == [96, 54]
    assert _stats(ddb)["Item"]["Count"] == 150
    assert _ledger_count(ddb) == 150
    # The version moves once per event, as if each had been applied alone.
    assert _stats_version(ddb, "Item") == 150


def test_the_processor_skips_client_side_validation_and_the_api_keeps_it(ddb: Any, process: Any) -> None:
    """The processor's transactions are built by its own code (up to 100 actions): botocore's client-side
    model check is skipped there only; the API's client, which carries request-derived values, keeps it."""
    import processor_handler
    from botocore.exceptions import ParamValidationError
    from service.api import app as api_app

    processor_client = processor_handler.stats_store()._client
    api_client = api_app.entity_store()._client
    assert api_app.stats_store()._client is api_client  # one client per process for the API, as before
    bad_key = {"PK": {"S": 5}, "SK": {"S": "TOTAL"}}  # the model says S is a string
    with pytest.raises(ParamValidationError):
        api_client.get_item(TableName=TABLE_NAME, Key=bad_key)
    try:
        processor_client.get_item(TableName=TABLE_NAME, Key=bad_key)
    except ParamValidationError:
        pytest.fail("the processor's client checked the request against the model")
    except Exception:  # whatever DynamoDB (here moto) answers: the request was sent
        pass
    assert process(_item_inserts(3)) == []  # the unvalidated client still writes what the model says
    assert _stats(ddb)["Item"]["Count"] == 3


def test_bulk_path_matches_per_record_results_across_entity_types(ddb: Any, process: Any) -> None:
    batch = _load("stream-insert.json")["Records"] + [_load("stream-modify.json")["Records"][1]]
    assert process(batch) == []
    stats = _stats(ddb)
    assert (stats["Item"]["Count"], stats["User"]["Count"], stats["Order"]["Count"]) == (1, 1, 1)
    assert stats["Order"]["StatusCount_PENDING"] == 0
    assert stats["Order"]["StatusCount_PAID"] == 1


def test_redelivered_and_overlapping_batches_count_each_event_once(ddb: Any, process: Any) -> None:
    records = _item_inserts(10)
    assert process(records[:4]) == []
    # Lambda redelivers from a checkpoint: the first four were applied already, six are new.
    assert process(records) == []
    assert process(records) == []  # and a full redelivery changes nothing
    assert _stats(ddb)["Item"]["Count"] == 10
    assert _ledger_count(ddb) == 10
    assert _stats_version(ddb, "Item") == 10


def _emf(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents Powertools printed with the processor's record metrics."""
    docs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [doc for doc in docs if "_aws" in doc and any(key.startswith("StreamRecords") for key in doc)]


def test_each_batch_publishes_one_value_per_outcome(ddb: Any, process: Any, capsys: pytest.CaptureFixture[str]) -> None:
    records = _item_inserts(120)
    capsys.readouterr()
    assert process(records) == []
    docs = _emf(capsys.readouterr().out)
    assert len(docs) == 1  # per record, 120 values overflowed Powertools' 100-value flush into two documents
    assert docs[0]["StreamRecordsApplied"] == [120.0]  # one value, not 120 ones
    assert process(records[:30]) == []  # a redelivery: duplicates, counted in one value too
    assert _emf(capsys.readouterr().out)[0]["StreamRecordsDuplicate"] == [30.0]
