"""Polls a DynamoDB stream in the emulator the way Lambda's event source mapping does, and feeds `esm`.

Per shard: GetShardIterator (from the saved checkpoint, else the mapping's StartingPosition) -> GetRecords;
records are filtered, buffered until BatchSize or MaximumBatchingWindowInSeconds, delivered by
`ShardProcessor`, then the checkpoint (last sequence number handled) is saved, so a restarted runtime
resumes where it stopped instead of replaying or skipping the stream.

Stall defence: an iterator chain can go quiet for good while the shard still grows (moto 5.2.x used to swap
in a copy of the table when a transaction was cancelled, orphaning every iterator handed out before; see
``localcloud.moto_shims``). After ``stall_refresh`` seconds of empty reads a shard's iterator is re-acquired
AFTER_SEQUENCE_NUMBER the last record read (else the checkpoint), which costs one call on a truly idle
stream and cannot replay or skip a record.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.runtime.esm import (
    EsmConfig,
    InvokeOutcome,
    Record,
    RecordFilter,
    ShardProcessor,
    sequence_number,
    to_json,
)
from localcloud.runtime.workers import RuntimeStopping

LOG = logging.getLogger("localcloud.streams")
POLL_INTERVAL = 0.25  # Lambda polls a DynamoDB stream shard "at a base rate of 4 times per second"
STALL_REFRESH = 30.0  # seconds of empty reads on a shard before its iterator is re-acquired
SHARD_REFRESH = 10.0  # seconds between DescribeStream calls (shards change rarely; GetRecords is the hot path)


_raw_page = threading.local()  # the body of the GetRecords answer this thread just received


def _keep_raw_page(response_dict: dict[str, Any], **_: Any) -> None:
    """``before-parse`` hook: keep a successful GetRecords body as sent and let the SDK parse ``{}`` instead.

    Lambda's event records are the wire records (ApproximateCreationDateTime in epoch seconds, B/BS as base64),
    so turning a page into SDK types (datetime, bytes) and back cost the poller ~50 ms per 1,000 records for
    nothing. Error answers are left alone: the SDK raises them as usual.
    """
    if 200 <= int(response_dict.get("status_code", 0)) < 300:
        _raw_page.body = response_dict["body"]
        response_dict["body"] = b"{}"


def read_raw_pages(client: Any) -> None:
    """Make ``client`` (a boto3 DynamoDB Streams client) keep GetRecords bodies for :meth:`StreamPoller._read`."""
    client.meta.events.register("before-parse.dynamodb-streams.GetRecords", _keep_raw_page, "localcloud-raw-page")


class CheckpointStore:
    """{stream ARN: {shard id: last sequence number}} in one JSON file (a new stream ARN starts fresh)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def load(self, stream_arn: str) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return dict(data.get(stream_arn, {}))

    def save(self, stream_arn: str, shard_id: str, seq: str) -> None:
        with self._lock:
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            data.setdefault(stream_arn, {})[shard_id] = seq
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self.path)


class StreamPoller(threading.Thread):
    def __init__(
        self,
        config: EsmConfig,
        *,
        streams_client: Any,
        invoke: Callable[[dict[str, Any]], InvokeOutcome],
        on_failure: Callable[[dict[str, Any]], None],
        checkpoints: CheckpointStore,
        stop: threading.Event,
        region: str,
        stall_refresh: float = STALL_REFRESH,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(name=f"stream:{config.stream_arn.rsplit('/', 1)[-1]}", daemon=True)
        self.config = config
        self.client = streams_client
        self.invoke = invoke
        self.on_failure = on_failure
        self.checkpoints = checkpoints
        self.stop_event = stop
        self.region = region
        self._iterators: dict[str, str | None] = {}
        self._processors: dict[str, ShardProcessor] = {}
        self._buffers: dict[str, list[Record]] = {}
        self._buffer_since: dict[str, float] = {}
        self._last_seq: dict[str, str] = {}
        self.stall_refresh = stall_refresh
        self.clock = clock
        self._read_upto: dict[str, str] = {}  # last sequence number read per shard (ahead of the checkpoint)
        self._empty_since: dict[str, float] = {}
        self.refreshes = 0
        self._shard_ids: list[str] = []
        self._shards_listed_at = float("-inf")
        if hasattr(streams_client, "meta"):
            read_raw_pages(streams_client)
        # Built now: the matcher's import (moto's EventBridge models, ~0.1 s) belongs to startup, not to the
        # latency of the first records.
        self._filter = RecordFilter(config.filter_patterns)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                busy = self.poll_once()
            except RuntimeStopping:  # shutdown: the batch in flight is redelivered from the checkpoint next time
                return
            except Exception:  # the emulator restarting must not kill the runtime; log and retry
                LOG.exception("stream poll failed for %s", self.config.stream_arn)
                self._iterators.clear()
                self._shard_ids = []
                busy = False
            if not busy:
                self.stop_event.wait(POLL_INTERVAL)

    def _shards(self) -> list[str]:
        if self._shard_ids and self.clock() - self._shards_listed_at < SHARD_REFRESH:
            return self._shard_ids
        self._shard_ids, self._shards_listed_at = self._describe_shards(), self.clock()
        return self._shard_ids

    def _describe_shards(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamArn": self.config.stream_arn}
        while True:
            desc = self.client.describe_stream(**kwargs)["StreamDescription"]
            shards += [s["ShardId"] for s in desc.get("Shards", [])]
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def _iterator(self, shard_id: str) -> str | None:
        if shard_id not in self._iterators:
            saved = self.checkpoints.load(self.config.stream_arn).get(shard_id)
            kwargs: dict[str, Any] = {"StreamArn": self.config.stream_arn, "ShardId": shard_id}
            if saved:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=saved)
            else:
                kwargs["ShardIteratorType"] = self.config.starting_position
            self._iterators[shard_id] = self.client.get_shard_iterator(**kwargs)["ShardIterator"]
        return self._iterators[shard_id]

    def _refresh(self, shard_id: str) -> None:
        """Replace a shard's iterator that has read nothing for `stall_refresh` seconds by a fresh one."""
        self._empty_since.pop(shard_id, None)
        position = self._read_upto.get(shard_id) or self.checkpoints.load(self.config.stream_arn).get(shard_id)
        kwargs: dict[str, Any] = {"StreamArn": self.config.stream_arn, "ShardId": shard_id}
        if position:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position)
        elif self.config.starting_position == "TRIM_HORIZON":  # nothing read yet: all there is is unread
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:  # a new LATEST could skip a record written just now: keep the chain we have
            return
        self._iterators[shard_id] = self.client.get_shard_iterator(**kwargs)["ShardIterator"]
        self.refreshes += 1
        LOG.info(
            "stream %s shard %s: no records for %.0f s, iterator re-acquired %s %s",
            self.config.stream_arn,
            shard_id,
            self.stall_refresh,
            kwargs["ShardIteratorType"],
            position or "",
        )

    def poll_once(self) -> bool:
        """One round over the shards; True if records were read (poll again at once)."""
        busy = False
        for shard_id in self._shards():
            iterator = self._iterator(shard_id)
            if iterator is None:
                continue
            response = self._read(iterator)
            self._iterators[shard_id] = response["NextShardIterator"]
            records = response["Records"]
            processor = self._processors.setdefault(
                shard_id,
                ShardProcessor(
                    self.config, shard_id, self.invoke, self.on_failure, region=self.region, record_filter=self._filter
                ),
            )
            if records:
                busy = True
                self._last_seq[shard_id] = self._read_upto[shard_id] = sequence_number(records[-1])
                self._empty_since.pop(shard_id, None)
                buffer = self._buffers.setdefault(shard_id, [])
                if not buffer:
                    self._buffer_since[shard_id] = self.clock()
                buffer += processor.accept(records)
            elif self.clock() - self._empty_since.setdefault(shard_id, self.clock()) >= self.stall_refresh:
                self._refresh(shard_id)
            self._flush(shard_id, processor)
        return busy

    def _read(self, iterator: str) -> dict[str, Any]:
        """One GetRecords page with its records in Lambda's event format."""
        _raw_page.body = None
        response = self.client.get_records(ShardIterator=iterator, Limit=1000)
        if _raw_page.body is not None:  # a boto3 client (read_raw_pages): the records as sent
            response = json.loads(_raw_page.body)
            _raw_page.body = None
            return {"Records": response.get("Records", []), "NextShardIterator": response.get("NextShardIterator")}
        # Any other client hands SDK types: a datetime ApproximateCreationDateTime, bytes for B/BS.
        return {
            "Records": json.loads(to_json(response.get("Records", []))),
            "NextShardIterator": response.get("NextShardIterator"),
        }

    def _flush(self, shard_id: str, processor: ShardProcessor) -> None:
        buffer = self._buffers.get(shard_id, [])
        now = self.clock()
        waited = now - self._buffer_since.get(shard_id, now)
        full = len(buffer) >= self.config.batch_size
        if buffer and not full and waited < self.config.batching_window:
            return
        if buffer:
            self._buffers[shard_id] = []
            processor.process(buffer)
        # Checkpoint also past filtered-out records: Lambda does not redeliver them either.
        if shard_id in self._last_seq:
            self.checkpoints.save(self.config.stream_arn, shard_id, self._last_seq.pop(shard_id))
