"""The local stream poller's stall defence, against a fake DynamoDB Streams client whose iterators can go stale."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from localcloud.runtime.esm import EsmConfig, InvokeOutcome
from localcloud.runtime.streams import CheckpointStore, StreamPoller

STREAM = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
SHARD = "shardId-1"


class FakeStreams:
    """One shard; iterators are "generation:position". `orphan()` makes every iterator handed out so far read
    nothing forever while the shard keeps growing, which is what moto's table swap did to a consumer's chain."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.generation = 0
        self.iterator_requests: list[dict[str, Any]] = []

    def write(self, *numbers: int) -> None:
        for n in numbers:
            self.records.append(
                {
                    "eventID": f"e{n}",
                    "eventName": "INSERT",
                    "dynamodb": {"Keys": {"PK": {"S": f"ITEM#{n}"}}, "SequenceNumber": str(1000 + n)},
                }
            )

    def orphan(self) -> None:
        self.generation += 1

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": SHARD}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self.iterator_requests.append(kwargs)
        kind = kwargs["ShardIteratorType"]
        if kind == "TRIM_HORIZON":
            position = 0
        elif kind == "LATEST":
            position = len(self.records)
        else:  # AFTER_SEQUENCE_NUMBER
            after = int(kwargs["SequenceNumber"])
            position = sum(1 for r in self.records if int(r["dynamodb"]["SequenceNumber"]) <= after)
        return {"ShardIterator": f"{self.generation}:{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        generation, position = (int(part) for part in ShardIterator.split(":"))
        if generation < self.generation:
            return {"Records": [], "NextShardIterator": ShardIterator}
        page = self.records[position : position + Limit]
        return {"Records": page, "NextShardIterator": f"{generation}:{position + len(page)}"}


class Harness:
    def __init__(self, tmp_path: Path, **config: Any) -> None:
        self.now = 0.0
        self.delivered: list[str] = []
        self.streams = FakeStreams()
        self.checkpoints = CheckpointStore(tmp_path / "checkpoints.json")
        cfg = EsmConfig(function_arn="arn:aws:lambda:x:1:function:p", stream_arn=STREAM, **config)
        self.poller = StreamPoller(
            cfg,
            streams_client=self.streams,
            invoke=self.invoke,
            on_failure=lambda record: pytest.fail(f"unexpected on-failure record {record}"),
            checkpoints=self.checkpoints,
            stop=threading.Event(),
            region="ap-northeast-1",
            stall_refresh=30.0,
            clock=lambda: self.now,
        )

    def invoke(self, event: dict[str, Any]) -> InvokeOutcome:
        self.delivered += [r["eventID"] for r in event["Records"]]
        return InvokeOutcome(None)

    def poll_at(self, *times: float) -> None:
        for t in times:
            self.now = t
            self.poller.poll_once()


def test_a_stalled_chain_is_re_acquired_after_the_last_record_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path)
    h.streams.write(1, 2, 3)
    h.poll_at(0)
    assert h.delivered == ["e1", "e2", "e3"]
    h.streams.orphan()
    h.streams.write(4, 5)
    h.poll_at(1, 10, 29.9)
    assert (h.delivered[3:], h.poller.refreshes) == ([], 0)  # stalled, but not yet for stall_refresh seconds

    with caplog.at_level(logging.INFO, logger="localcloud.streams"):
        h.poll_at(31, 31.5)
    assert h.delivered == ["e1", "e2", "e3", "e4", "e5"]  # nothing replayed, nothing skipped
    assert h.streams.iterator_requests[-1]["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER"
    assert h.streams.iterator_requests[-1]["SequenceNumber"] == "1003"
    assert h.checkpoints.load(STREAM) == {SHARD: "1005"}
    assert "iterator re-acquired AFTER_SEQUENCE_NUMBER 1003" in caplog.text


def test_the_refresh_starts_after_records_read_but_not_yet_checkpointed(tmp_path: Path) -> None:
    h = Harness(tmp_path, batching_window=60.0)  # records wait in the buffer, unflushed and not checkpointed
    h.streams.write(1, 2)
    h.poll_at(0, 1, 31)  # read at 0, then 30 s of empty reads
    assert (h.delivered, h.checkpoints.load(STREAM), h.poller.refreshes) == ([], {}, 1)
    assert h.streams.iterator_requests[-1]["SequenceNumber"] == "1002"
    h.streams.write(3)
    h.poll_at(61, 62)
    assert h.delivered == ["e1", "e2", "e3"]


def test_records_arriving_keep_the_chain(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    for second in range(0, 100, 20):  # a record every 20 s, empty polls in between
        h.streams.write(second)
        h.poll_at(second, second + 1, second + 19)
    assert h.poller.refreshes == 0
    assert len(h.streams.iterator_requests) == 1
    assert h.delivered == [f"e{s}" for s in range(0, 100, 20)]


@pytest.mark.parametrize(("start", "refreshed"), [("TRIM_HORIZON", True), ("LATEST", False)])
def test_with_nothing_read_only_trim_horizon_is_re_acquired(tmp_path: Path, start: str, refreshed: bool) -> None:
    h = Harness(tmp_path, starting_position=start)
    h.poll_at(0, 31)
    # A new LATEST iterator could skip a record written between the last read and the call: keep the chain.
    assert h.poller.refreshes == int(refreshed)
    assert [r["ShardIteratorType"] for r in h.streams.iterator_requests] == [start] * (1 + int(refreshed))


def test_events_carry_the_wire_records_from_a_real_client(tmp_path: Path) -> None:
    """Against moto (in-process): the records a boto3 client's page hands the function are the wire records
    (epoch-second ApproximateCreationDateTime, base64 B/BS), the same values the SDK-typed path produces."""
    import base64

    from localcloud.runtime.esm import to_json
    from moto_support import streamed_table

    with streamed_table("t") as (client, streams):
        arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
        client.put_item(TableName="t", Item={"PK": {"S": "ITEM#1"}, "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"\x01"]}})
        events: list[dict[str, Any]] = []
        poller = StreamPoller(
            EsmConfig(function_arn="arn:aws:lambda:x:1:function:p", stream_arn=arn),
            streams_client=streams,
            invoke=lambda event: events.append(event) or InvokeOutcome(None),
            on_failure=lambda record: pytest.fail(f"unexpected on-failure record {record}"),
            checkpoints=CheckpointStore(tmp_path / "checkpoints.json"),
            stop=threading.Event(),
            region="ap-northeast-1",
        )
        sdk_answers: list[dict[str, Any]] = []
        get_records = streams.get_records
        streams.get_records = lambda **kw: sdk_answers.append(get_records(**kw)) or sdk_answers[-1]
        assert poller.poll_once()
        assert "Records" not in sdk_answers[0]  # the SDK parsed nothing: the page was taken as sent
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        streams.meta.events.unregister("before-parse.dynamodb-streams.GetRecords", unique_id="localcloud-raw-page")
        typed = json.loads(to_json(get_records(ShardIterator=iterator["ShardIterator"])["Records"]))

    [record] = events[0]["Records"]
    image = record["dynamodb"]["NewImage"]
    assert image["b"] == {"B": base64.b64encode(b"\x00\xff").decode()}
    assert image["bs"] == {"BS": [base64.b64encode(b"\x01").decode()]}
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int | float)
    assert {k: v for k, v in record.items() if k != "eventSourceARN"} == typed[0]
