"""DynamoDB implementation of the stores in ``service.dal.interface`` (single-table design)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from service import keys
from service.dal.client import dynamodb_client, error_code, from_ddb, to_ddb
from service.dal.interface import Key, LedgerEntry, Row
from service.errors import NotFoundError, VersionConflictError
from service.keys import EntityType, OrderStatus

COUNT_ATTR = "Count"
# TransactWriteItems takes at most 100 actions: one ledger Put per event plus one stats Update per entity type
# (three types) must fit.
MAX_EVENTS_PER_TRANSACTION = 96
STATUS_COUNT_PREFIX = "StatusCount_"
_LIVE_FILTER = "attribute_not_exists(#exp) OR #exp > :now"


def is_live(row: Row | None, now: int) -> bool:
    """Rows past ExpiresAt are gone for clients even before TTL or the scheduled purge deletes them."""
    if row is None:
        return False
    expires = row.get(keys.EXPIRES_AT)
    return expires is None or int(expires) > now


class DynamoEntityStore:
    def __init__(self, table_name: str, entity_type_index: str, gsi1_index: str) -> None:
        self._table = table_name
        self._entity_type_index = entity_type_index
        self._gsi1_index = gsi1_index

    @property
    def _client(self) -> Any:
        return dynamodb_client()

    def put_new(self, row: Row) -> None:
        self._client.put_item(TableName=self._table, Item=to_ddb(row), ConditionExpression="attribute_not_exists(PK)")

    def get(self, key: Key) -> Row | None:
        response = self._client.get_item(TableName=self._table, Key=to_ddb(key), ConsistentRead=True)
        return from_ddb(response.get("Item"))

    def update_versioned(self, key: Key, changes: Row, expected_version: int, now: int) -> Row:
        names = {"#v": keys.VERSION, "#u": "UpdatedAt", "#exp": keys.EXPIRES_AT}
        values: dict[str, Any] = {":expected": expected_version, ":next": expected_version + 1, ":now": now}
        sets = ["#v = :next", "#u = :now"]
        for index, (name, value) in enumerate(sorted(changes.items())):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=to_ddb(key),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=f"attribute_exists(PK) AND #v = :expected AND ({_LIVE_FILTER})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_ddb(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self._raise_condition_failure(exc, key, now)
        return from_ddb(response["Attributes"]) or {}

    def delete_versioned(self, key: Key, expected_version: int | None) -> None:
        condition = "attribute_exists(PK)"
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if expected_version is not None:
            condition += " AND #v = :expected"
            names["#v"] = keys.VERSION
            values[":expected"] = expected_version
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        if values:
            kwargs["ExpressionAttributeValues"] = to_ddb(values)
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=to_ddb(key),
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **kwargs,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self._raise_condition_failure(exc, key, now=None)

    def _raise_condition_failure(self, exc: ClientError, key: Key, now: int | None) -> None:
        old = from_ddb(exc.response.get("Item")) if exc.response.get("Item") else self.get(key)
        if old is None or (now is not None and not is_live(old, now)):
            raise NotFoundError("resource not found") from exc
        raise VersionConflictError(
            "the resource was modified by someone else; re-read it and retry",
            details={"current_version": int(old.get(keys.VERSION, 0))},
        ) from exc

    def put_order_for_user(self, order: Row, user_key: Key) -> None:
        # One transaction: the order is written only if the user's profile exists at that instant.
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": to_ddb(user_key),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_ddb(order),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise NotFoundError("user not found") from exc
            raise

    def list_by_entity_type(
        self, entity_type: EntityType, limit: int, start_key: Key | None, now: int
    ) -> tuple[list[Row], Key | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self._entity_type_index,
            "KeyConditionExpression": "#t = :t",
            "FilterExpression": _LIVE_FILTER,
            "ExpressionAttributeNames": {"#t": keys.ENTITY_TYPE, "#exp": keys.EXPIRES_AT},
            "ExpressionAttributeValues": to_ddb({":t": EntityType(entity_type).value, ":now": now}),
            "ScanIndexForward": False,  # newest first (range key CreatedAt)
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = to_ddb(start_key)
        response = self._client.query(**kwargs)
        rows = [from_ddb(row) or {} for row in response.get("Items", [])]
        return rows, from_ddb(response.get("LastEvaluatedKey"))

    def list_user_orders(self, user_id: str, limit: int, start_key: Key | None) -> tuple[bool, list[Row], Key | None]:
        # One Query answers both "does the user exist" and "their orders, newest first": SK between
        # "ORDER#" and "PROFILE" read descending returns PROFILE first, then ORDER#<ulid> newest first.
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": to_ddb(
                {":pk": keys.user_partition(user_id), ":lo": keys.ORDER_PREFIX, ":hi": keys.USER_SK}
            ),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit if start_key else limit + 1,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = to_ddb(start_key)
        response = self._client.query(**kwargs)
        rows = [from_ddb(row) or {} for row in response.get("Items", [])]
        exists = bool(start_key) or any(row.get(keys.SK) == keys.USER_SK for row in rows)
        orders = [row for row in rows if str(row.get(keys.SK, "")).startswith(keys.ORDER_PREFIX)]
        return exists, orders, from_ddb(response.get("LastEvaluatedKey"))

    def list_orders_by_status(
        self, status: OrderStatus, limit: int, start_key: Key | None
    ) -> tuple[list[Row], Key | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self._gsi1_index,
            "KeyConditionExpression": "GSI1PK = :p",
            "ExpressionAttributeValues": to_ddb({":p": keys.order_status_partition(status)}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = to_ddb(start_key)
        response = self._client.query(**kwargs)
        rows = [from_ddb(row) or {} for row in response.get("Items", [])]
        return rows, from_ddb(response.get("LastEvaluatedKey"))

    def _count(self, **kwargs: Any) -> int:
        total = 0
        while True:
            response = self._client.query(TableName=self._table, Select="COUNT", **kwargs)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    def count_entity_type(self, entity_type: EntityType) -> int:
        return self._count(
            IndexName=self._entity_type_index,
            KeyConditionExpression="#t = :t",
            ExpressionAttributeNames={"#t": keys.ENTITY_TYPE},
            ExpressionAttributeValues=to_ddb({":t": EntityType(entity_type).value}),
        )

    def count_orders_by_status(self, status: OrderStatus) -> int:
        return self._count(
            IndexName=self._gsi1_index,
            KeyConditionExpression="GSI1PK = :p",
            ExpressionAttributeValues=to_ddb({":p": keys.order_status_partition(status)}),
        )

    def expired_keys(self, entity_type: EntityType, now: int) -> list[Key]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self._entity_type_index,
            "KeyConditionExpression": "#t = :t",
            "FilterExpression": "#exp < :now",
            "ProjectionExpression": "PK, SK",
            "ExpressionAttributeNames": {"#t": keys.ENTITY_TYPE, "#exp": keys.EXPIRES_AT},
            "ExpressionAttributeValues": to_ddb({":t": EntityType(entity_type).value, ":now": now}),
        }
        found: list[Key] = []
        while True:
            response = self._client.query(**kwargs)
            found.extend(from_ddb(row) or {} for row in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_if_expired(self, key: Key, now: int) -> bool:
        # The condition protects a row whose ExpiresAt was extended after we listed it.
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=to_ddb({keys.PK: key[keys.PK], keys.SK: key[keys.SK]}),
                ConditionExpression="#exp < :now",
                ExpressionAttributeNames={"#exp": keys.EXPIRES_AT},
                ExpressionAttributeValues=to_ddb({":now": now}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


class DynamoStatsStore:
    """``STATS#<EntityType>``/``TOTAL`` rows and the processor's exactly-once ledger.

    ``validate_parameters``: see :func:`service.dal.client.dynamodb_client`.
    """

    def __init__(self, table_name: str, *, validate_parameters: bool = True) -> None:
        self._table = table_name
        self._validate_parameters = validate_parameters

    @property
    def _client(self) -> Any:
        return dynamodb_client(validate_parameters=self._validate_parameters)

    def apply_with_ledger(
        self,
        event_id: str,
        *,
        entity_type: EntityType,
        count_delta: int,
        status_deltas: dict[str, int],
        ledger_expires_at: int,
        now: int,
    ) -> bool:
        """Apply deltas and record the stream event in ONE transaction; False if it was applied before."""
        entry = LedgerEntry(event_id, EntityType(entity_type), count_delta, dict(status_deltas))
        duplicates = self._transact([entry], ledger_expires_at=ledger_expires_at, now=now)
        return not duplicates

    def apply_many_with_ledger(self, entries: Sequence[LedgerEntry], *, ledger_expires_at: int, now: int) -> set[str]:
        """Apply many events' deltas with their ledger rows, all-or-nothing per transaction; returns the event
        ids that were applied before (skipped). Same end state as ``apply_with_ledger`` once per event, in a
        handful of round trips instead of one per record.

        Events whose ledger row exists cancel the transaction; they are set aside and the rest retried, so a
        redelivered batch never double-counts. Any other failure raises: callers fall back to per-event calls.
        """
        duplicates: set[str] = set()
        for start in range(0, len(entries), MAX_EVENTS_PER_TRANSACTION):
            chunk = list(entries[start : start + MAX_EVENTS_PER_TRANSACTION])
            while chunk:
                found = self._transact(chunk, ledger_expires_at=ledger_expires_at, now=now)
                if not found:
                    break
                duplicates |= found
                if len(chunk) == 1:
                    break
                chunk = [e for e in chunk if e.event_id not in found]
        return duplicates

    def _transact(self, entries: list[LedgerEntry], *, ledger_expires_at: int, now: int) -> set[str]:
        """One TransactWriteItems: per entity type one Update with the summed deltas, per event a ledger Put
        (condition: not applied before). Returns the event ids whose ledger row already existed; in that case
        nothing was written."""
        counts: dict[EntityType, int] = defaultdict(int)
        events: dict[EntityType, int] = defaultdict(int)
        statuses: dict[EntityType, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for entry in entries:
            counts[entry.entity_type] += entry.count_delta
            events[entry.entity_type] += 1
            for status, delta in entry.status_deltas.items():
                statuses[entry.entity_type][status] += delta
        actions: list[dict[str, Any]] = []
        for entity_type, count in counts.items():
            names = {"#c": COUNT_ATTR, "#v": keys.VERSION, "#for": "StatsFor", "#u": "UpdatedAt"}
            # The version moves once per applied event, exactly as if they had been applied one by one.
            values: dict[str, Any] = {":d": count, ":n": events[entity_type], ":t": entity_type.value, ":now": now}
            adds = ["#c :d", "#v :n"]
            for index, (status, delta) in enumerate(sorted(statuses[entity_type].items())):
                names[f"#s{index}"] = STATUS_COUNT_PREFIX + OrderStatus(status).value
                values[f":s{index}"] = delta
                adds.append(f"#s{index} :s{index}")
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_ddb(keys.stats_key(entity_type)),
                        "UpdateExpression": "ADD " + ", ".join(adds) + " SET #for = :t, #u = :now",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_ddb(values),
                    }
                }
            )
        stats_actions = len(actions)
        for entry in entries:
            ledger = {
                **keys.ledger_key(entry.event_id),
                keys.EXPIRES_AT: ledger_expires_at,
                "AppliedAt": now,
                "StatsFor": entry.entity_type.value,
            }
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_ddb(ledger),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            codes = [(r or {}).get("Code") for r in reasons]
            ledger_codes = codes[stats_actions:]
            duplicates = {
                entry.event_id
                for entry, code in zip(entries, ledger_codes, strict=False)
                if code == "ConditionalCheckFailed"
            }
            others = [c for c in codes if c not in (None, "None", "ConditionalCheckFailed")]
            if duplicates and not others:
                return duplicates  # these events were applied by an earlier delivery: nothing was written
            raise
        return set()

    def get_stats(self, entity_types: list[EntityType]) -> dict[EntityType, Row]:
        # GetItem per type (at most three): both the API and the scheduled role may GetItem; a BatchGetItem
        # would need one more permission for no measurable gain at this size.
        found: dict[EntityType, Row] = {}
        for entity_type in entity_types:
            response = self._client.get_item(
                TableName=self._table, Key=to_ddb(keys.stats_key(entity_type)), ConsistentRead=True
            )
            row = from_ddb(response.get("Item"))
            if row is not None:
                found[EntityType(entity_type)] = row
        return found

    def overwrite(
        self,
        entity_type: EntityType,
        count: int,
        status_counts: dict[str, int],
        observed_version: int | None,
        now: int,
    ) -> bool:
        """Replace a stats row only if nobody (the processor) changed it since we read it."""
        row: dict[str, Any] = {
            **keys.stats_key(entity_type),
            "StatsFor": EntityType(entity_type).value,
            COUNT_ATTR: count,
            keys.VERSION: (observed_version or 0) + 1,
            "UpdatedAt": now,
            "RepairedAt": now,
        }
        for status, value in status_counts.items():
            row[STATUS_COUNT_PREFIX + OrderStatus(status).value] = value
        if observed_version is None:
            condition, names, values = "attribute_not_exists(PK)", None, None
        else:
            condition, names, values = "#v = :v", {"#v": keys.VERSION}, to_ddb({":v": observed_version})
        kwargs: dict[str, Any] = {}
        if names:
            kwargs = {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
        try:
            self._client.put_item(TableName=self._table, Item=to_ddb(row), ConditionExpression=condition, **kwargs)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def status_counts_of(row: Row | None) -> dict[str, int]:
    if not row:
        return {}
    return {
        name[len(STATUS_COUNT_PREFIX) :]: int(value)
        for name, value in row.items()
        if name.startswith(STATUS_COUNT_PREFIX)
    }
