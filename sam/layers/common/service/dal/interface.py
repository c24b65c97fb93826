"""The small interfaces logic depends on (so rules can be tested without AWS and the store swapped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from service.keys import EntityType, OrderStatus

Row = dict[str, Any]
Key = dict[str, Any]


@dataclass(frozen=True)
class LedgerEntry:
    """One stream event's effect on STATS#<entity_type>, keyed by the event id the ledger records."""

    event_id: str
    entity_type: EntityType
    count_delta: int
    status_deltas: dict[str, int] = field(default_factory=dict)


class EntityStore(Protocol):
    def put_new(self, row: Row) -> None: ...
    def get(self, key: Key) -> Row | None: ...
    def update_versioned(self, key: Key, changes: Row, expected_version: int, now: int) -> Row: ...
    def delete_versioned(self, key: Key, expected_version: int | None) -> None: ...
    def put_order_for_user(self, order: Row, user_key: Key) -> None: ...
    def list_by_entity_type(
        self, entity_type: EntityType, limit: int, start_key: Key | None, now: int
    ) -> tuple[list[Row], Key | None]: ...
    def list_user_orders(
        self, user_id: str, limit: int, start_key: Key | None
    ) -> tuple[bool, list[Row], Key | None]: ...
    def list_orders_by_status(
        self, status: OrderStatus, limit: int, start_key: Key | None
    ) -> tuple[list[Row], Key | None]: ...
    def count_entity_type(self, entity_type: EntityType) -> int: ...
    def count_orders_by_status(self, status: OrderStatus) -> int: ...
    def expired_keys(self, entity_type: EntityType, now: int) -> list[Key]: ...
    def delete_if_expired(self, key: Key, now: int) -> bool: ...


class StatsStore(Protocol):
    def apply_with_ledger(
        self,
        event_id: str,
        *,
        entity_type: EntityType,
        count_delta: int,
        status_deltas: dict[str, int],
        ledger_expires_at: int,
        now: int,
    ) -> bool: ...
    def apply_many_with_ledger(
        self, entries: Sequence[LedgerEntry], *, ledger_expires_at: int, now: int
    ) -> set[str]: ...
    def get_stats(self, entity_types: list[EntityType]) -> dict[EntityType, Row]: ...
    def overwrite(
        self,
        entity_type: EntityType,
        count: int,
        status_counts: dict[str, int],
        observed_version: int | None,
        now: int,
    ) -> bool: ...
