"""Lazily created DynamoDB client and (de)serialisation helpers.

The client is created on first use, not at import: import time is cold-start time for every function, and
tests can start their AWS mock before anything talks to DynamoDB. The endpoint honours boto3's standard
``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL`` variables, which the local cloud uses.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@functools.cache
def dynamodb_client() -> Any:
    import boto3
    from botocore.config import Config

    # Standard retry mode backs off on throttling; short timeouts keep a stuck call inside the Lambda timeout.
    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
    return boto3.client("dynamodb", config=config)


def reset_client() -> None:
    """Forget the cached client (tests switch AWS mocks between cases)."""
    dynamodb_client.cache_clear()


def to_ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def from_ddb(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
