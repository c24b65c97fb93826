"""The daily job: repair aggregate drift, then purge rows whose ExpiresAt passed but TTL did not delete yet.

Order matters. Deleting a row emits a REMOVE stream record that the processor turns into a -1 a few seconds
later. If we purged first and recomputed right after, the recount would already exclude the purged rows and
the late -1 would then push the aggregate below the truth. Recounting first and purging second lets the
stream carry the purge into the aggregates, so the next run finds nothing to repair.

A recount also sees writes whose stream records the processor has not applied yet (up to the mapping's batching
window, longer when it lags): overwriting with it would count those writes twice once their records arrive. So
drift is only repaired when it is still the same after a settle interval (``settle``, a wait long enough for
the processor to catch up): in-flight writes change the gap or close it, lost updates do not. A repair
overwrites with the second recount, guarded by the row's version. Not caught, because the gap looks the same
twice: writes whose records are still unapplied after the wait (the processor lagging longer than it, e.g.
retrying a failed batch at 00:00) and in-flight writes exactly replaced by new ones during the wait. Those are
counted twice until the next run that finds the processor caught up repairs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.dal.dynamodb import COUNT_ATTR, status_counts_of
from service.dal.interface import EntityStore, StatsStore
from service.keys import VERSION, EntityType, OrderStatus

MAX_REPAIR_ATTEMPTS = 3


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {status: count for status, count in sorted(counts.items()) if count}


def _actual(entities: EntityStore, entity_type: EntityType) -> tuple[int, dict[str, int]]:
    count = entities.count_entity_type(entity_type)
    by_status: dict[str, int] = {}
    if entity_type is EntityType.ORDER:
        by_status = _nonzero({s.value: entities.count_orders_by_status(s) for s in OrderStatus})
    return count, by_status


Snapshot = tuple[int, dict[str, int]]  # (count, count by status)


def _recorded(stats: StatsStore, entity_type: EntityType) -> tuple[dict[str, Any] | None, Snapshot]:
    row = stats.get_stats([entity_type]).get(entity_type)
    return row, (int(row.get(COUNT_ATTR, 0)) if row else 0, _nonzero(status_counts_of(row)))


def _gap(recorded: Snapshot, actual: Snapshot) -> Snapshot:
    """What the aggregate misses: actual minus recorded, for the count and each status."""
    statuses = set(recorded[1]) | set(actual[1])
    return actual[0] - recorded[0], _nonzero({s: actual[1].get(s, 0) - recorded[1].get(s, 0) for s in statuses})


def _no_wait() -> None:
    return None


def repair_stats(
    entities: EntityStore, stats: StatsStore, now: int, settle: Callable[[], None] = _no_wait
) -> list[dict[str, Any]]:
    gaps: dict[EntityType, Snapshot] = {}
    for entity_type in EntityType:
        row, recorded = _recorded(stats, entity_type)
        actual = _actual(entities, entity_type)
        # A missing row that should read 0 is not drift worth a write.
        if recorded != actual and not (row is None and actual == (0, {})):
            gaps[entity_type] = _gap(recorded, actual)
    if not gaps:
        return []
    settle()
    changes: list[dict[str, Any]] = []
    for entity_type, first_gap in gaps.items():
        for _attempt in range(MAX_REPAIR_ATTEMPTS):
            row, recorded = _recorded(stats, entity_type)
            actual = _actual(entities, entity_type)
            gap = _gap(recorded, actual)
            if gap == (0, {}):
                break  # the processor caught up: the gap was writes in flight
            if gap != first_gap:
                changes.append({"entity_type": entity_type.value, "skipped": "still settling"})
                break
            observed_version = int(row[VERSION]) if row and VERSION in row else None
            if stats.overwrite(entity_type, actual[0], actual[1], observed_version, now):
                changes.append(
                    {
                        "entity_type": entity_type.value,
                        "before": {"count": recorded[0], "by_status": recorded[1]},
                        "after": {"count": actual[0], "by_status": actual[1]},
                    }
                )
                break
            # The processor updated the row between our read and write: read again and recount.
        else:
            changes.append({"entity_type": entity_type.value, "skipped": "concurrent updates"})
    return changes


def purge_expired(entities: EntityStore, now: int) -> dict[str, int]:
    purged: dict[str, int] = {}
    for entity_type in EntityType:
        deleted = sum(1 for key in entities.expired_keys(entity_type, now) if entities.delete_if_expired(key, now))
        if deleted:
            purged[entity_type.value] = deleted
    return purged


def run_maintenance(
    entities: EntityStore, stats: StatsStore, now: int, settle: Callable[[], None] = _no_wait
) -> dict[str, Any]:
    repaired = repair_stats(entities, stats, now, settle)
    purged = purge_expired(entities, now)
    return {
        "now": now,
        "stats_repaired": repaired,
        "purged": purged,
        "changed": bool(repaired or purged),
    }
