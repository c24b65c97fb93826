"""Routes: each one validates (Powertools + Pydantic), calls one logic function and shapes the response."""

from __future__ import annotations

import functools
import time
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from service import keys, pagination
from service.api.errors import register
from service.api.json_body import JsonApiResolver
from service.dal.dynamodb import DynamoEntityStore, DynamoStatsStore
from service.env import get_settings
from service.keys import OrderStatus
from service.logic import items, orders, stats, users
from service.models.input import (
    CreateItemRequest,
    CreateOrderRequest,
    CreateUserRequest,
    UpdateItemRequest,
    UpdateOrderRequest,
)
from service.models.output import (
    ErrorResponse,
    HealthOut,
    ItemEnvelope,
    ItemOut,
    ItemPage,
    OrderEnvelope,
    OrderOut,
    OrderPage,
    StatsOut,
    UserEnvelope,
    UserOut,
)
from service.observability import metrics

API_TITLE = "tfsam app API"
API_VERSION = "1.0.0"

# JsonApiResolver: request bodies are read as JSON only (any case, parameters ignored); others are a 415.
app = JsonApiResolver(enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)
register(app)

ItemId = Annotated[str, Path(pattern=keys.UUID_PATTERN, description="Server-generated item id (UUID4).")]
UserId = Annotated[str, Path(pattern=keys.UUID_PATTERN, description="Server-generated user id (UUID4).")]
OrderId = Annotated[str, Path(pattern=keys.ULID_PATTERN, description="Server-generated order id (ULID).")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1..100).")]
NextToken = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=pagination.MAX_TOKEN_LENGTH,
        # Documented, not validated by Powertools: pagination.decode checks it, so a token outside it is a 400
        # invalid_next_token like every other bad cursor (a Powertools pattern failure would be a 422).
        json_schema_extra={"pattern": pagination.CURSOR_PATTERN},
        description=(
            "Opaque cursor: the next_token of the previous page of this same listing. One that matches the pattern "
            "but was not issued by this listing is a 400 invalid_next_token."
        ),
    ),
]
ExpectedVersion = Annotated[int | None, Query(ge=1, description="Delete only if still at this version.")]


def _errors(*statuses: int) -> dict[int, Any]:
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"model": ErrorResponse}},
        }
        for status in statuses
    }


def _ok(model: type, status: int = 200, description: str = "Success") -> dict[int, Any]:
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


def _json(body: Any, status: HTTPStatus = HTTPStatus.OK) -> Response:
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body)


@functools.cache
def entity_store() -> DynamoEntityStore:
    settings = get_settings()
    return DynamoEntityStore(settings.table_name, settings.entity_type_index, settings.gsi1_index)


@functools.cache
def stats_store() -> DynamoStatsStore:
    return DynamoStatsStore(get_settings().table_name)


def _now() -> int:
    return int(time.time())


@app.get("/health", responses=_ok(HealthOut), tags=["ops"])
def health() -> HealthOut:
    return HealthOut(status="ok", environment=get_settings().environment)


@app.post("/items", responses={**_ok(ItemEnvelope, 201, "Created"), **_errors(400, 415, 422)}, tags=["items"])
def create_item(request: CreateItemRequest) -> Response[ItemEnvelope]:
    item = items.create_item(entity_store(), request, _now())
    metrics.add_metric(name="ItemsCreated", unit=MetricUnit.Count, value=1)
    return _json(ItemEnvelope(message="Item created", item=item), HTTPStatus.CREATED)


@app.get("/items", responses={**_ok(ItemPage), **_errors(400, 422)}, tags=["items"])
def list_items(limit: Limit = 20, next_token: NextToken = None) -> ItemPage:
    return items.list_items(entity_store(), limit, next_token, _now())


@app.get("/items/<item_id>", responses={**_ok(ItemOut), **_errors(404, 422)}, tags=["items"])
def get_item(item_id: ItemId) -> ItemOut:
    return items.get_item(entity_store(), item_id, _now())


@app.put("/items/<item_id>", responses={**_ok(ItemEnvelope), **_errors(400, 404, 409, 415, 422)}, tags=["items"])
def update_item(item_id: ItemId, request: UpdateItemRequest) -> ItemEnvelope:
    return ItemEnvelope(message="Item updated", item=items.update_item(entity_store(), item_id, request, _now()))


@app.delete(
    "/items/<item_id>",
    # "content": {} documents a 204 without a body; Powertools would otherwise document the None return as JSON.
    responses={204: {"description": "Deleted", "content": {}}, **_errors(404, 409, 422)},
    tags=["items"],
)
def delete_item(item_id: ItemId, version: ExpectedVersion = None) -> Response[None]:
    items.delete_item(entity_store(), item_id, version)
    metrics.add_metric(name="ItemsDeleted", unit=MetricUnit.Count, value=1)
    # No body and no Content-Type: a 204 has no content to describe.
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body=None)


@app.post("/users", responses={**_ok(UserEnvelope, 201, "Created"), **_errors(400, 415, 422)}, tags=["users"])
def create_user(request: CreateUserRequest) -> Response[UserEnvelope]:
    user = users.create_user(entity_store(), request, _now())
    metrics.add_metric(name="UsersCreated", unit=MetricUnit.Count, value=1)
    return _json(UserEnvelope(message="User created", user=user), HTTPStatus.CREATED)


@app.get("/users/<user_id>", responses={**_ok(UserOut), **_errors(404, 422)}, tags=["users"])
def get_user(user_id: UserId) -> UserOut:
    return users.get_user(entity_store(), user_id, _now())


@app.post(
    "/users/<user_id>/orders",
    responses={**_ok(OrderEnvelope, 201, "Created"), **_errors(400, 404, 415, 422)},
    tags=["orders"],
)
def create_order(user_id: UserId, request: CreateOrderRequest) -> Response[OrderEnvelope]:
    order = orders.create_order(entity_store(), user_id, request, _now())
    metrics.add_metric(name="OrdersCreated", unit=MetricUnit.Count, value=1)
    return _json(OrderEnvelope(message="Order created", order=order), HTTPStatus.CREATED)


@app.get("/users/<user_id>/orders", responses={**_ok(OrderPage), **_errors(400, 404, 422)}, tags=["orders"])
def list_user_orders(user_id: UserId, limit: Limit = 20, next_token: NextToken = None) -> OrderPage:
    return orders.list_user_orders(entity_store(), user_id, limit, next_token)


@app.get("/users/<user_id>/orders/<order_id>", responses={**_ok(OrderOut), **_errors(404, 422)}, tags=["orders"])
def get_order(user_id: UserId, order_id: OrderId) -> OrderOut:
    return orders.get_order(entity_store(), user_id, order_id, _now())


@app.put(
    "/users/<user_id>/orders/<order_id>",
    responses={**_ok(OrderEnvelope), **_errors(400, 404, 409, 415, 422)},
    tags=["orders"],
)
def update_order(user_id: UserId, order_id: OrderId, request: UpdateOrderRequest) -> OrderEnvelope:
    order = orders.update_order_status(entity_store(), user_id, order_id, request, _now())
    metrics.add_metric(name="OrderStatusChanges", unit=MetricUnit.Count, value=1)
    return OrderEnvelope(message="Order updated", order=order)


@app.get("/orders", responses={**_ok(OrderPage), **_errors(400, 422)}, tags=["orders"])
def list_orders(
    status: Annotated[OrderStatus, Query(description="Order status to list (GSI1).")],
    limit: Limit = 20,
    next_token: NextToken = None,
) -> OrderPage:
    return orders.list_orders_by_status(entity_store(), status, limit, next_token)


@app.get("/stats", responses=_ok(StatsOut), tags=["ops"])
def get_stats() -> StatsOut:
    return stats.read_stats(stats_store())


@functools.cache
def openapi_document() -> str:
    """The OpenAPI document generated from the routes and models above (cached: it never changes at runtime)."""
    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        description="Items, users and orders on a DynamoDB single-table design (Terraform + SAM sample).",
    )


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())
