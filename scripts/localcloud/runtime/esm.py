"""DynamoDB Streams event source mapping semantics, as Lambda documents them, without any I/O.

For one shard, records are delivered in order in batches. A batch that fails is retried; with
`BisectBatchOnFunctionError` a failing batch is split in two first (splitting does not use up retries); with
`ReportBatchItemFailures` the function returns `batchItemFailures` and the checkpoint moves to the lowest
failed sequence number, so only that record and the ones after it are retried. When `MaximumRetryAttempts`
is exhausted, or records are older than `MaximumRecordAgeInSeconds`, Lambda sends an on-failure record
(batch metadata, not the records) to the destination and moves on.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class InvokeOutcome:
    """What one invocation returned: the parsed payload, or the kind of function error ("Unhandled")."""

    payload: Any = None
    function_error: str | None = None


Invoker = Callable[[dict[str, Any]], InvokeOutcome]
FailureSink = Callable[[dict[str, Any]], None]


# The `Type: DynamoDB` event properties the local poller honours, and those that change nothing observable here
# (KmsKeyArn encrypts the filter criteria at rest; MetricsConfig adds ESM CloudWatch metrics).
HONOURED_PROPERTIES = frozenset(
    {
        "Stream",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "StartingPosition",
        "MaximumRetryAttempts",
        "BisectBatchOnFunctionError",
        "MaximumRecordAgeInSeconds",
        "FunctionResponseTypes",
        "FilterCriteria",
        "DestinationConfig",
        "Enabled",
    }
)
NO_LOCAL_EFFECT = frozenset({"KmsKeyArn", "MetricsConfig"})
LAMBDA_DEFAULTS = {"ParallelizationFactor": 1}  # set to AWS's default it is what the poller does anyway


def not_emulated(props: Mapping[str, Any]) -> tuple[str, ...]:
    """``Name=value`` of each property the local poller would silently ignore (ParallelizationFactor > 1,
    TumblingWindowInSeconds...): the local cloud says so instead of behaving differently from AWS unannounced."""
    return tuple(
        f"{name}={json.dumps(value, sort_keys=True, default=str)}"
        for name, value in sorted(props.items())
        if name not in HONOURED_PROPERTIES | NO_LOCAL_EFFECT and LAMBDA_DEFAULTS.get(name, object()) != value
    )


@dataclass(frozen=True)
class EsmConfig:
    """The event source mapping settings of the template's `Type: DynamoDB` event (Lambda's defaults)."""

    function_arn: str
    stream_arn: str
    batch_size: int = 100
    batching_window: float = 0.0
    starting_position: str = "TRIM_HORIZON"
    max_retry_attempts: int = -1  # -1: retry until the record expires
    bisect_on_error: bool = False
    max_record_age: int = -1  # seconds; -1: no limit
    report_batch_item_failures: bool = False
    filter_patterns: tuple[str, ...] = ()
    on_failure_arn: str | None = None
    enabled: bool = True
    not_emulated: tuple[str, ...] = ()  # see not_emulated()

    @classmethod
    def from_event_properties(cls, props: Mapping[str, Any], function_arn: str) -> EsmConfig:
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        return cls(
            function_arn=function_arn,
            stream_arn=str(props["Stream"]),
            batch_size=int(props.get("BatchSize", 100)),
            batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
            max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
            max_record_age=int(props.get("MaximumRecordAgeInSeconds", -1)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            filter_patterns=tuple(str(f["Pattern"]) for f in filters if "Pattern" in f),
            on_failure_arn=str(destination) if destination else None,
            enabled=bool(props.get("Enabled", True)),
            not_emulated=not_emulated(props),
        )


class RecordFilter:
    """Lambda event filtering: a record passes if ANY pattern matches (no patterns: everything passes).

    Lambda filter patterns are EventBridge patterns, so this reuses moto's EventBridge matcher. The matcher
    copies and flattens the whole event; it is handed only the parts of the record the pattern names (a pattern
    never looks at anything else), which keeps the images of a big item out of every comparison.
    """

    def __init__(self, patterns: Iterable[str]):
        from moto.events.models import EventPattern

        self._patterns = [EventPattern.load(p) for p in patterns]

    def matches(self, record: Record) -> bool:
        return not self._patterns or any(p.matches_event(_named_parts(record, p.get_pattern())) for p in self._patterns)


def _named_parts(value: Any, pattern: Any) -> Any:
    """The parts of ``value`` under the keys ``pattern`` names, recursively; all of it where ``$or`` is used."""
    if not isinstance(value, dict) or not isinstance(pattern, dict) or "$or" in pattern:
        return value
    return {key: _named_parts(value[key], sub) for key, sub in pattern.items() if key in value}


def sequence_number(record: Record) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def record_time(record: Record) -> float | None:
    """ApproximateCreationDateTime as epoch seconds (the SDK gives a datetime, raw JSON a number)."""
    value = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class _Batch:
    records: list[Record]
    retries: int = 0  # retries used so far (bisect halves inherit it: splitting is free)
    invokes: int = 0


@dataclass
class ShardStats:
    invocations: int = 0
    delivered: int = 0
    filtered_out: int = 0
    sent_to_destination: int = 0
    failure_records: list[dict[str, Any]] = field(default_factory=list)


class ShardProcessor:
    """Delivers one shard's records to the function with the mapping's error handling.

    `process(records)` returns only when every record was processed or reported to the on-failure
    destination; the caller checkpoints after it (so the stream never goes backwards).
    """

    def __init__(
        self,
        config: EsmConfig,
        shard_id: str,
        invoke: Invoker,
        on_failure: FailureSink,
        *,
        clock: Callable[[], float] = time.time,
        region: str = "ap-northeast-1",
        record_filter: RecordFilter | None = None,
    ):
        self.config = config
        self.shard_id = shard_id
        self._invoke = invoke
        self._on_failure = on_failure
        self._clock = clock
        self._filter = record_filter or RecordFilter(config.filter_patterns)
        self.region = region
        self.stats = ShardStats()

    def accept(self, records: Iterable[Record]) -> list[Record]:
        """The records that pass the mapping's filter criteria, ready for the event (others are skipped)."""
        kept = []
        for record in records:
            if self._filter.matches(record):
                kept.append({**record, "eventSourceARN": self.config.stream_arn})
            else:
                self.stats.filtered_out += 1
        return kept

    def process(self, records: Sequence[Record]) -> None:
        """Deliver filtered, in-order records in batches of at most `batch_size`."""
        size = max(1, self.config.batch_size)
        for start in range(0, len(records), size):
            self._process_batch(list(records[start : start + size]))

    def _expired(self, records: list[Record]) -> tuple[list[Record], list[Record]]:
        if self.config.max_record_age < 0:
            return [], records
        now = self._clock()
        cutoff = now - self.config.max_record_age
        expired = [r for r in records if (record_time(r) or now) < cutoff]
        # Records are in order, so the expired ones are a prefix (Lambda drops them before invoking).
        return expired, records[len(expired) :]

    def _process_batch(self, records: list[Record]) -> None:
        queue: deque[_Batch] = deque([_Batch(records)])
        while queue:
            batch = queue.popleft()
            expired, live = self._expired(batch.records)
            if expired:
                self._send_failure(expired, "RecordAgeExceeded", batch.invokes, None)
            if not live:
                continue
            batch.records = live
            outcome = self._invoke({"Records": live})
            batch.invokes += 1
            self.stats.invocations += 1
            remaining, failed = self._remaining(live, outcome)
            if not failed:
                self.stats.delivered += len(live)
                continue
            self.stats.delivered += len(live) - len(remaining)
            if outcome.function_error and self.config.bisect_on_error and len(remaining) > 1:
                mid = len(remaining) // 2
                queue.appendleft(_Batch(remaining[mid:], batch.retries, batch.invokes))
                queue.appendleft(_Batch(remaining[:mid], batch.retries, batch.invokes))
                continue
            retries_left = self.config.max_retry_attempts < 0 or batch.retries < self.config.max_retry_attempts
            if retries_left:
                queue.appendleft(_Batch(remaining, batch.retries + 1, batch.invokes))
            else:
                self._send_failure(remaining, "RetryAttemptsExhausted", batch.invokes, outcome.function_error)

    def _remaining(self, records: list[Record], outcome: InvokeOutcome) -> tuple[list[Record], bool]:
        """(records still to retry, whether the invocation failed at all)."""
        if outcome.function_error:
            return records, True
        if not self.config.report_batch_item_failures:
            return [], False
        failures = outcome.payload.get("batchItemFailures") if isinstance(outcome.payload, dict) else None
        if not failures:  # null, missing or empty list: the whole batch succeeded
            return [], False
        sequence_numbers = [sequence_number(r) for r in records]
        positions = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or str(identifier) not in sequence_numbers:
                # Lambda treats an empty or unknown identifier as a failure of the whole batch.
                return records, True
            positions.append(sequence_numbers.index(str(identifier)))
        # Checkpoint at the lowest failed sequence number: it and everything after it are retried.
        return records[min(positions) :], True

    def _send_failure(self, records: list[Record], condition: str, invokes: int, function_error: str | None) -> None:
        first, last = records[0], records[-1]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = function_error
        failure = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.config.function_arn,
                "condition": condition,
                "approximateInvokeCount": invokes,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(self._clock()),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": sequence_number(first),
                "endSequenceNumber": sequence_number(last),
                "approximateArrivalOfFirstRecord": _iso(record_time(first)),
                "approximateArrivalOfLastRecord": _iso(record_time(last)),
                "batchSize": len(records),
                "streamArn": self.config.stream_arn,
            },
        }
        self.stats.sent_to_destination += len(records)
        self.stats.failure_records.append(failure)
        self._on_failure(failure)


def to_json(value: Any) -> str:
    """JSON for events that may hold SDK values: datetimes (ApproximateCreationDateTime), Decimals, and bytes
    (B/BS attributes), which Lambda's events carry as base64 text."""
    return json.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
