"""Lazily created DynamoDB client and (de)serialisation helpers.

Nothing AWS-related is imported or created at import: import time is cold-start time for every function
(boto3/botocore alone are ~130 ms), and tests can start their AWS mock before anything talks to DynamoDB.
The SDK is loaded, patched for X-Ray and the client created on the first call, then reused. The endpoint
honours boto3's standard ``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL`` variables (the local cloud).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

# Standard retry mode backs off on throttling; short timeouts keep a stuck call inside the Lambda timeout.
# (A constant so the benchmark's raw-GetItem baseline can use exactly the same client settings.)
CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 4},
    "connect_timeout": 3,
    "read_timeout": 10,
}


def dynamodb_client(*, validate_parameters: bool = True) -> Any:
    """The process's DynamoDB client (one per ``validate_parameters`` value, created on first use).

    ``validate_parameters=False`` skips botocore's client-side check of each request against the API model
    (botocore's ``parameter_validation``, documented as the switch for performance). DynamoDB validates every
    request anyway; only callers whose requests are built entirely by this code, and are large, should skip it.
    """
    return _client(validate_parameters)


@functools.cache
def _client(validate_parameters: bool) -> Any:
    # Imported here, not at module level: the data layer stays importable without Powertools configured
    # (the Logger/Metrics singletons read their environment when service.observability is first imported).
    from service.observability import trace_aws_sdk

    trace_aws_sdk()  # before the client exists, so its very first call is traced
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(**CLIENT_CONFIG, parameter_validation=validate_parameters))


def reset_client() -> None:
    """Forget the cached client (tests switch AWS mocks between cases)."""
    _client.cache_clear()


@functools.cache
def _serializer() -> TypeSerializer:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@functools.cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def to_ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    serializer = _serializer()
    return {name: serializer.serialize(value) for name, value in item.items() if value is not None}


def from_ddb(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    deserializer = _deserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
