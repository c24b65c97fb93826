"""Single-table keys: the only module that builds PK/SK/GSI values or mints ids.

Clients never choose keys. Ids are server-generated (UUID4 for items and users, ULID for orders so that
``ORDER#<ulid>`` sorts by creation time) and every id coming back in a path or cursor must match the strict
pattern of its kind, so ``#``, ``/``, ``..`` or any other key fragment is rejected before DynamoDB is called.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from enum import StrEnum

from service.errors import InvalidIdError

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
# Crockford base32 without I, L, O, U; the first character is at most 7 (48-bit timestamp).
ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
_UUID_RE = re.compile(UUID_PATTERN)
_ULID_RE = re.compile(ULID_PATTERN)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PK = "PK"
SK = "SK"
GSI1PK = "GSI1PK"
GSI1SK = "GSI1SK"
ENTITY_TYPE = "EntityType"
CREATED_AT = "CreatedAt"
EXPIRES_AT = "ExpiresAt"
VERSION = "version"

ITEM_PREFIX = "ITEM#"
USER_PREFIX = "USER#"
ORDER_PREFIX = "ORDER#"
STATS_PREFIX = "STATS#"
LEDGER_PREFIX = "LEDGER#"
ORDER_STATUS_PREFIX = "ORDER_STATUS#"
ITEM_SK = "METADATA"
USER_SK = "PROFILE"
STATS_SK = "TOTAL"
LEDGER_SK = "LEDGER"
IDEMPOTENCY_PK = "IDEMPOTENCY#scheduled"
# Partitions the processor consumes; everything else (STATS#, LEDGER#, IDEMPOTENCY#) is its own output.
ENTITY_PARTITION_PREFIXES = (ITEM_PREFIX, USER_PREFIX)
# GSI1SK = zero-padded epoch seconds, so that lexical order is chronological order.
CREATED_AT_WIDTH = 10


class EntityType(StrEnum):
    ITEM = "Item"
    USER = "User"
    ORDER = "Order"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


# ---- ids -------------------------------------------------------------------------------------------------


def new_uuid() -> str:
    return str(uuid.uuid4())


_last_ulid: tuple[int, int] = (-1, 0)


def new_ulid(now_ms: int | None = None) -> str:
    """Monotonic ULID: 48-bit millisecond time + 80 random bits, Crockford base32 (26 chars).

    Within one process, ids minted in the same millisecond increment the random part (the ULID spec's
    monotonic mode), so ``ORDER#<ulid>`` sort keys keep creation order even for bursts.
    """
    global _last_ulid  # noqa: PLW0603  (per-process generator state, by design)
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    last_ms, last_random = _last_ulid
    if ms <= last_ms:
        ms, random_part = last_ms, last_random + 1
    else:
        random_part = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
    _last_ulid = (ms, random_part)
    value = (ms << 80) | (random_part & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def validate_uuid(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        raise InvalidIdError(f"{what} must be a server-generated id")
    return value


def validate_ulid(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not _ULID_RE.fullmatch(value):
        raise InvalidIdError(f"{what} must be a server-generated id")
    return value


# ---- primary keys ----------------------------------------------------------------------------------------


def item_key(item_id: str) -> dict[str, str]:
    return {PK: ITEM_PREFIX + validate_uuid(item_id, "item_id"), SK: ITEM_SK}


def user_key(user_id: str) -> dict[str, str]:
    return {PK: USER_PREFIX + validate_uuid(user_id, "user_id"), SK: USER_SK}


def order_key(user_id: str, order_id: str) -> dict[str, str]:
    return {
        PK: USER_PREFIX + validate_uuid(user_id, "user_id"),
        SK: ORDER_PREFIX + validate_ulid(order_id, "order_id"),
    }


def user_partition(user_id: str) -> str:
    return USER_PREFIX + validate_uuid(user_id, "user_id")


def order_gsi1(status: OrderStatus, created_at: int, order_id: str) -> dict[str, str]:
    return {
        GSI1PK: order_status_partition(status),
        GSI1SK: f"{created_at:0{CREATED_AT_WIDTH}d}#{validate_ulid(order_id, 'order_id')}",
    }


def order_status_partition(status: OrderStatus) -> str:
    return ORDER_STATUS_PREFIX + OrderStatus(status).value


def stats_key(entity_type: EntityType) -> dict[str, str]:
    return {PK: STATS_PREFIX + EntityType(entity_type).value, SK: STATS_SK}


def ledger_key(event_id: str) -> dict[str, str]:
    # Stream event ids are 32 hex chars in AWS; accept a conservative charset so nothing can forge a key.
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", event_id or ""):
        raise InvalidIdError("stream eventID has an unexpected format")
    return {PK: LEDGER_PREFIX + event_id, SK: LEDGER_SK}


def is_entity_partition(pk: object) -> bool:
    return isinstance(pk, str) and pk.startswith(ENTITY_PARTITION_PREFIXES)


# ---- key checks used to validate cursors ------------------------------------------------------------------


def is_item_key(pk: object, sk: object) -> bool:
    return (
        isinstance(pk, str)
        and pk.startswith(ITEM_PREFIX)
        and bool(_UUID_RE.fullmatch(pk[len(ITEM_PREFIX) :]))
        and sk == ITEM_SK
    )


def is_order_key(pk: object, sk: object, user_id: str | None = None) -> bool:
    if not (isinstance(pk, str) and isinstance(sk, str)):
        return False
    if not (pk.startswith(USER_PREFIX) and sk.startswith(ORDER_PREFIX)):
        return False
    uid, oid = pk[len(USER_PREFIX) :], sk[len(ORDER_PREFIX) :]
    if user_id is not None and uid != user_id:
        return False
    return bool(_UUID_RE.fullmatch(uid) and _ULID_RE.fullmatch(oid))


def is_order_gsi1sk(value: object) -> bool:
    return isinstance(value, str) and bool(
        re.fullmatch(rf"\d{{{CREATED_AT_WIDTH}}}#[0-7][0-9A-HJKMNP-TV-Z]{{25}}", value)
    )
