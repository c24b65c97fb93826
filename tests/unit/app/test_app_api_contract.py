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
@pytest.mark.parametrize(
    "loose", [str, lambda value: True, lambda value: value + 0.5], ids=["string", "bool", "fractional"]
)
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


@pytest.mark.parametrize(("method", "template", "field"), INTEGER_FIELDS, ids=[" ".join(f) for f in INTEGER_FIELDS])
def test_integer_body_fields_accept_a_zero_fraction_as_that_integer(
    send: Any, target: Any, method: str, template: str, field: str
) -> None:
    # JSON Schema's `type: integer` includes 5.0 (and 5e0): the document allows it, so the API accepts it, as 5.
    body, status = BODY_ROUTES[(method, template)]
    valid = body.get(field, 100)
    raw = json.dumps({**body, field: valid}).replace(f'"{field}": {valid}', f'"{field}": {valid}.0')
    assert f"{valid}.0" in raw
    result = send(method, target(template), raw, JSON)
    assert result.status == status, result.body
    entity = result.body.get("item") or result.body["order"]
    if field == "ttl_seconds":
        stored = entity["ExpiresAt"] - entity["CreatedAt"]
    elif field == "amount":
        stored = entity["Amount"]
    else:  # version: the conditional write matched it against the stored integer version, then bumped it
        stored = entity["version"] - 1
    assert stored == valid and isinstance(stored, int), entity


@pytest.mark.parametrize("number", ["1e0", "1.0", "1E+0", "10e-1"])
def test_exponent_forms_of_an_integer_are_that_integer(call_api: Any, send: Any, target: Any, number: str) -> None:
    result = send("POST", target("/users/{user_id}/orders"), f'{{"amount": {number}}}', JSON)
    assert result.status == 201, result.body
    assert result.body["order"]["Amount"] == 1 and isinstance(result.body["order"]["Amount"], int)


@pytest.mark.parametrize("number", ["1.5", "1e-1", "1e400", "-0.0"])
def test_non_integers_and_out_of_range_floats_stay_422(send: Any, target: Any, ddb: Any, number: str) -> None:
    before = table_rows(ddb)
    result = send("POST", target("/users/{user_id}/orders"), f'{{"amount": {number}}}', JSON)
    error = api_error(result, 422, "validation_error")
    assert [problem["loc"][-1] for problem in error["details"]] == ["amount"]
    assert table_rows(ddb) == before


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


# ---- issue 25: the OpenAPI document says exactly what the API accepts -------------------------------------


def _accepts(schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` is valid for ``schema`` (a schema of the generated document, its $refs resolved there)."""
    import jsonschema_rs

    document = _document()
    return jsonschema_rs.validator_for({**schema, "components": document["components"]}).is_valid(value)


def _model(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query_schema(method: str, path: str, name: str) -> dict[str, Any]:
    parameters = _document()["paths"][path][method.lower()]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name)


UPDATE_ITEM_BODIES = [
    {},
    {"version": 1},
    {"version": 1, "name": None},
    {"version": 1, "name": None, "description": None, "tags": None},
    {"version": 1, "name": "x"},
    {"version": 1, "description": ""},
    {"version": 1, "tags": []},
    {"version": 1, "name": None, "tags": ["t"]},
]


@pytest.mark.parametrize("body", UPDATE_ITEM_BODIES, ids=[json.dumps(b) for b in UPDATE_ITEM_BODIES])
def test_update_item_document_allows_exactly_the_bodies_with_a_change(call_api: Any, target: Any, body: Any) -> None:
    # Before: the document allowed {"version": 1}, which the API refuses (at least one change is required).
    path = target("/items/{item_id}")
    documented = _accepts(_model("UpdateItemRequest"), body)
    result = call_api("PUT", path, body)
    if documented:
        assert result.status == 200, result.body
    else:
        api_error(result, 422, "validation_error")


def test_update_item_document_states_the_change_rule(app_env: None) -> None:
    schema = _document()["components"]["schemas"]["UpdateItemRequest"]
    assert sorted(option["required"] for option in schema["anyOf"]) == [["description"], ["name"], ["tags"]]


BLANKS = ["\n", " ", "\t \r", "\u3000", "\xa0", "\u2028", "\x85", "\ufeff", "\x1f", " a ", "\u200b"]


@pytest.mark.parametrize("value", BLANKS, ids=[repr(v) for v in BLANKS])
@pytest.mark.parametrize("field", ["name", "tag"])
def test_blank_names_and_tags_are_refused_by_the_document_too(call_api: Any, ddb: Any, value: str, field: str) -> None:
    # The API strips Unicode White_Space and then needs a character: the document's pattern says the same.
    body = {"name": value} if field == "name" else {"name": "n", "tags": [value]}
    before = table_rows(ddb)
    documented = _accepts(_model("CreateItemRequest"), body)
    result = call_api("POST", "/items", body)
    if documented:
        assert result.status == 201, result.body
    else:
        api_error(result, 422, "validation_error")
        assert table_rows(ddb) == before
    assert documented == bool(value.strip(" \t\n\x0b\x0c\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000")), value


CURSOR_LISTINGS = [("GET", "/items"), ("GET", "/users/{user_id}/orders"), ("GET", "/orders")]


def test_next_token_pattern_in_the_document_is_the_cursor_pattern(app_env: None) -> None:
    from service import pagination

    for method, path in CURSOR_LISTINGS:
        schema = _query_schema(method, path, "next_token")
        assert schema["pattern"] == pagination.CURSOR_PATTERN, path
        string = next(option for option in schema["anyOf"] if option["type"] == "string")
        assert string["maxLength"] == pagination.MAX_TOKEN_LENGTH, path


def test_real_cursors_match_the_documented_pattern(call_api: Any, target: Any) -> None:
    user_orders = target("/users/{user_id}/orders")
    for index in range(3):
        call_api("POST", "/items", {"name": f"n{index}"})
        call_api("POST", user_orders, {"amount": index + 1})
    tokens = [
        call_api("GET", "/items", query={"limit": "1"}).body["next_token"],
        call_api("GET", user_orders, query={"limit": "1"}).body["next_token"],
        call_api("GET", "/orders", query={"status": "PENDING", "limit": "1"}).body["next_token"],
    ]
    for (method, path), token in zip(CURSOR_LISTINGS, tokens, strict=True):
        assert token and _accepts(_query_schema(method, path, "next_token"), token), (path, token)


# Not base64url without padding: wrong alphabet, padding, a length of 4n+1, whitespace.
NOT_CURSORS = ["abcde", "ab+c", "ab/c", "abc=", "YWJj\n", "ab c", "a"]


@pytest.mark.parametrize("token", NOT_CURSORS)
@pytest.mark.parametrize("listing", CURSOR_LISTINGS, ids=[path for _, path in CURSOR_LISTINGS])
def test_a_token_outside_the_pattern_is_400_and_the_document_refuses_it(
    call_api: Any, target: Any, token: str, listing: tuple[str, str]
) -> None:
    method, path = listing
    assert not _accepts(_query_schema(method, path, "next_token"), token)
    query = {"next_token": token} | ({"status": "PENDING"} if path == "/orders" else {})
    api_error(call_api(method, target(path), query=query), 400, "invalid_next_token")


def test_delete_204_has_no_body_no_content_type_and_documents_no_content(
    ddb: Any, lambda_context: Any, target: Any
) -> None:
    import api_handler
    from conftest import api_event

    response = api_handler.lambda_handler(api_event("DELETE", target("/items/{item_id}")), lambda_context)
    assert response["statusCode"] == 204
    assert not response.get("body")
    headers = {**response.get("headers", {}), **response.get("multiValueHeaders", {})}
    assert "content-type" not in {name.lower() for name in headers}, headers
    documented = _document()["paths"]["/items/{item_id}"]["delete"]["responses"]["204"]
    assert documented.get("content", {}) == {}, documented


EMAILS = ["a@b.co", "a\x85b@b.co", "a\ufeffb@b.co", "a\x1fb@b.co", "a\u3000b@b.co", "a b@b.co", "\u00e9@b.co"]


@pytest.mark.parametrize("email", EMAILS, ids=[repr(e) for e in EMAILS])
def test_email_document_pattern_agrees_with_the_api(call_api: Any, ddb: Any, email: str) -> None:
    # Before: the pattern's \s meant \x85 to the API but not to JSON Schema, so "a\x85b@b.co" was allowed yet a 422.
    body = {"name": "n", "email": email}
    documented = _accepts(_model("CreateUserRequest"), body)
    result = call_api("POST", "/users", body)
    if documented:
        assert result.status == 201, result.body
    else:
        api_error(result, 422, "validation_error")
