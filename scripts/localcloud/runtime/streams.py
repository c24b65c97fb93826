"""Polls a DynamoDB stream in the emulator the way Lambda's event source mapping does, and feeds `esm`.

Per shard: GetShardIterator (from the saved checkpoint, else the mapping's StartingPosition) -> GetRecords;
records are filtered, buffered until BatchSize or MaximumBatchingWindowInSeconds, delivered by
`ShardProcessor`, then the checkpoint (last sequence number handled) is saved, so a restarted runtime
resumes where it stopped instead of replaying or skipping the stream.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.runtime.esm import EsmConfig, InvokeOutcome, Record, ShardProcessor, sequence_number, to_json

LOG = logging.getLogger("localcloud.streams")
POLL_INTERVAL = 0.5


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

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                busy = self.poll_once()
            except Exception:  # the emulator restarting must not kill the runtime; log and retry
                LOG.exception("stream poll failed for %s", self.config.stream_arn)
                self._iterators.clear()
                busy = False
            if not busy:
                self.stop_event.wait(POLL_INTERVAL)

    def _shards(self) -> list[str]:
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

    def poll_once(self) -> bool:
        """One round over the shards; True if records were read (poll again at once)."""
        busy = False
        for shard_id in self._shards():
            iterator = self._iterator(shard_id)
            if iterator is None:
                continue
            response = self.client.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[shard_id] = response.get("NextShardIterator")
            # The SDK parses ApproximateCreationDateTime into a datetime; Lambda's event carries epoch seconds.
            records = json.loads(to_json(response.get("Records", [])))
            processor = self._processors.setdefault(
                shard_id,
                ShardProcessor(self.config, shard_id, self.invoke, self.on_failure, region=self.region),
            )
            if records:
                busy = True
                self._last_seq[shard_id] = sequence_number(records[-1])
                buffer = self._buffers.setdefault(shard_id, [])
                if not buffer:
                    self._buffer_since[shard_id] = time.monotonic()
                buffer += processor.accept(records)
            self._flush(shard_id, processor)
        return busy

    def _flush(self, shard_id: str, processor: ShardProcessor) -> None:
        buffer = self._buffers.get(shard_id, [])
        waited = time.monotonic() - self._buffer_since.get(shard_id, time.monotonic())
        full = len(buffer) >= self.config.batch_size
        if buffer and not full and waited < self.config.batching_window:
            return
        if buffer:
            self._buffers[shard_id] = []
            processor.process(buffer)
        # Checkpoint also past filtered-out records: Lambda does not redeliver them either.
        if shard_id in self._last_seq:
            self.checkpoints.save(self.config.stream_arn, shard_id, self._last_seq.pop(shard_id))
