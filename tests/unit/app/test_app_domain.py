"""Pure domain code: key construction, id validation, cursors, stream deltas, order transitions."""

from __future__ import annotations

import pytest
from service import keys, pagination
from service.errors import InvalidCursorError, InvalidIdError, PoisonRecordError
from service.keys import EntityType, OrderStatus
from service.logic.orders import TRANSITIONS
from service.logic.stream import StatsDelta, delta_for

UUID = "3f1c2f9e-8a4b-4c1d-9e2f-1a2b3c4d5e6f"


def test_keys_follow_the_contract() -> None:
    order_id = keys.new_ulid()
    assert keys.item_key(UUID) == {"PK": f"ITEM#{UUID}", "SK": "METADATA"}
    assert keys.user_key(UUID) == {"PK": f"USER#{UUID}", "SK": "PROFILE"}
    assert keys.order_key(UUID, order_id) == {"PK": f"USER#{UUID}", "SK": f"ORDER#{order_id}"}
    assert keys.order_gsi1(OrderStatus.PAID, 42, order_id) == {
        "GSI1PK": "ORDER_STATUS#PAID",
        "GSI1SK": f"0000000042#{order_id}",
    }
    assert keys.stats_key(EntityType.ORDER) == {"PK": "STATS#Order", "SK": "TOTAL"}
    assert keys.ledger_key("abc123") == {"PK": "LEDGER#abc123", "SK": "LEDGER"}


@pytest.mark.parametrize(
    "bad", ["", "x", f"{UUID}#METADATA", f"../{UUID}", UUID.upper(), f"{UUID}/x", "USER#" + UUID, None]
)
def test_key_builders_reject_anything_but_server_ids(bad: object) -> None:
    with pytest.raises(InvalidIdError):
        keys.item_key(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError):
        keys.order_key(UUID, bad)  # type: ignore[arg-type]


def test_ulids_are_valid_and_sort_in_creation_order_within_a_millisecond() -> None:
    ids = [keys.new_ulid(now_ms=1_700_000_000_000) for _ in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    assert all(keys.validate_ulid(i) for i in ids)
    assert keys.new_ulid() > ids[-1]


def test_new_uuid_matches_path_pattern() -> None:
    assert keys.validate_uuid(keys.new_uuid())


def test_cursor_round_trip_and_scope_binding() -> None:
    key = {"PK": f"ITEM#{UUID}", "SK": "METADATA", "EntityType": "Item", "CreatedAt": 5}
    schema = {"PK": str, "SK": str, "EntityType": str, "CreatedAt": int}
    token = pagination.encode("items", key)
    assert token is not None
    assert "=" not in token
    assert pagination.decode(token, "items", schema, lambda _k: True) == key
    with pytest.raises(InvalidCursorError):
        pagination.decode(token, "orders:x", schema, lambda _k: True)
    with pytest.raises(InvalidCursorError):
        pagination.decode(token, "items", schema, lambda _k: False)
    with pytest.raises(InvalidCursorError):
        pagination.decode("A" * 2000, "items", schema, lambda _k: True)
    assert pagination.encode("items", None) is None


def _order(status: str) -> dict[str, object]:
    return {"EntityType": "Order", "Status": status}


def test_stream_deltas() -> None:
    assert delta_for("INSERT", None, {"EntityType": "Item"}) == StatsDelta(EntityType.ITEM, 1)
    assert delta_for("REMOVE", {"EntityType": "User"}, None) == StatsDelta(EntityType.USER, -1)
    assert delta_for("INSERT", None, _order("PENDING")) == StatsDelta(EntityType.ORDER, 1, {"PENDING": 1})
    assert delta_for("MODIFY", _order("PENDING"), _order("PAID")) == StatsDelta(
        EntityType.ORDER, 0, {"PENDING": -1, "PAID": 1}
    )
    assert delta_for("MODIFY", _order("PAID"), _order("PAID")) is None
    assert delta_for("MODIFY", {"EntityType": "Item"}, {"EntityType": "Item", "Name": "x"}) is None


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("INSERT", None, None),
        ("INSERT", None, {"Name": "no type"}),
        ("INSERT", None, {"EntityType": "Order"}),  # an order without Status
        ("MODIFY", {"EntityType": "Item"}, {"EntityType": "User"}),
        ("REMOVE", None, None),
        ("UPSERT", None, {"EntityType": "Item"}),
    ],
)
def test_unusable_records_are_poison(name: str, old: dict | None, new: dict | None) -> None:
    with pytest.raises(PoisonRecordError):
        delta_for(name, old, new)


def test_order_lifecycle_is_a_dag_ending_in_terminal_states() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    assert TRANSITIONS[OrderStatus.DELIVERED] == frozenset()
    assert TRANSITIONS[OrderStatus.CANCELLED] == frozenset()
    assert all(status not in targets for status, targets in TRANSITIONS.items())


def test_settings_fail_clearly_without_table_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError
    from service.env import get_settings

    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.setenv("ENVIRONMENT", "dev")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError, match="table_name"):
            get_settings()
    finally:
        get_settings.cache_clear()
