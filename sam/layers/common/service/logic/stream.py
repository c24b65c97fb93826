"""What a DynamoDB stream record changes in the aggregates (pure function of the record's images)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service import keys
from service.errors import PoisonRecordError
from service.keys import EntityType, OrderStatus


@dataclass(frozen=True)
class StatsDelta:
    entity_type: EntityType
    count: int
    by_status: dict[str, int] = field(default_factory=dict)


def _entity_type(image: dict[str, Any] | None, which: str) -> EntityType:
    if not image:
        raise PoisonRecordError(f"record has no {which} image")
    raw = image.get(keys.ENTITY_TYPE)
    try:
        return EntityType(raw)
    except ValueError as exc:
        raise PoisonRecordError(f"{which} image has no known EntityType: {raw!r}") from exc


def _status(image: dict[str, Any], which: str) -> OrderStatus:
    try:
        return OrderStatus(image.get("Status"))
    except ValueError as exc:
        raise PoisonRecordError(f"{which} order image has an unknown Status") from exc


def delta_for(event_name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> StatsDelta | None:
    """The stats change of one record, None if it changes no aggregate; PoisonRecordError if unusable."""
    if event_name == "INSERT":
        entity = _entity_type(new, "new")
        by_status = {_status(new or {}, "new").value: 1} if entity is EntityType.ORDER else {}
        return StatsDelta(entity, 1, by_status)
    if event_name == "REMOVE":
        entity = _entity_type(old, "old")
        by_status = {_status(old or {}, "old").value: -1} if entity is EntityType.ORDER else {}
        return StatsDelta(entity, -1, by_status)
    if event_name == "MODIFY":
        before, after = _entity_type(old, "old"), _entity_type(new, "new")
        if before is not after:
            raise PoisonRecordError("EntityType changed in place; entities never change type")
        if after is not EntityType.ORDER:
            return None
        old_status, new_status = _status(old or {}, "old"), _status(new or {}, "new")
        if old_status is new_status:
            return None
        return StatsDelta(after, 0, {old_status.value: -1, new_status.value: 1})
    raise PoisonRecordError(f"unknown eventName {event_name!r}")
