"""Pagination scopes: which listing a token belongs to and what a valid start key looks like."""

from __future__ import annotations

from typing import Any

from service import keys, pagination
from service.keys import EntityType, OrderStatus


def items_start_key(token: str | None) -> dict[str, Any] | None:
    return pagination.decode(
        token,
        "items",
        {keys.PK: str, keys.SK: str, keys.ENTITY_TYPE: str, keys.CREATED_AT: int},
        lambda k: k[keys.ENTITY_TYPE] == EntityType.ITEM.value and keys.is_item_key(k[keys.PK], k[keys.SK]),
    )


def items_token(last_key: dict[str, Any] | None) -> str | None:
    return pagination.encode("items", last_key)


def user_orders_start_key(user_id: str, token: str | None) -> dict[str, Any] | None:
    return pagination.decode(
        token,
        f"orders:{user_id}",
        {keys.PK: str, keys.SK: str},
        lambda k: keys.is_order_key(k[keys.PK], k[keys.SK], user_id),
    )


def user_orders_token(user_id: str, last_key: dict[str, Any] | None) -> str | None:
    return pagination.encode(f"orders:{user_id}", last_key)


def status_orders_start_key(status: OrderStatus, token: str | None) -> dict[str, Any] | None:
    return pagination.decode(
        token,
        f"status:{status.value}",
        {keys.PK: str, keys.SK: str, keys.GSI1PK: str, keys.GSI1SK: str},
        lambda k: (
            k[keys.GSI1PK] == keys.order_status_partition(status)
            and keys.is_order_gsi1sk(k[keys.GSI1SK])
            and keys.is_order_key(k[keys.PK], k[keys.SK])
        ),
    )


def status_orders_token(status: OrderStatus, last_key: dict[str, Any] | None) -> str | None:
    return pagination.encode(f"status:{status.value}", last_key)
