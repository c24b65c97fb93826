"""Fixtures for the app layer's unit tests: an in-process moto DynamoDB table shaped like the real one.

The table is created from Terraform's own key schema (terraform/dynamodb.tf, parsed with python-hcl2) when
that file exists and declares it literally; otherwise from ``CONTRACT_SCHEMA`` below, which mirrors the
contract in the team brief. ``TABLE_SCHEMA_SOURCE`` says which one a run used.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from app_support import REGION, TABLE_NAME

REPO = Path(__file__).resolve().parents[3]
SAM_DIR = REPO / "sam"
for _function in ("api", "processor", "scheduled"):
    # Distinct module names (api_handler, processor_handler, scheduled_handler) let one run import all three.
    sys.path.insert(0, str(SAM_DIR / "functions" / _function))


CONTRACT_SCHEMA: dict[str, Any] = {
    "hash_key": "PK",
    "range_key": "SK",
    "attributes": {"PK": "S", "SK": "S", "EntityType": "S", "CreatedAt": "N", "GSI1PK": "S", "GSI1SK": "S"},
    "gsis": [
        {"name": "EntityTypeIndex", "hash_key": "EntityType", "range_key": "CreatedAt"},
        {"name": "GSI1", "hash_key": "GSI1PK", "range_key": "GSI1SK"},
    ],
}


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _literal(value: Any) -> str:
    text = _unquote(value)
    if not isinstance(text, str) or "${" in text:
        raise ValueError(f"not a literal: {value!r}")
    return text


def terraform_table_schema(path: Path) -> dict[str, Any]:
    """Key schema of the aws_dynamodb_table in ``path``; ValueError if it is not declared literally."""
    import hcl2

    with path.open(encoding="utf-8") as handle:
        document = hcl2.load(handle)
    tables = [
        body
        for block in document.get("resource", [])
        for rtype, named in block.items()
        if _unquote(rtype) == "aws_dynamodb_table"
        for body in named.values()
    ]
    if len(tables) != 1:
        raise ValueError(f"expected one aws_dynamodb_table, found {len(tables)}")
    table = tables[0]
    gsis = [
        {
            "name": _literal(gsi["name"]),
            "hash_key": _literal(gsi["hash_key"]),
            **({"range_key": _literal(gsi["range_key"])} if "range_key" in gsi else {}),
        }
        for gsi in table.get("global_secondary_index", [])
    ]
    return {
        "hash_key": _literal(table["hash_key"]),
        "range_key": _literal(table["range_key"]),
        "attributes": {_literal(a["name"]): _literal(a["type"]) for a in table.get("attribute", [])},
        "gsis": gsis,
    }


def _resolve_schema() -> tuple[dict[str, Any], str]:
    path = REPO / "terraform" / "dynamodb.tf"
    if not path.exists():
        return CONTRACT_SCHEMA, "contract fixture (terraform/dynamodb.tf does not exist)"
    try:
        schema = terraform_table_schema(path)
    except (ValueError, KeyError, TypeError) as exc:
        return CONTRACT_SCHEMA, f"contract fixture (terraform/dynamodb.tf not literal: {exc})"
    return schema, str(path.relative_to(REPO))


TABLE_SCHEMA, TABLE_SCHEMA_SOURCE = _resolve_schema()


def create_table(client: Any, schema: dict[str, Any] = TABLE_SCHEMA) -> None:
    key_schema = [{"AttributeName": schema["hash_key"], "KeyType": "HASH"}]
    key_schema.append({"AttributeName": schema["range_key"], "KeyType": "RANGE"})
    gsis = []
    for gsi in schema["gsis"]:
        gsi_keys = [{"AttributeName": gsi["hash_key"], "KeyType": "HASH"}]
        if gsi.get("range_key"):
            gsi_keys.append({"AttributeName": gsi["range_key"], "KeyType": "RANGE"})
        gsis.append({"IndexName": gsi["name"], "KeySchema": gsi_keys, "Projection": {"ProjectionType": "ALL"}})
    client.create_table(
        TableName=TABLE_NAME,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=key_schema,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in schema["attributes"].items()],
        GlobalSecondaryIndexes=gsis,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def reset_caches() -> None:
    """Forget every lazily created client/store so each test talks to its own mock."""
    import api_handler  # noqa: F401  (imports the routes module)
    import processor_handler
    import scheduled_handler
    from service.api import app as api_app
    from service.dal.client import reset_client
    from service.env import get_settings

    get_settings.cache_clear()
    reset_client()
    api_app.entity_store.cache_clear()
    api_app.stats_store.cache_clear()
    processor_handler.stats_store.cache_clear()
    scheduled_handler._idempotent_run.cache_clear()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "TABLE_NAME": TABLE_NAME,
        "ENVIRONMENT": "local",
        "POWERTOOLS_SERVICE_NAME": "tfsam-test",
        "POWERTOOLS_METRICS_NAMESPACE": "tfsam-test",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "STATS_SETTLE_SECONDS": "0",  # the daily job's wait for in-flight stream records (tests drive the stream)
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ddb(app_env: None) -> Iterator[Any]:
    """A fresh moto DynamoDB (in-process) with the app table; yields a low-level client."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        reset_caches()
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        yield client
        reset_caches()


@dataclass
class FakeContext:
    function_name: str = "tfsam-test-fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:tfsam-test-fn"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext(aws_request_id=str(uuid.uuid4()))


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event as the Lambda integration delivers it."""
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    all_headers = {"Content-Type": "application/json", "Host": "example.execute-api.amazonaws.com"}
    all_headers.update(headers or {})
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


@dataclass
class ApiResult:
    status: int
    body: Any
    headers: dict[str, Any]


@pytest.fixture
def call_api(ddb: Any, lambda_context: FakeContext) -> Callable[..., ApiResult]:
    import api_handler

    def _call(method: str, path: str, body: Any = None, **kwargs: Any) -> ApiResult:
        response = api_handler.lambda_handler(api_event(method, path, body, **kwargs), lambda_context)
        raw = response.get("body") or ""
        if response.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        return ApiResult(response["statusCode"], json.loads(raw) if raw else None, response.get("headers", {}))

    return _call


def pytest_configure(config: pytest.Config) -> None:
    # Routes that publish no business metric make Powertools warn once per invocation; it is expected here.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish:UserWarning")
