"""The API's wire contract against the real handler: JSON-only request bodies, strict integers, and an OpenAPI
document that lists every status a body route can answer.

Each body route is driven from ``BODY_ROUTES`` (a valid body per OpenAPI operation) and each integer body field
from ``INTEGER_FIELDS``; a guard test fails when the generated document declares a request body or an integer body
field these tables do not list, so a new route or field gets these checks too.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from app_support import api_error, table_rows

# (method, OpenAPI path) -> (a valid JSON body, the success status). Paths are filled in by the `target` fixture.
BODY_ROUTES: dict[tuple[str, str], tuple[dict[str, Any], int]] = {
    ("POST", "/items"): ({"name": "Widget", "tags": ["a"], "ttl_seconds": 3600}, 201),
    ("PUT", "/items/{item_id}"): ({"name": "Renamed", "version": 1}, 200),
    ("POST", "/users"): ({"name": "U", "email": "m@example.com"}, 201),
    ("POST", "/users/{user_id}/orders"): ({"amount": 100}, 201),
    ("PUT", "/users/{user_id}/orders/{order_id}"): ({"status": "PAID", "version": 1}, 200),
}
ROUTE_IDS = [f"{method} {path}" for method, path in BODY_ROUTES]
# (method, OpenAPI path, field) for every integer property of every request-body model.
JSON = "application/json"
INTEGER_FIELDS = [
    ("POST", "/items", "ttl_seconds"),
    ("PUT", "/items/{item_id}", "version"),
    ("POST", "/users/{user_id}/orders", "amount"),
    ("PUT", "/users/{user_id}/orders/{order_id}", "version"),
]


def _document() -> dict[str, Any]:
    from service.api.openapi import render

    return json.loads(render())


def _body_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in _document()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                yield method.upper(), path, operation


def _body_schemas() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, request-body model schema) for every operation of the generated document with a body."""
    schemas = _document()["components"]["schemas"]
    for method, path, operation in _body_operations():
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        yield method, path, schemas[ref.rsplit("/", 1)[-1]]


def _types(schema: dict[str, Any]) -> set[str]:
    return {variant.get("type", "?") for variant in schema.get("anyOf", [schema])}


@pytest.fixture
def target(call_api: Any) -> Callable[[str], str]:
    """Fills an OpenAPI path template with ids of entities created (as JSON) for this test."""
    item = call_api("POST", "/items", {"name": "Widget"}).body["item"]
    user = call_api("POST", "/users", {"name": "Taro", "email": "taro@example.com"}).body["user"]
    order = call_api("POST", f"/users/{user['UserId']}/orders", {"amount": 5}).body["order"]
    ids = {"item_id": item["ItemId"], "user_id": user["UserId"], "order_id": order["OrderId"]}
    return lambda template: template.format(**ids)


@pytest.fixture
def send(ddb: Any, lambda_context: Any) -> Callable[..., Any]:
    """Sends a raw body with exactly the Content-Type given (None: no Content-Type header at all)."""
    import api_handler
    from conftest import ApiResult, api_event

    def _send(
        method: str, path: str, raw: str | None, content_type: str | None, *, header: str = "content-type", **extra: Any
    ) -> ApiResult:
        event = api_event(method, path, raw_body=raw) | extra
        for headers in (event["headers"], event["multiValueHeaders"]):
            headers.pop("Content-Type")
            if content_type is not None:
                headers[header] = content_type if headers is event["headers"] else [content_type]
        sent = copy.deepcopy(event)
        response = api_handler.lambda_handler(event, lambda_context)
        assert event == sent, "the resolver changed the caller's event"
        body = response.get("body") or ""
        return ApiResult(response["statusCode"], json.loads(body) if body else None, response.get("headers", {}))

    return _send


def test_every_body_route_and_integer_field_is_covered(app_env: None) -> None:
    assert {(method, path) for method, path, _ in _body_operations()} == set(BODY_ROUTES)
    found = [
        (method, path, field)
        for method, path, model in _body_schemas()
        for field, schema in model["properties"].items()
        if "integer" in _types(schema)
    ]
    assert sorted(found) == sorted(INTEGER_FIELDS)


# ---- finding 1: request bodies are JSON only ------------------------------------------------------------


def _form(body: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode(body, doseq=True)


def _multipart(body: dict[str, Any]) -> str:
    parts = [
        f'--XyZ\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, values in body.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    return "".join(parts) + "--XyZ--\r\n"


NOT_JSON: list[tuple[str, Callable[[dict[str, Any]], str], str | None]] = [
    ("multipart", _multipart, "multipart/form-data; boundary=XyZ"),
    ("form", _form, "application/x-www-form-urlencoded"),
    ("form-charset", _form, "application/x-www-form-urlencoded; charset=utf-8"),
    ("text", json.dumps, "text/plain"),
    ("json-suffix", json.dumps, "application/jsonx"),
    ("json-patch", json.dumps, "application/merge-patch+json"),
    # Decision: a body without a Content-Type is not assumed to be JSON (every JSON client sends one).
    ("missing", json.dumps, None),
]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(("encode", "content_type"), [case[1:] for case in NOT_JSON], ids=[c[0] for c in NOT_JSON])
def test_non_json_body_is_415_and_changes_nothing(  # noqa: PLR0917 (pytest parametrize)
    send: Any, target: Any, ddb: Any, route: tuple[str, str], encode: Any, content_type: str | None
) -> None:
    method, template = route
    body, _ = BODY_ROUTES[route]
    before = table_rows(ddb)
    error = api_error(send(method, target(template), encode(body), content_type), 415, "unsupported_media_type")
    assert error["message"] == "send application/json"
    assert table_rows(ddb) == before


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ("x=1", "application/x-www-form-urlencoded"),
        ("%%%=&&", "application/x-www-form-urlencoded"),
        ("garbage", "multipart/form-data"),
        ("garbage", "multipart/form-data; boundary=XyZ"),
        ("--XyZ\r\nno headers\r\n--XyZ--\r\n", "multipart/form-data; boundary=XyZ"),
        ("{not json", None),
        ("{not json", "application/jsonx"),
    ],
    ids=["form", "form-garbage", "multipart-no-boundary", "multipart-garbage", "multipart-no-part-name", "none", "x"],
)
def test_non_json_body_that_fails_validation_is_415_not_4xx(  # noqa: PLR0917 (pytest parametrize)
    send: Any, target: Any, ddb: Any, route: tuple[str, str], raw: str, content_type: str | None
) -> None:
    # Before the fix Powertools parsed these into the model: 422/400 for most, a 500 for the multipart one
    # without boundary (a bare ValueError). The media type is the client's first mistake: 415.
    before = table_rows(ddb)
    api_error(send(route[0], target(route[1]), raw, content_type), 415, "unsupported_media_type")
    assert table_rows(ddb) == before


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "APPLICATION/JSON; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/json; charset=utf-8",
        " application/json ",
    ],
)
def test_json_media_type_is_case_insensitive_and_ignores_parameters(
    send: Any, target: Any, route: tuple[str, str], content_type: str
) -> None:
    body, status = BODY_ROUTES[route]
    result = send(route[0], target(route[1]), json.dumps(body), content_type)
    assert result.status == status, result.body


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (
            '--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\n\u65e5\u672c\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
        ),
        ("not base64!", "multipart/form-data; boundary=XyZ"),
        (base64.b64encode(b"\xff\xfe=\xff").decode(), "application/x-www-form-urlencoded"),
        (
            base64.b64encode(_multipart({"name": "U", "email": "m@example.com"}).encode()).decode(),
            "multipart/form-data; boundary=XyZ",
        ),
    ],
    ids=["multipart-not-latin1", "multipart-bad-base64", "form-not-utf8", "multipart-base64"],
)
def test_binary_non_json_body_is_415_never_500(  # noqa: PLR0917 (pytest parametrize)
    send: Any, target: Any, ddb: Any, route: tuple[str, str], raw: str, content_type: str
) -> None:
    # As API Gateway delivers a body of a Binary Media Type (isBase64Encoded), and a raw one with non-latin-1 text.
    before = table_rows(ddb)
    base64_encoded = "\u65e5" not in raw
    result = send(route[0], target(route[1]), raw, content_type, isBase64Encoded=base64_encoded)
    api_error(result, 415, "unsupported_media_type")
    assert table_rows(ddb) == before


@pytest.mark.parametrize(
    ("header", "content_type", "status"),
    [("CONTENT-TYPE", "Application/Json", 201), ("Content-type", "text/plain", 415), ("CoNtEnT-TyPe", JSON, 201)],
)
def test_content_type_header_name_is_case_insensitive(send: Any, header: str, content_type: str, status: int) -> None:
    result = send("POST", "/items", json.dumps({"name": "n"}), content_type, header=header)
    assert result.status == status, result.body


def test_routes_without_a_body_model_ignore_a_non_json_body(send: Any, target: Any) -> None:
    # The rule is about bodies a route reads: GET/DELETE read none, an unknown route is still a 404.
    assert send("GET", "/items", "name=x", "application/x-www-form-urlencoded").status == 200
    assert send("GET", target("/items/{item_id}"), "x", "text/plain").status == 200
    assert send("DELETE", target("/items/{item_id}"), "x", None).status == 204
    api_error(send("POST", "/nope", "name=x", "application/x-www-form-urlencoded"), 404, "route_not_found")


@pytest.mark.parametrize(
    ("method", "template", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/items", 200),
        ("GET", "/items/{item_id}", 200),
        ("GET", "/users/{user_id}/orders/{order_id}", 200),
        ("DELETE", "/items/{item_id}", 204),
    ],
)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_bodyless_requests_ignore_content_type(  # noqa: PLR0917 (pytest parametrize)
    send: Any, target: Any, method: str, template: str, status: int, content_type: str | None
) -> None:
    result = send(method, target(template), None, content_type)
    assert result.status == status, result.body


# ---- finding 2: integer body fields are strict ----------------------------------------------------------


@pytest.mark.parametrize(("method", "template", "field"), INTEGER_FIELDS, ids=[" ".join(f) for f in INTEGER_FIELDS])
@pytest.mark.parametrize("loose", [str, lambda value: True, float], ids=["string", "bool", "float"])
def test_integer_body_fields_reject_loose_types(  # noqa: PLR0917 (pytest parametrize)
    call_api: Any, target: Any, ddb: Any, method: str, template: str, field: str, loose: Any
) -> None:
    body, _ = BODY_ROUTES[(method, template)]
    valid = body.get(field, 100)
    before = table_rows(ddb)
    result = call_api(method, target(template), {**body, field: loose(valid)})
    error = api_error(result, 422, "validation_error")
    assert [problem["loc"][-1] for problem in error["details"]] == [field]
    assert set(error["details"][0]) == {"loc", "type", "msg"}
    assert table_rows(ddb) == before


@pytest.mark.parametrize(("method", "template", "field"), INTEGER_FIELDS, ids=[" ".join(f) for f in INTEGER_FIELDS])
def test_integer_body_fields_still_accept_json_integers(
    call_api: Any, target: Any, method: str, template: str, field: str
) -> None:
    body, status = BODY_ROUTES[(method, template)]
    result = call_api(method, target(template), {**body, field: body.get(field, 100)})
    assert result.status == status, result.body


def test_strict_integers_keep_enums_lists_and_optionals_from_json(call_api: Any, target: Any) -> None:
    created = call_api("POST", "/items", {"name": "n", "description": None, "tags": ["x"], "ttl_seconds": None})
    assert created.status == 201, created.body
    assert created.body["item"]["ExpiresAt"] is None
    order = target("/users/{user_id}/orders/{order_id}")
    shipped = call_api("PUT", order, {"status": "PAID", "version": 1})
    assert shipped.status == 200, shipped.body
    assert shipped.body["order"]["Status"] == "PAID"
    api_error(call_api("PUT", order, {"status": "paid", "version": 2}), 422, "validation_error")
    big = call_api("PUT", target("/items/{item_id}"), {"tags": [], "version": 2**53})
    api_error(big, 409, "version_conflict")  # the largest allowed version validates and reaches the store


def test_integer_fields_stay_integers_in_the_openapi_document(app_env: None) -> None:
    models = {(method, path): model for method, path, model in _body_schemas()}
    for method, template, field in INTEGER_FIELDS:
        schema = models[(method, template)]["properties"][field]
        assert _types(schema) in ({"integer"}, {"integer", "null"}), (method, template, field, schema)


# ---- finding 3: the OpenAPI document lists what a body route answers ------------------------------------


def test_every_operation_with_a_request_body_documents_json_only_and_415(app_env: None) -> None:
    operations = list(_body_operations())
    assert operations
    for method, path, operation in operations:
        assert set(operation["requestBody"]["content"]) == {"application/json"}, (method, path)
        assert "415" in operation["responses"], f"{method} {path} accepts a body but does not document 415"
        content = operation["responses"]["415"]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
