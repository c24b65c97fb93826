"""Items: ``ITEM#<uuid>`` / ``METADATA``."""

from __future__ import annotations

from service import keys
from service.dal.dynamodb import is_live
from service.dal.interface import EntityStore
from service.errors import NotFoundError
from service.keys import EntityType
from service.logic import cursors
from service.logic.rows import readable
from service.models.input import CreateItemRequest, UpdateItemRequest
from service.models.output import ItemOut, ItemPage


def _out(row: dict) -> ItemOut:
    return ItemOut.model_validate(row)


def create_item(store: EntityStore, request: CreateItemRequest, now: int) -> ItemOut:
    item_id = keys.new_uuid()
    row = {
        **keys.item_key(item_id),
        keys.ENTITY_TYPE: EntityType.ITEM.value,
        "ItemId": item_id,
        "Name": request.name,
        "Description": request.description,
        "Tags": request.tags,
        keys.CREATED_AT: now,
        "UpdatedAt": now,
        keys.VERSION: 1,
        keys.EXPIRES_AT: now + request.ttl_seconds if request.ttl_seconds else None,
    }
    store.put_new(row)
    return _out(row)


def get_item(store: EntityStore, item_id: str, now: int) -> ItemOut:
    row = store.get(keys.item_key(item_id))
    if not is_live(row, now):
        raise NotFoundError("item not found")
    return _out(row or {})


def list_items(store: EntityStore, limit: int, next_token: str | None, now: int) -> ItemPage:
    start = cursors.items_start_key(next_token)
    rows, last = store.list_by_entity_type(EntityType.ITEM, limit, start, now)
    items = readable(ItemOut, rows)
    return ItemPage(items=items, count=len(items), next_token=cursors.items_token(last))


def update_item(store: EntityStore, item_id: str, request: UpdateItemRequest, now: int) -> ItemOut:
    changes = {}
    if request.name is not None:
        changes["Name"] = request.name
    if request.description is not None:
        changes["Description"] = request.description
    if request.tags is not None:
        changes["Tags"] = request.tags
    row = store.update_versioned(keys.item_key(item_id), changes, request.version, now)
    return _out(row)


def delete_item(store: EntityStore, item_id: str, version: int | None) -> None:
    store.delete_versioned(keys.item_key(item_id), version)
