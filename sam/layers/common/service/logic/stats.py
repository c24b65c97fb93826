"""Reading the processor's aggregates for ``GET /stats``."""

from __future__ import annotations

from service.dal.dynamodb import COUNT_ATTR, status_counts_of
from service.dal.interface import StatsStore
from service.keys import EntityType
from service.models.output import EntityStats, StatsOut


def read_stats(store: StatsStore) -> StatsOut:
    rows = store.get_stats(list(EntityType))
    result: dict[str, EntityStats] = {}
    for entity_type in EntityType:
        row = rows.get(entity_type) or {}
        by_status = None
        if entity_type is EntityType.ORDER:
            by_status = {status: count for status, count in sorted(status_counts_of(row).items()) if count}
        updated = row.get("UpdatedAt")
        result[entity_type.value] = EntityStats(
            count=int(row.get(COUNT_ATTR, 0)),
            by_status=by_status,
            updated_at=int(updated) if updated is not None else None,
        )
    return StatsOut(stats=result)
