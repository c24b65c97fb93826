"""The local event source mapping's semantics (Lambda's documented behaviour), with a scripted fake function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import tooling
from localcloud.runtime.esm import EsmConfig, InvokeOutcome, RecordFilter, ShardProcessor, sequence_number
from samcli.yamlhelper import yaml_parse

STREAM = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
FUNCTION = "arn:aws:lambda:ap-northeast-1:123456789012:function:tfsam-local-processor"
NOW = 1_800_000_000.0


def record(n: int, pk: str | None = None, age: float = 1.0) -> dict[str, Any]:
    pk = pk or f"ITEM#{n}"
    return {
        "eventID": f"e{n}",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"PK": {"S": pk}, "SK": {"S": "METADATA"}},
            "NewImage": {"PK": {"S": pk}},
            "SequenceNumber": str(1000 + n),
            "ApproximateCreationDateTime": NOW - age,
        },
    }


class FakeFunction:
    """Records every batch it sees; `behaviour(batch) -> InvokeOutcome` decides the answer."""

    def __init__(self, behaviour: Callable[[list[dict[str, Any]]], InvokeOutcome]):
        self.behaviour = behaviour
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any]) -> InvokeOutcome:
        json.dumps(event)  # the event must be JSON, as Lambda sends it
        batch = event["Records"]
        self.batches.append([r["eventID"] for r in batch])
        return self.behaviour(batch)


def ok(_batch: list[dict[str, Any]]) -> InvokeOutcome:
    return InvokeOutcome({"batchItemFailures": []})


def crash_on(*poison: str) -> Callable[[list[dict[str, Any]]], InvokeOutcome]:
    def behaviour(batch: list[dict[str, Any]]) -> InvokeOutcome:
        if any(r["eventID"] in poison for r in batch):
            return InvokeOutcome({"errorMessage": "boom", "errorType": "ValueError"}, "Unhandled")
        return InvokeOutcome(None)

    return behaviour


def report(*poison: str) -> Callable[[list[dict[str, Any]]], InvokeOutcome]:
    def behaviour(batch: list[dict[str, Any]]) -> InvokeOutcome:
        failed = [{"itemIdentifier": sequence_number(r)} for r in batch if r["eventID"] in poison]
        return InvokeOutcome({"batchItemFailures": failed})

    return behaviour


def make(fn: FakeFunction, **config: Any) -> tuple[ShardProcessor, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []
    cfg = EsmConfig(function_arn=FUNCTION, stream_arn=STREAM, on_failure_arn="arn:aws:sqs:x:1:dlq", **config)
    return ShardProcessor(cfg, "shardId-1", fn, sent.append, clock=lambda: NOW), sent


def run(processor: ShardProcessor, records: list[dict[str, Any]]) -> None:
    processor.process(processor.accept(records))


def test_batches_respect_batch_size_and_order() -> None:
    fn = FakeFunction(ok)
    processor, sent = make(fn, batch_size=3)
    run(processor, [record(i) for i in range(7)])
    assert fn.batches == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]
    assert sent == []
    assert processor.stats.delivered == 7


def test_filter_criteria_from_the_template_drop_own_writes() -> None:
    template = yaml_parse((tooling.SAM_DIR / "template.yaml").read_text())
    props = template["Resources"]["ProcessorFunction"]["Properties"]["Events"]["TableStream"]["Properties"]
    config = EsmConfig.from_event_properties({**props, "Stream": STREAM}, FUNCTION)
    assert config.filter_patterns, "the template filters the processor's stream"
    fn = FakeFunction(ok)
    processor = ShardProcessor(config, "shardId-1", fn, lambda _r: None, clock=lambda: NOW)
    records = [
        record(1),
        record(2, "STATS#Item"),
        record(3, "USER#u"),
        record(4, "LEDGER#e1"),
        record(5, "IDEMPOTENCY#scheduled"),
    ]
    run(processor, records)
    assert fn.batches == [["e1", "e3"]]
    assert processor.stats.filtered_out == 3
    # The event carries the stream ARN like Lambda's does.
    assert all(r["eventSourceARN"] == STREAM for r in processor.accept([record(9)]))


def test_settings_the_poller_does_not_honour_are_named_not_ignored() -> None:
    template = yaml_parse((tooling.SAM_DIR / "template.yaml").read_text())
    props = template["Resources"]["ProcessorFunction"]["Properties"]["Events"]["TableStream"]["Properties"]
    assert EsmConfig.from_event_properties({**props, "Stream": STREAM}, FUNCTION).not_emulated == ()
    extra = {
        "ParallelizationFactor": 4,
        "TumblingWindowInSeconds": 30,
        "KmsKeyArn": "arn:aws:kms:x",
        "MetricsConfig": {},
    }
    config = EsmConfig.from_event_properties({**props, **extra, "Stream": STREAM}, FUNCTION)
    assert config.not_emulated == ("ParallelizationFactor=4", "TumblingWindowInSeconds=30")
    # Lambda's default is what the poller does anyway.
    assert EsmConfig.from_event_properties({"Stream": STREAM, "ParallelizationFactor": 1}, FUNCTION).not_emulated == ()


def test_deploy_summary_and_status_name_what_is_not_emulated() -> None:
    from deploylib.local import not_emulated_warnings

    info = {
        "streams": [
            {"function": "ProcessorFunction", "notEmulated": ["ParallelizationFactor=4"]},
            {"function": "Other", "notEmulated": []},
        ]
    }
    assert not_emulated_warnings(info) == [
        "  WARNING:    stream -> ProcessorFunction: not emulated locally (ParallelizationFactor=4); "
        "AWS behaves differently"
    ]
    assert not_emulated_warnings(None) == []


def test_partial_batch_response_checkpoints_at_the_lowest_failed_record() -> None:
    fn = FakeFunction(report("e3", "e5"))
    processor, sent = make(fn, batch_size=10, report_batch_item_failures=True, max_retry_attempts=2)
    run(processor, [record(i) for i in range(7)])
    # First invoke: all 7; failures e3 and e5 -> retry from e3 (lowest), twice, then give up on e3..e6.
    assert fn.batches == [[f"e{i}" for i in range(7)]] + [[f"e{i}" for i in range(3, 7)]] * 2
    assert len(sent) == 1
    info = sent[0]["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("1003", "1006", 4)
    assert sent[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert sent[0]["requestContext"]["approximateInvokeCount"] == 3


def test_batch_item_failures_are_ignored_unless_the_mapping_reports_them() -> None:
    fn = FakeFunction(report("e1"))
    processor, sent = make(fn, report_batch_item_failures=False, max_retry_attempts=2)
    run(processor, [record(0), record(1)])
    assert fn.batches == [["e0", "e1"]]
    assert sent == []


@pytest.mark.parametrize("identifier", ["", "9999", None])
def test_an_invalid_item_identifier_fails_the_whole_batch(identifier: str | None) -> None:
    fn = FakeFunction(lambda _b: InvokeOutcome({"batchItemFailures": [{"itemIdentifier": identifier}]}))
    processor, sent = make(fn, report_batch_item_failures=True, max_retry_attempts=1)
    run(processor, [record(0), record(1)])
    assert fn.batches == [["e0", "e1"], ["e0", "e1"]]
    assert sent[0]["DDBStreamBatchInfo"]["batchSize"] == 2


@pytest.mark.parametrize("payload", [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}])
def test_empty_or_missing_failures_mean_success(payload: Any) -> None:
    fn = FakeFunction(lambda _b: InvokeOutcome(payload))
    processor, sent = make(fn, report_batch_item_failures=True, max_retry_attempts=0)
    run(processor, [record(0), record(1)])
    assert fn.batches == [["e0", "e1"]]
    assert sent == []


def test_bisect_isolates_the_poison_record_and_its_neighbours_succeed() -> None:
    fn = FakeFunction(crash_on("e2"))
    processor, sent = make(fn, bisect_on_error=True, max_retry_attempts=1)
    run(processor, [record(i) for i in range(4)])
    # [0..3] fails -> [0,1] ok, [2,3] fails -> [2] fails (retried once, splitting is free), [3] ok.
    assert fn.batches == [["e0", "e1", "e2", "e3"], ["e0", "e1"], ["e2", "e3"], ["e2"], ["e2"], ["e3"]]
    assert len(sent) == 1
    failure = sent[0]
    assert failure["DDBStreamBatchInfo"]["startSequenceNumber"] == failure["DDBStreamBatchInfo"]["endSequenceNumber"]
    assert failure["DDBStreamBatchInfo"]["startSequenceNumber"] == "1002"
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert processor.stats.delivered == 3


def test_without_bisect_a_failing_batch_is_retried_whole_then_sent_to_the_destination() -> None:
    fn = FakeFunction(crash_on("e1"))
    processor, sent = make(fn, max_retry_attempts=3)
    run(processor, [record(0), record(1), record(2)])
    assert fn.batches == [["e0", "e1", "e2"]] * 4  # first attempt + 3 retries
    assert sent[0]["requestContext"]["approximateInvokeCount"] == 4
    assert sent[0]["DDBStreamBatchInfo"]["batchSize"] == 3


def test_records_older_than_the_maximum_age_are_not_invoked() -> None:
    fn = FakeFunction(ok)
    processor, sent = make(fn, max_record_age=60)
    run(processor, [record(0, age=120), record(1, age=90), record(2, age=5)])
    assert fn.batches == [["e2"]]
    assert sent[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    assert sent[0]["DDBStreamBatchInfo"]["batchSize"] == 2


def test_on_failure_record_has_lambdas_shape() -> None:
    fn = FakeFunction(crash_on("e0"))
    processor, sent = make(fn, max_retry_attempts=0)
    run(processor, [record(0)])
    (failure,) = sent
    assert set(failure) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    assert set(failure["requestContext"]) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    assert failure["requestContext"]["functionArn"] == FUNCTION
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert set(failure["DDBStreamBatchInfo"]) == {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    }
    assert failure["DDBStreamBatchInfo"]["streamArn"] == STREAM
    assert failure["DDBStreamBatchInfo"]["shardId"] == "shardId-1"
    assert failure["timestamp"].endswith("Z")


def test_esm_config_from_the_templates_event() -> None:
    template = yaml_parse((tooling.SAM_DIR / "template.yaml").read_text())
    props = template["Resources"]["ProcessorFunction"]["Properties"]["Events"]["TableStream"]["Properties"]
    config = EsmConfig.from_event_properties(
        {
            **props,
            "Stream": STREAM,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:ap-northeast-1:123456789012:dlq"}},
        },
        FUNCTION,
    )
    assert config.batch_size == props["BatchSize"]
    assert config.batching_window == props["MaximumBatchingWindowInSeconds"]
    assert config.max_retry_attempts == props["MaximumRetryAttempts"]
    assert config.bisect_on_error is props["BisectBatchOnFunctionError"]
    assert config.max_record_age == props["MaximumRecordAgeInSeconds"]
    assert config.report_batch_item_failures is ("ReportBatchItemFailures" in props["FunctionResponseTypes"])
    assert config.on_failure_arn == "arn:aws:sqs:ap-northeast-1:123456789012:dlq"


@pytest.mark.parametrize(
    "pattern",
    [
        '{"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "ITEM#"}, {"prefix": "USER#"}]}}}}',
        '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"Status": {"S": [{"anything-but": "DONE"}]}}}}',
        '{"dynamodb": {"OldImage": {"Status": [{"exists": false}]}}}',
        '{"dynamodb": {"NewImage": {"Qty": {"N": ["3", "5"]}}}}',
        '{"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"Keys": {"PK": {"S": ["USER#u"]}}}}]}',
        '{"dynamodb": {"Missing": {"Deeper": ["x"]}}}',
    ],
)
def test_the_filter_decides_as_motos_matcher_on_the_whole_record(pattern: str) -> None:
    from moto.events.models import EventPattern

    whole = EventPattern.load(pattern)
    records = []
    for n, (pk, event, status, qty) in enumerate(
        [("ITEM#1", "INSERT", "NEW", "3"), ("USER#u", "MODIFY", "DONE", "1"), ("STATS#x", "REMOVE", None, "5")]
    ):
        r = record(n, pk)
        r["eventName"] = event
        image = {"PK": {"S": pk}, "Qty": {"N": qty}, **({"Status": {"S": status}} if status else {})}
        r["dynamodb"].update(NewImage=image, OldImage=dict(image) if event != "INSERT" else {})
        records.append(r)
    decided = [RecordFilter([pattern]).matches(r) for r in records]
    assert decided == [whole.matches_event(r) for r in records]
    assert any(decided) != ("Missing" in pattern)  # every pattern but the last matches something
