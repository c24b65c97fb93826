"""Orders: ``USER#<uid>`` / ``ORDER#<ulid>``, indexed by status and date in GSI1."""

from __future__ import annotations

from service import keys
from service.dal.dynamodb import is_live
from service.dal.interface import EntityStore
from service.errors import InvalidTransitionError, NotFoundError, VersionConflictError
from service.keys import EntityType, OrderStatus
from service.logic import cursors
from service.logic.rows import readable
from service.models.input import CreateOrderRequest, UpdateOrderRequest
from service.models.output import OrderOut, OrderPage

# The order lifecycle. Terminal states have no way out; anything else is a 409 invalid_transition.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def _out(row: dict) -> OrderOut:
    return OrderOut.model_validate(row)


def create_order(store: EntityStore, user_id: str, request: CreateOrderRequest, now: int) -> OrderOut:
    order_id = keys.new_ulid()
    status = OrderStatus.PENDING
    row = {
        **keys.order_key(user_id, order_id),
        **keys.order_gsi1(status, now, order_id),
        keys.ENTITY_TYPE: EntityType.ORDER.value,
        "OrderId": order_id,
        "UserId": user_id,
        "Amount": request.amount,
        "Currency": request.currency,
        "Note": request.note,
        "Status": status.value,
        keys.CREATED_AT: now,
        "UpdatedAt": now,
        keys.VERSION: 1,
    }
    store.put_order_for_user(row, keys.user_key(user_id))
    return _out(row)


def get_order(store: EntityStore, user_id: str, order_id: str, now: int) -> OrderOut:
    row = store.get(keys.order_key(user_id, order_id))
    if not is_live(row, now):
        raise NotFoundError("order not found")
    return _out(row or {})


def update_order_status(
    store: EntityStore, user_id: str, order_id: str, request: UpdateOrderRequest, now: int
) -> OrderOut:
    key = keys.order_key(user_id, order_id)
    current = store.get(key)
    if not is_live(current, now):
        raise NotFoundError("order not found")
    assert current is not None
    if int(current[keys.VERSION]) != request.version:
        raise VersionConflictError(
            "the order was modified by someone else; re-read it and retry",
            details={"current_version": int(current[keys.VERSION])},
        )
    old_status = OrderStatus(current["Status"])
    if request.status not in TRANSITIONS[old_status]:
        raise InvalidTransitionError(
            f"an order cannot go from {old_status.value} to {request.status.value}",
            details={"allowed": sorted(s.value for s in TRANSITIONS[old_status])},
        )
    # The conditional update on `version` makes the check above race-free: if anything changed the
    # order since we read it, the update fails with 409 instead of applying a transition from a stale state.
    changes = {"Status": request.status.value, keys.GSI1PK: keys.order_status_partition(request.status)}
    return _out(store.update_versioned(key, changes, request.version, now))


def list_user_orders(store: EntityStore, user_id: str, limit: int, next_token: str | None) -> OrderPage:
    keys.validate_uuid(user_id, "user_id")
    start = cursors.user_orders_start_key(user_id, next_token)
    exists, rows, last = store.list_user_orders(user_id, limit, start)
    if not exists:
        raise NotFoundError("user not found")
    orders = readable(OrderOut, rows)
    return OrderPage(orders=orders, count=len(orders), next_token=cursors.user_orders_token(user_id, last))


def list_orders_by_status(store: EntityStore, status: OrderStatus, limit: int, next_token: str | None) -> OrderPage:
    start = cursors.status_orders_start_key(status, next_token)
    rows, last = store.list_orders_by_status(status, limit, start)
    orders = readable(OrderOut, rows)
    return OrderPage(orders=orders, count=len(orders), next_token=cursors.status_orders_token(status, last))
