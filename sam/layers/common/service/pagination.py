"""Opaque, strictly validated pagination tokens.

A token is base64url(JSON{"s": scope, "k": LastEvaluatedKey}). It is not a secret: the worst a client can do
with a hand-made token is start a listing it may read anyway at another position. What matters is that a
forged or garbled token can never reach DynamoDB as an arbitrary ExclusiveStartKey (other partition, other
index, wrong types) and never causes a 5xx, so decoding checks the scope, the exact attribute set, each
attribute's type and each key's shape, and any failure is an ``InvalidCursorError`` (HTTP 400).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from service.errors import InvalidCursorError

MAX_TOKEN_LENGTH = 1024
# What encode() produces: unpadded base64url, so never a length of 4n+1. The OpenAPI document publishes it; decode()
# checks it too, so a token outside it is the documented 400 invalid_next_token, like any other malformed one.
CURSOR_PATTERN = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
_CURSOR = re.compile(CURSOR_PATTERN)

KeyCheck = Callable[[dict[str, Any]], bool]


def _plain(value: Any) -> Any:
    # DynamoDB numbers deserialize as Decimal; keys only ever hold integers (CreatedAt).
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError("boolean key attribute")
    as_int = int(value)
    if as_int != value:
        raise TypeError("non-integer numeric key attribute")
    return as_int


def encode(scope: str, last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    doc = {"s": scope, "k": {name: _plain(value) for name, value in sorted(last_key.items())}}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, scope: str, schema: Mapping[str, type], check: KeyCheck) -> dict[str, Any] | None:
    """Return the ExclusiveStartKey for ``scope`` or raise ``InvalidCursorError``."""
    if token is None:
        return None
    if not token or len(token) > MAX_TOKEN_LENGTH or not _CURSOR.fullmatch(token):
        raise InvalidCursorError("next_token is malformed")
    try:
        padded = token + "=" * (-len(token) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidCursorError("next_token is malformed") from exc
    if not isinstance(doc, dict) or set(doc) != {"s", "k"} or doc["s"] != scope:
        raise InvalidCursorError("next_token does not belong to this listing")
    key = doc["k"]
    if not isinstance(key, dict) or set(key) != set(schema):
        raise InvalidCursorError("next_token is malformed")
    for name, expected in schema.items():
        value = key[name]
        # bool is an int subclass; a JSON true must not pass as CreatedAt.
        if isinstance(value, bool) or not isinstance(value, expected):
            raise InvalidCursorError("next_token is malformed")
    if not check(key):
        raise InvalidCursorError("next_token is malformed")
    return key
