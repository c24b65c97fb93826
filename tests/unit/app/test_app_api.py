"""API routes against an in-process moto table: each route's success and each of its 4xx answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from app_support import api_error, table_rows

MISSING_UUID = "0b6c3a1e-5f4d-4e2a-9c8b-7a6f5e4d3c2b"
MISSING_ULID = "01JD0Y8Z5K3M4N5P6Q7R8S9T0V"


@pytest.fixture
def item(call_api: Any) -> dict[str, Any]:
    return call_api("POST", "/items", {"name": "Widget", "description": "d", "tags": ["a", "b"]}).body["item"]


@pytest.fixture
def user(call_api: Any) -> dict[str, Any]:
    return call_api("POST", "/users", {"name": "Taro", "email": "taro@example.com"}).body["user"]


def test_health(call_api: Any) -> None:
    result = call_api("GET", "/health")
    assert result.status == 200
    assert result.body == {"status": "ok", "environment": "local"}


def test_unknown_route_is_json_404(call_api: Any) -> None:
    api_error(call_api("GET", "/nope"), 404, "route_not_found")
    api_error(call_api("PATCH", "/items"), 404, "route_not_found")


# ---- items ----------------------------------------------------------------------------------------------


def test_create_item_returns_documented_shape(call_api: Any, ddb: Any) -> None:
    result = call_api("POST", "/items", {"name": "  Test Item  ", "tags": ["x"]})
    assert result.status == 201
    assert result.body["message"] == "Item created"
    item = result.body["item"]
    assert item["Name"] == "Test Item"  # stripped
    assert item["EntityType"] == "Item"
    assert item["version"] == 1
    assert isinstance(item["CreatedAt"], int)
    stored = table_rows(ddb)
    assert [(row["PK"]["S"], row["SK"]["S"]) for row in stored] == [(f"ITEM#{item['ItemId']}", "METADATA")]


@pytest.mark.parametrize(
    ("body", "raw", "status", "code"),
    [
        (None, "{not json", 400, "invalid_json"),
        ({}, None, 422, "validation_error"),
        ({"name": ""}, None, 422, "validation_error"),
        ({"name": "x" * 201}, None, 422, "validation_error"),
        ({"name": "ok", "description": "d" * 2001}, None, 422, "validation_error"),
        ({"name": "ok", "tags": ["t"] * 21}, None, 422, "validation_error"),
        ({"name": "ok", "tags": ["t" * 51]}, None, 422, "validation_error"),
        ({"name": 5}, None, 422, "validation_error"),
        ({"name": "ok", "PK": "USER#x"}, None, 422, "validation_error"),
        (["name"], None, 422, "validation_error"),
    ],
)
def test_create_item_rejects_bad_input_and_stores_nothing(  # noqa: PLR0917 (pytest parametrize)
    call_api: Any, ddb: Any, body: Any, raw: str | None, status: int, code: str
) -> None:
    api_error(call_api("POST", "/items", body, raw_body=raw), status, code)
    assert table_rows(ddb) == []


def test_create_item_wrong_content_type_is_415(call_api: Any, ddb: Any) -> None:
    result = call_api("POST", "/items", raw_body="name=x", headers={"Content-Type": "text/csv"})
    api_error(result, 415, "unsupported_media_type")
    assert table_rows(ddb) == []


def test_get_item(call_api: Any, item: dict[str, Any]) -> None:
    result = call_api("GET", f"/items/{item['ItemId']}")
    assert result.status == 200
    assert result.body == item


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "ITEM%23x", "..", MISSING_ULID, "a" * 300])
def test_get_item_rejects_malformed_ids(call_api: Any, bad_id: str) -> None:
    api_error(call_api("GET", f"/items/{bad_id}"), 422, "validation_error")


def test_get_item_with_key_separator_is_rejected(call_api: Any, item: dict[str, Any]) -> None:
    # API Gateway hands the decoded path to Lambda: a '#' is outside the router's path-parameter charset,
    # so it never reaches the key builder (which would reject it too, see test_app_domain).
    api_error(call_api("GET", f"/items/{item['ItemId']}#METADATA"), 404, "route_not_found")
    api_error(call_api("GET", f"/items/{item['ItemId']}%23METADATA"), 422, "validation_error")
    # A '/' splits the path into a route that does not exist.
    api_error(call_api("GET", f"/items/{item['ItemId']}/../x"), 404, "route_not_found")


def test_get_unknown_item_is_404(call_api: Any) -> None:
    api_error(call_api("GET", f"/items/{MISSING_UUID}"), 404, "not_found")


def test_list_items_newest_first_and_paginates(call_api: Any, ddb: Any) -> None:
    import time as time_module

    from app_support import TABLE_NAME

    created = []
    for index in range(5):
        created.append(call_api("POST", "/items", {"name": f"item-{index}"}).body["item"]["ItemId"])
    # Distinct CreatedAt values so "newest first" is observable (the API stamps whole seconds).
    now = int(time_module.time())
    for offset, item_id in enumerate(created):
        ddb.update_item(
            TableName=TABLE_NAME,
            Key={"PK": {"S": f"ITEM#{item_id}"}, "SK": {"S": "METADATA"}},
            UpdateExpression="SET CreatedAt = :c",
            ExpressionAttributeValues={":c": {"N": str(now - 100 + offset)}},
        )
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": "2"} | ({"next_token": token} if token else {})
        page = call_api("GET", "/items", query=query)
        assert page.status == 200
        assert page.body["count"] == len(page.body["items"]) <= 2
        seen.extend(entry["ItemId"] for entry in page.body["items"])
        token = page.body["next_token"]
        pages += 1
        if not token:
            break
    assert seen == list(reversed(created))
    assert pages >= 3


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"limit": "abc"}])
def test_list_items_bad_limit_is_422(call_api: Any, query: dict[str, str]) -> None:
    api_error(call_api("GET", "/items", query=query), 422, "validation_error")


def _b64(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "!!!not-base64!!!",
        _b64("just a string"),
        _b64({"s": "items", "k": {"PK": "USER#x", "SK": "PROFILE", "EntityType": "Item", "CreatedAt": 1}}),
        _b64({"s": "items", "k": {"PK": "ITEM#x#y", "SK": "METADATA", "EntityType": "Item", "CreatedAt": 1}}),
        _b64(
            {
                "s": "items",
                "k": {"PK": f"ITEM#{MISSING_UUID}", "SK": "METADATA", "EntityType": "Item", "CreatedAt": "1"},
            }
        ),
        _b64({"s": "items", "k": {"PK": f"ITEM#{MISSING_UUID}", "SK": "METADATA"}}),
        _b64({"s": "status:PENDING", "k": {}}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_list_items_forged_or_garbled_token_is_400(call_api: Any, item: dict[str, Any], token: str) -> None:
    api_error(call_api("GET", "/items", query={"next_token": token}), 400, "invalid_next_token")


def test_list_items_accepts_a_valid_handmade_token(call_api: Any, item: dict[str, Any]) -> None:
    # A well-formed cursor is not a secret: it only positions a listing the caller may read anyway.
    token = _b64(
        {
            "s": "items",
            "k": {"PK": f"ITEM#{MISSING_UUID}", "SK": "METADATA", "EntityType": "Item", "CreatedAt": 1},
        }
    )
    result = call_api("GET", "/items", query={"next_token": token})
    assert result.status == 200


def test_update_item_bumps_version_and_rejects_stale(call_api: Any, item: dict[str, Any]) -> None:
    path = f"/items/{item['ItemId']}"
    updated = call_api("PUT", path, {"name": "Renamed", "version": 1})
    assert updated.status == 200
    assert updated.body["item"]["Name"] == "Renamed"
    assert updated.body["item"]["version"] == 2
    assert updated.body["item"]["Tags"] == ["a", "b"]  # untouched fields survive
    stale = api_error(call_api("PUT", path, {"name": "Again", "version": 1}), 409, "version_conflict")
    assert stale["details"] == {"current_version": 2}
    assert call_api("GET", path).body["Name"] == "Renamed"


@pytest.mark.parametrize(
    "body", [{"version": 1}, {"name": "x"}, {"name": "x", "version": 0}, {"name": "x", "version": 1, "extra": 1}]
)
def test_update_item_invalid_body_is_422(call_api: Any, item: dict[str, Any], body: dict[str, Any]) -> None:
    api_error(call_api("PUT", f"/items/{item['ItemId']}", body), 422, "validation_error")


def test_update_unknown_item_is_404(call_api: Any) -> None:
    api_error(call_api("PUT", f"/items/{MISSING_UUID}", {"name": "x", "version": 1}), 404, "not_found")


def test_delete_item(call_api: Any, ddb: Any, item: dict[str, Any]) -> None:
    path = f"/items/{item['ItemId']}"
    api_error(call_api("DELETE", path, query={"version": "7"}), 409, "version_conflict")
    result = call_api("DELETE", path, query={"version": "1"})
    assert result.status == 204
    assert result.body is None
    assert table_rows(ddb) == []
    api_error(call_api("DELETE", path), 404, "not_found")
    api_error(call_api("GET", path), 404, "not_found")


def test_expired_item_is_gone_before_ttl_deletes_it(call_api: Any, ddb: Any) -> None:
    from app_support import TABLE_NAME

    item = call_api("POST", "/items", {"name": "short-lived", "ttl_seconds": 60}).body["item"]
    assert item["ExpiresAt"] == item["CreatedAt"] + 60
    ddb.update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": f"ITEM#{item['ItemId']}"}, "SK": {"S": "METADATA"}},
        UpdateExpression="SET ExpiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    api_error(call_api("GET", f"/items/{item['ItemId']}"), 404, "not_found")
    assert call_api("GET", "/items").body["items"] == []
    api_error(call_api("PUT", f"/items/{item['ItemId']}", {"name": "x", "version": 1}), 404, "not_found")


# ---- users and orders -----------------------------------------------------------------------------------


def test_create_and_get_user(call_api: Any, user: dict[str, Any]) -> None:
    assert user["EntityType"] == "User"
    assert call_api("GET", f"/users/{user['UserId']}").body == user


@pytest.mark.parametrize(
    "body", [{"name": "x"}, {"name": "x", "email": "not-an-email"}, {"name": "", "email": "a@b.co"}]
)
def test_create_user_invalid_is_422(call_api: Any, ddb: Any, body: dict[str, Any]) -> None:
    api_error(call_api("POST", "/users", body), 422, "validation_error")
    assert table_rows(ddb) == []


def test_get_unknown_user_is_404(call_api: Any) -> None:
    api_error(call_api("GET", f"/users/{MISSING_UUID}"), 404, "not_found")


def test_create_order_for_existing_user(call_api: Any, ddb: Any, user: dict[str, Any]) -> None:
    result = call_api("POST", f"/users/{user['UserId']}/orders", {"amount": 1200})
    assert result.status == 201
    order = result.body["order"]
    assert order["Status"] == "PENDING"
    assert order["Currency"] == "JPY"
    assert order["UserId"] == user["UserId"]
    from app_support import TABLE_NAME

    stored = ddb.get_item(
        TableName=TABLE_NAME, Key={"PK": {"S": f"USER#{user['UserId']}"}, "SK": {"S": f"ORDER#{order['OrderId']}"}}
    )["Item"]
    assert stored["GSI1PK"]["S"] == "ORDER_STATUS#PENDING"
    assert stored["GSI1SK"]["S"] == f"{order['CreatedAt']:010d}#{order['OrderId']}"


def test_create_order_for_unknown_user_is_404_and_stores_nothing(call_api: Any, ddb: Any) -> None:
    api_error(call_api("POST", f"/users/{MISSING_UUID}/orders", {"amount": 1}), 404, "not_found")
    assert table_rows(ddb) == []


@pytest.mark.parametrize(
    "body", [{"amount": 0}, {"amount": "ten"}, {"amount": 1, "currency": "yen"}, {"amount": 1, "note": "n" * 501}]
)
def test_create_order_invalid_is_422(call_api: Any, user: dict[str, Any], body: dict[str, Any]) -> None:
    api_error(call_api("POST", f"/users/{user['UserId']}/orders", body), 422, "validation_error")


def test_list_user_orders_newest_first_paginated(call_api: Any, user: dict[str, Any]) -> None:
    path = f"/users/{user['UserId']}/orders"
    ids = [call_api("POST", path, {"amount": n}).body["order"]["OrderId"] for n in range(1, 4)]
    first = call_api("GET", path, query={"limit": "2"})
    assert first.status == 200
    assert [o["OrderId"] for o in first.body["orders"]] == ids[::-1][:2]
    second = call_api("GET", path, query={"limit": "2", "next_token": first.body["next_token"]})
    assert [o["OrderId"] for o in second.body["orders"]] == ids[::-1][2:]
    # Another user's cursor is not accepted for this user.
    other = call_api("POST", "/users", {"name": "Hanako", "email": "h@example.com"}).body["user"]
    api_error(
        call_api("GET", f"/users/{other['UserId']}/orders", query={"next_token": first.body["next_token"]}),
        400,
        "invalid_next_token",
    )


def test_list_orders_of_unknown_user_is_404(call_api: Any) -> None:
    api_error(call_api("GET", f"/users/{MISSING_UUID}/orders"), 404, "not_found")


def test_user_without_orders_lists_empty(call_api: Any, user: dict[str, Any]) -> None:
    result = call_api("GET", f"/users/{user['UserId']}/orders")
    assert result.body == {"orders": [], "count": 0, "next_token": None}


def test_order_status_update_moves_it_between_status_listings(call_api: Any, user: dict[str, Any]) -> None:
    base = f"/users/{user['UserId']}/orders"
    order = call_api("POST", base, {"amount": 500}).body["order"]
    path = f"{base}/{order['OrderId']}"
    assert call_api("GET", path).body == order
    pending = call_api("GET", "/orders", query={"status": "PENDING"}).body
    assert [o["OrderId"] for o in pending["orders"]] == [order["OrderId"]]

    paid = call_api("PUT", path, {"status": "PAID", "version": 1})
    assert paid.status == 200
    assert paid.body["order"]["Status"] == "PAID"
    assert paid.body["order"]["version"] == 2
    assert call_api("GET", "/orders", query={"status": "PENDING"}).body["orders"] == []
    assert [o["OrderId"] for o in call_api("GET", "/orders", query={"status": "PAID"}).body["orders"]] == [
        order["OrderId"]
    ]

    api_error(call_api("PUT", path, {"status": "SHIPPED", "version": 1}), 409, "version_conflict")
    transition = api_error(call_api("PUT", path, {"status": "PENDING", "version": 2}), 409, "invalid_transition")
    assert transition["details"] == {"allowed": ["CANCELLED", "SHIPPED"]}


def test_order_update_errors(call_api: Any, user: dict[str, Any]) -> None:
    base = f"/users/{user['UserId']}/orders"
    api_error(call_api("PUT", f"{base}/{MISSING_ULID}", {"status": "PAID", "version": 1}), 404, "not_found")
    api_error(call_api("GET", f"{base}/{MISSING_ULID}"), 404, "not_found")
    api_error(call_api("PUT", f"{base}/{MISSING_UUID}", {"status": "PAID", "version": 1}), 422, "validation_error")
    order = call_api("POST", base, {"amount": 5}).body["order"]
    api_error(call_api("PUT", f"{base}/{order['OrderId']}", {"status": "LOST", "version": 1}), 422, "validation_error")


@pytest.mark.parametrize("query", [{}, {"status": "LOST"}, {"status": "PENDING", "limit": "500"}])
def test_list_orders_by_status_validation(call_api: Any, query: dict[str, str]) -> None:
    api_error(call_api("GET", "/orders", query=query or None), 422, "validation_error")


def test_list_orders_by_status_token_bound_to_status(call_api: Any, user: dict[str, Any]) -> None:
    base = f"/users/{user['UserId']}/orders"
    for amount in (1, 2):
        call_api("POST", base, {"amount": amount})
    first = call_api("GET", "/orders", query={"status": "PENDING", "limit": "1"})
    token = first.body["next_token"]
    assert token
    second = call_api("GET", "/orders", query={"status": "PENDING", "limit": "1", "next_token": token})
    assert second.status == 200
    assert second.body["orders"][0]["OrderId"] != first.body["orders"][0]["OrderId"]
    api_error(call_api("GET", "/orders", query={"status": "PAID", "next_token": token}), 400, "invalid_next_token")


# ---- stats, openapi, failures ---------------------------------------------------------------------------


def test_stats_reads_aggregate_rows(call_api: Any, ddb: Any) -> None:
    from app_support import TABLE_NAME

    empty = call_api("GET", "/stats").body["stats"]
    assert empty["Item"]["count"] == 0
    assert empty["Order"]["by_status"] == {}
    ddb.put_item(
        TableName=TABLE_NAME,
        Item={
            "PK": {"S": "STATS#Order"},
            "SK": {"S": "TOTAL"},
            "Count": {"N": "3"},
            "StatusCount_PENDING": {"N": "2"},
            "StatusCount_PAID": {"N": "1"},
            "StatusCount_SHIPPED": {"N": "0"},
            "UpdatedAt": {"N": "100"},
            "version": {"N": "4"},
        },
    )
    stats = call_api("GET", "/stats").body["stats"]
    assert stats["Order"] == {"count": 3, "by_status": {"PAID": 1, "PENDING": 2}, "updated_at": 100}
    assert stats["User"]["count"] == 0


def test_openapi_route_serves_generated_document(call_api: Any) -> None:
    result = call_api("GET", "/openapi.json")
    assert result.status == 200
    assert result.body["info"]["title"] == "tfsam app API"
    assert "/users/{user_id}/orders/{order_id}" in result.body["paths"]


def test_unexpected_error_is_500_without_internals(call_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.logic import items

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret table detail arn:aws:dynamodb:...")

    monkeypatch.setattr(items, "get_item", boom)
    result = call_api("GET", f"/items/{MISSING_UUID}")
    error = api_error(result, 500, "internal_error")
    assert "secret" not in json.dumps(error)


def test_dynamodb_failure_is_500_json(call_api: Any, ddb: Any) -> None:
    from app_support import TABLE_NAME

    ddb.delete_table(TableName=TABLE_NAME)
    api_error(call_api("GET", "/items"), 500, "internal_error")


def _put_item_without_name(ddb: Any) -> None:
    """An Item row written around the API, missing the Name its model requires."""
    from app_support import TABLE_NAME

    ddb.put_item(
        TableName=TABLE_NAME,
        Item={
            "PK": {"S": f"ITEM#{MISSING_UUID}"},
            "SK": {"S": "METADATA"},
            "EntityType": {"S": "Item"},
            "ItemId": {"S": MISSING_UUID},
            "CreatedAt": {"N": "1"},
            "UpdatedAt": {"N": "1"},
            "version": {"N": "1"},
        },
    )


def test_listing_skips_an_unreadable_row_logs_and_counts_it(
    call_api: Any, ddb: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A row written around the API that its model cannot read (no Name) leaves the page's readable items
    intact; it is logged by key and counted; a GET of that very row is a 500 in the error shape."""
    good = [call_api("POST", "/items", {"name": f"ok-{i}"}).body["item"]["ItemId"] for i in range(2)]
    _put_item_without_name(ddb)
    capsys.readouterr()
    page = call_api("GET", "/items")
    assert page.status == 200
    assert sorted(entry["ItemId"] for entry in page.body["items"]) == sorted(good)
    assert page.body["count"] == 2
    [warning] = [record for record in caplog.records if record.getMessage() == "skipped an unreadable row"]
    assert warning.levelname == "WARNING" and warning.pk == f"ITEM#{MISSING_UUID}"  # type: ignore[attr-defined]
    assert {"loc": ["Name"], "type": "missing"} in warning.problems  # type: ignore[attr-defined]
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [doc["UnreadableRows"] for doc in printed if "UnreadableRows" in doc] == [[1.0]]

    api_error(call_api("GET", f"/items/{MISSING_UUID}"), 500, "internal_error")


def test_api_log_lines_carry_the_api_gateway_request_id_as_correlation_id(
    ddb: Any, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs Insights can follow one request from API Gateway's access log into the function's lines: every line
    the API logs carries ``requestContext.requestId`` as ``correlation_id``, beside Lambda's request id."""
    import api_handler
    from conftest import api_event

    _put_item_without_name(ddb)  # makes GET /items log a WARNING
    for _ in range(2):  # a second request gets its own id, not the first one's
        event = api_event("GET", "/items")
        caplog.clear()
        assert api_handler.lambda_handler(event, lambda_context)["statusCode"] == 200
        [record] = [r for r in caplog.records if r.getMessage() == "skipped an unreadable row"]
        # The line as the function's handler writes it (the Powertools formatter adds the request's keys).
        line = json.loads(api_handler.logger.registered_formatter.format(record))
        assert line["correlation_id"] == event["requestContext"]["requestId"]
        assert line["function_request_id"] == lambda_context.aws_request_id
        assert line["level"] == "WARNING" and line["pk"] == f"ITEM#{MISSING_UUID}"


def test_order_listings_skip_an_unreadable_order(call_api: Any, ddb: Any, user: dict[str, Any]) -> None:
    from app_support import TABLE_NAME

    created = call_api("POST", f"/users/{user['UserId']}/orders", {"amount": 100, "currency": "JPY"}).body["order"]
    key = {"PK": {"S": f"USER#{user['UserId']}"}, "SK": {"S": f"ORDER#{created['OrderId']}"}}
    broken = {**ddb.get_item(TableName=TABLE_NAME, Key=key)["Item"], "SK": {"S": f"ORDER#{MISSING_ULID}"}}
    broken["Amount"] = {"S": "a lot"}  # not an integer
    broken["GSI1SK"] = {"S": broken["GSI1SK"]["S"].split("#")[0] + f"#{MISSING_ULID}"}
    ddb.put_item(TableName=TABLE_NAME, Item=broken)
    for path, query in ((f"/users/{user['UserId']}/orders", None), ("/orders", {"status": "PENDING"})):
        page = call_api("GET", path, query=query)
        assert page.status == 200, page.body
        assert [order["OrderId"] for order in page.body["orders"]] == [created["OrderId"]]
