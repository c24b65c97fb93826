"""The API under generated and hostile input, over HTTP on the tier's local cloud.

- schemathesis (positive and negative generation) against the spec the API serves (``GET /openapi.json``,
  which must equal the committed ``sam/openapi.json``), every response judged by ALL of schemathesis' checks
  (``-c all``: schema-valid data accepted, invalid data rejected, status codes, content types, headers and
  bodies as documented; settings in ``schemathesis.toml``): zero findings, zero 5xx, every error in the
  documented ``{"error": {"code", "message", "details"?}}`` shape, and no row stored by a rejected request (entity
  rows are counted in the emulator before/after: the delta must equal accepted creates minus accepted deletes).
- hand-written hostile cases: ids with ``#``, ``/``, ``..``, unicode and 10 KB; 1 MB bodies; invalid UTF-8;
  wrong content types; forged and stale ``next_token``; limits 0 / -1 / 10^9.
"""

from __future__ import annotations

import base64
import collections
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from conftest import LocalCloud
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud-reliability")]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION_AND_MODE = 45
ENTITY_PREFIXES = ("ITEM#", "USER#")
# Listings whose schema-valid next_token may still be a 400 (schemathesis.toml says why).
CURSOR_LISTINGS = ("GET /items", "GET /orders", "GET /users/{user_id}/orders")


def entity_rows(cloud: LocalCloud) -> int:
    """Rows of entity partitions (the processor's STATS#/LEDGER# rows change asynchronously: not counted)."""
    client = cloud.client("dynamodb")
    total, kwargs = 0, {}
    while True:
        page = client.scan(
            TableName=cloud.table_name,
            Select="COUNT",
            FilterExpression="begins_with(PK, :i) OR begins_with(PK, :u)",
            ExpressionAttributeValues={":i": {"S": "ITEM#"}, ":u": {"S": "USER#"}},
            ConsistentRead=True,
            **kwargs,
        )
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _content_type(response: Any) -> str:
    # requests gives a string; schemathesis' Response a list of values per (lower-case) header.
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return str(value[0] if isinstance(value, list) else value)
    return ""


def error_shape_problem(response: Any) -> str | None:
    """None if the response is a documented error; else what is wrong with it."""
    if not _content_type(response).startswith("application/json"):
        return f"content-type {_content_type(response)!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"not JSON: {response.content[:120]!r}"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not an error envelope: {str(body)[:200]}"
    error = body["error"]
    if not {"code", "message"} <= set(error) <= {"code", "message", "details"}:
        return f"error keys {sorted(error)}"
    if not isinstance(error["code"], str) or not isinstance(error["message"], str) or not error["code"]:
        return f"error code/message types: {error}"
    return None


def is_gateway_message(response: Any) -> bool:
    """API Gateway's own response body (``{"message": ...}``): the request never reached the function."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == {"message"}


def sent_utf8(response: Any) -> bool:
    body = getattr(getattr(response, "request", None), "body", None)
    if body is None or isinstance(body, str):
        return True
    try:
        bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Ledger:
    """What the run sent and got, and the row delta it may explain."""

    def __init__(self) -> None:
        self.requests = 0
        self.statuses: collections.Counter[int] = collections.Counter()
        self.by_operation: collections.Counter[str] = collections.Counter()
        self.expected_row_delta = 0
        self.problems: list[str] = []
        self.unsatisfiable: list[str] = []
        self.gateway_undecodable = 0
        self.checked = 0
        self.findings: list[str] = []
        self.cursor_rejections = 0

    def record(self, label: str, method: str, path: str, response: Any) -> bool:
        """Record one answer; False for the local gateway's own 502 (the function never ran: nothing to check)."""
        self.requests += 1
        self.statuses[response.status_code] += 1
        self.by_operation[label] += 1
        status = response.status_code
        if status == 502 and is_gateway_message(response) and not sent_utf8(response):
            # SAM CLI's local API Gateway cannot decode a non-UTF-8 body and answers 502 itself; the function
            # never runs. Counted and reported (docs/reliability.md), not hidden: any other 5xx fails.
            self.gateway_undecodable += 1
            return False
        if status >= 500:
            self.problems.append(f"{label}: {status} {response.content[:200]!r}")
        elif status >= 400:
            problem = error_shape_problem(response)
            if problem:
                self.problems.append(f"{label}: {status} {problem}")
        elif method == "POST" and status == 201:
            self.expected_row_delta += 1
        elif method == "DELETE" and status == 204:
            self.expected_row_delta -= 1
        del path
        return True

    def check(self, label: str, case: Any, response: Any) -> None:
        """Every schemathesis check on one answer; what fails is a finding."""
        self.checked += 1
        try:
            case.validate_response(response, checks=ALL_CHECKS)
        except (Failure, FailureGroup) as exc:
            self.findings.append(f"{label}: {str(exc)[:600]}")
        positive = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
        if positive and response.status_code == 400 and case.operation.label in CURSOR_LISTINGS:
            # The one 400 schemathesis.toml lets schema-valid data get: a next_token this listing did not issue.
            self.cursor_rejections += 1
            code = json.loads(response.content)["error"]["code"]
            if code != "invalid_next_token" or "next_token" not in (case.query or {}):
                self.findings.append(f"{label}: schema-valid request got 400 {code} (query {case.query})")


load_all_checks()
ALL_CHECKS = CHECKS.get_all()  # what `schemathesis run -c all` runs


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> str:
    return local_cloud.api_url


@pytest.fixture(scope="module")
def session() -> requests.Session:
    return requests.Session()


def test_served_spec_is_the_committed_one(api: str, session: requests.Session) -> None:
    served = session.get(f"{api}/openapi.json", timeout=30).json()
    assert served == json.loads((REPO / "sam" / "openapi.json").read_text())


def fuzz(operation: Any, mode: GenerationMode, api: str, session: requests.Session, ledger: Ledger) -> None:
    """EXAMPLES_PER_OPERATION_AND_MODE generated requests for one operation, each recorded in ``ledger``."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run, so a failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=api, session=session, timeout=60)
        label = f"{operation.label} [{mode.value}]"
        if ledger.record(label, case.method.upper(), case.path, response):
            ledger.check(label, case, response)

    try:
        run()
    except Unsatisfiable:
        # Negative mode on an operation with nothing to negate (GET /health, GET /stats: no parameters).
        assert mode is GenerationMode.NEGATIVE, operation.label
        ledger.unsatisfiable.append(operation.label)


def test_schemathesis_fuzz(api: str, session: requests.Session, local_cloud: LocalCloud) -> None:
    spec = session.get(f"{api}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig.from_path(REPO / "schemathesis.toml"))
    ledger = Ledger()
    rows_before = entity_rows(local_cloud)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, api, session, ledger)
    rows_after = entity_rows(local_cloud)
    print(
        f"\nschemathesis: {ledger.requests} requests over {len(operations)} operations; "
        f"statuses {dict(sorted(ledger.statuses.items()))}; nothing to negate in {ledger.unsatisfiable}; "
        f"local-gateway 502 on non-UTF-8 bodies: {ledger.gateway_undecodable}; "
        f"{ledger.checked} answers x {len(ALL_CHECKS)} checks, {len(ledger.findings)} findings; "
        f"schema-valid next_token not issued by the listing (400): {ledger.cursor_rejections}"
    )
    assert ledger.requests >= 1000
    assert len({label.split(" [")[0] for label in ledger.by_operation}) == len(operations)
    assert not ledger.problems, f"{len(ledger.problems)} bad responses:\n" + "\n".join(ledger.problems[:30])
    assert ledger.checked >= 1000 and len(ALL_CHECKS) >= 10
    assert not ledger.findings, f"{len(ledger.findings)} schemathesis findings:\n" + "\n".join(ledger.findings[:20])
    assert rows_after - rows_before == ledger.expected_row_delta, "a rejected request stored (or removed) rows"


# ---------------------------------------------------------------------------------------------- hostile cases
HOSTILE_IDS = [
    "ITEM#00000000-0000-4000-8000-000000000000",
    "a#b",
    "%23",
    "..",
    "../health",
    "%2e%2e%2fhealth",
    "..%2f..%2fusers",
    "a%2Fb",
    "日本語",
    "%E6%97%A5%E6%9C%AC",
    "\u202etxt.exe",
    "%00",
    "A" * 10 * 1024,
    str(uuid.uuid4()).upper(),  # valid UUID, wrong case: the id pattern is lower-case only
]


def _check_error(response: requests.Response, allowed: set[int], what: str) -> None:
    assert response.status_code in allowed, f"{what}: {response.status_code} {response.text[:200]}"
    problem = error_shape_problem(response)
    assert problem is None, f"{what}: {problem}"


@pytest.fixture(scope="module")
def seeded(api: str, session: requests.Session) -> dict[str, Any]:
    """A few real entities, so hostile updates and listings meet existing rows."""
    items = [
        session.post(f"{api}/items", json={"name": f"seed {i}", "tags": ["seed"]}, timeout=30).json()["item"]
        for i in range(3)
    ]
    user = session.post(f"{api}/users", json={"name": "Seed", "email": "seed@example.com"}, timeout=30).json()["user"]
    return {"items": items, "user": user}


def test_hostile_ids_never_reach_the_table(
    api: str, session: requests.Session, local_cloud: LocalCloud, seeded: dict[str, Any]
) -> None:
    before = entity_rows(local_cloud)
    item = seeded["items"][0]
    gateway_answers: list[str] = []
    normalised: list[str] = []
    for hostile in HOSTILE_IDS:
        # Pre-encoded ids go verbatim; others are percent-encoded so '#', '/' and unicode reach the server.
        raw = hostile if "%" in hostile else quote(hostile, safe="")
        for method, path, body in [
            ("GET", f"/items/{raw}", None),
            ("PUT", f"/items/{raw}", {"name": "x", "version": 1}),
            ("DELETE", f"/items/{raw}", None),
            ("GET", f"/users/{raw}", None),
            ("POST", f"/users/{raw}/orders", {"amount": 1}),
            ("GET", f"/users/{seeded['user']['UserId']}/orders/{raw}", None),
        ]:
            response = session.request(method, f"{api}{path}", json=body, timeout=30)
            if response.request.path_url != path:
                # The HTTP client itself removed dot segments (RFC 3986): another route was asked, legitimately.
                normalised.append(f"{path[:40]} -> {response.request.path_url[:40]}")
                assert response.status_code < 500, response.text
                continue
            if response.status_code == 403 and is_gateway_message(response):
                # A decoded '/' or '..' made a path no route matches: API Gateway answers 403 "Missing
                # Authentication Token" itself (no GatewayResponses in the template; see docs/reliability.md).
                gateway_answers.append(f"{method} {path[:60]}")
                continue
            _check_error(response, {400, 404, 405, 414, 422}, f"{method} {path[:80]}")
    after = entity_rows(local_cloud)
    assert after == before
    print(f"\nhostile ids: gateway-answered (no route) {len(gateway_answers)}: {gateway_answers[:6]}")
    print(f"hostile ids: normalised by the client {len(normalised)}: {normalised[:4]}")
    unchanged = session.get(f"{api}/items/{item['ItemId']}", timeout=30).json()
    assert unchanged["version"] == item["version"], "a hostile id modified a real item"


def test_hostile_bodies(api: str, session: requests.Session, local_cloud: LocalCloud, seeded: dict[str, Any]) -> None:
    before = entity_rows(local_cloud)
    item = seeded["items"][1]
    cases: list[tuple[str, str, dict[str, str], bytes, set[int]]] = [
        (
            "POST",
            "/items",
            {"content-type": "application/json"},
            json.dumps({"name": "x" * 1024 * 1024}).encode(),
            {413, 422},
        ),
        ("POST", "/items", {"content-type": "application/json"}, b"{" + b" " * (1024 * 1024) + b"}", {400, 413, 422}),
        ("POST", "/items", {"content-type": "application/json"}, b'{"name": "x"', {400}),
        ("POST", "/items", {"content-type": "application/json"}, b"[]", {400, 422}),
        ("POST", "/items", {"content-type": "application/json"}, b"null", {400, 422}),
        ("POST", "/items", {"content-type": "application/json"}, b'{"name": "x", "PK": "STATS#Item"}', {422}),
        (
            "POST",
            "/items",
            {"content-type": "application/json"},
            b'{"name": "x", "tags": ["t"], "tags": 1}',
            {400, 422},
        ),
        (
            "POST",
            "/items",
            {"content-type": "application/json"},
            json.dumps({"name": "x", "tags": ["a"] * 21}).encode(),
            {422},
        ),
        ("POST", "/items", {"content-type": "text/plain"}, b'{"name": "x"}', {400, 415, 422}),
        ("POST", "/items", {"content-type": "application/xml"}, b"<item><name>x</name></item>", {400, 415, 422}),
        ("POST", "/items", {"content-type": "application/x-www-form-urlencoded"}, b"name=x", {400, 415, 422}),
        ("POST", "/items", {}, b"", {400, 415, 422}),
        (
            "POST",
            "/users",
            {"content-type": "application/json"},
            json.dumps({"name": "n", "email": "a@" + "b" * 300 + ".com"}).encode(),
            {422},
        ),
        (
            "PUT",
            f"/items/{item['ItemId']}",
            {"content-type": "application/json"},
            json.dumps({"name": "y" * 10 * 1024, "version": item["version"]}).encode(),
            {422},
        ),
        (
            "PUT",
            f"/items/{item['ItemId']}",
            {"content-type": "text/plain"},
            json.dumps({"name": "y", "version": item["version"]}).encode(),
            {400, 415, 422},
        ),
        (
            "PUT",
            f"/items/{item['ItemId']}",
            {"content-type": "application/json"},
            json.dumps({"name": "y", "version": 2**60}).encode(),
            {422},
        ),
        (
            "PUT",
            f"/items/{item['ItemId']}",
            {"content-type": "application/json"},
            json.dumps({"version": item["version"]}).encode(),
            {422},
        ),
    ]
    for method, path, headers, body, allowed in cases:
        response = session.request(method, f"{api}{path}", data=body, headers=headers, timeout=60)
        _check_error(response, allowed, f"{method} {path} {headers} {body[:40]!r}")
    assert entity_rows(local_cloud) == before
    unchanged = session.get(f"{api}/items/{item['ItemId']}", timeout=30).json()
    assert unchanged["version"] == item["version"] and unchanged["Name"] == item["Name"]


def test_unicode_and_separator_values_are_data_not_keys(api: str, session: requests.Session) -> None:
    """Values with '#', '/', '..' and unicode are stored and returned verbatim (they never build keys)."""
    name = "ITEM#../../USER#x/日本語 \u202e"
    created = session.post(f"{api}/items", json={"name": name, "tags": ["#", "..", "/"]}, timeout=30)
    assert created.status_code == 201, created.text
    item = created.json()["item"]
    fetched = session.get(f"{api}/items/{item['ItemId']}", timeout=30).json()
    assert fetched["Name"] == name.strip()
    assert fetched["Tags"] == ["#", "..", "/"]


def _b64(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def test_forged_and_stale_pagination_tokens(api: str, session: requests.Session, seeded: dict[str, Any]) -> None:
    first = session.get(f"{api}/items", params={"limit": 1}, timeout=30)
    assert first.status_code == 200
    real = first.json().get("next_token")
    assert real, "three seeded items and limit 1 must give a next_token"
    forged = [
        "garbage",
        "%%%",
        "A" * 1025,
        _b64({"s": "items", "k": {"PK": "STATS#Item", "SK": "TOTAL"}}),
        _b64({"s": "orders", "k": {}}),
        _b64({"s": "items", "k": {"PK": {"S": "ITEM#x"}}}),
        _b64({"s": "items", "k": {"EntityType": "Item", "CreatedAt": True, "PK": "ITEM#x", "SK": "METADATA"}}),
        _b64([1, 2, 3]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        real[:-3] + "xyz",
        real + "=",
    ]
    for token in forged:
        response = session.get(f"{api}/items", params={"limit": 5, "next_token": token}, timeout=30)
        if response.status_code == 200:
            # A token that decodes to a valid position of this listing is accepted (it is a position, not a
            # credential); it must still page normally.
            assert isinstance(response.json().get("items"), list), token
            continue
        _check_error(response, {400, 422}, f"next_token {token[:40]}")
    user_orders = session.get(f"{api}/users/{seeded['user']['UserId']}/orders", params={"next_token": real}, timeout=30)
    _check_error(user_orders, {400}, "an items token on a user's orders")
    by_status = session.get(f"{api}/orders", params={"status": "PENDING", "next_token": real}, timeout=30)
    _check_error(by_status, {400}, "an items token on orders by status")
    # Stale: the item the token points after is deleted; the token stays a valid position.
    page = first.json()["items"][0]
    assert session.delete(f"{api}/items/{page['ItemId']}", timeout=30).status_code == 204
    stale = session.get(f"{api}/items", params={"limit": 5, "next_token": real}, timeout=30)
    assert stale.status_code == 200, stale.text


@pytest.mark.parametrize("limit", ["0", "-1", str(10**9), "101", "1.5", "abc", "", "1e3", "0x10", "5; DROP"])
def test_limit_out_of_range(api: str, session: requests.Session, limit: str) -> None:
    for path in ("/items", "/orders?status=PENDING"):
        sep = "&" if "?" in path else "?"
        response = session.get(f"{api}{path}{sep}limit={limit}", timeout=30)
        _check_error(response, {400, 422}, f"{path} limit={limit!r}")


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "\xff\xfe\xfa"}', b"\xc3\x28", b'{"name": "ok\xed\xa0\x80"}', b"\x00\x01\x02"],
    ids=["bad-bytes-in-string", "truncated-sequence", "utf16-surrogate", "binary"],
)
def test_invalid_utf8_bodies(api: str, session: requests.Session, local_cloud: LocalCloud, raw: bytes) -> None:
    """Invalid UTF-8 never stores anything and never crashes the function.

    Over HTTP, SAM CLI's local gateway cannot decode such a body and answers 502 itself (a local-emulation
    gap, reported). So the function is also invoked directly with the event API Gateway delivers for a body it
    cannot treat as text (base64, isBase64Encoded): it must answer 400/422 in the error shape.
    """
    before = entity_rows(local_cloud)
    over_http = session.post(f"{api}/items", data=raw, headers={"content-type": "application/json"}, timeout=30)
    if over_http.status_code == 502:
        assert is_gateway_message(over_http), over_http.text
    else:
        _check_error(over_http, {400, 422}, f"HTTP {raw!r}")
    event = json.loads((REPO / "sam" / "events" / "api-create-item.json").read_text())
    event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    function = local_cloud.outputs["sam_parameters"]["ApiFunctionName"]
    invoked = session.post(
        f"{local_cloud.lambda_url}/2015-03-31/functions/{function}/invocations", data=json.dumps(event), timeout=60
    )
    assert invoked.status_code == 200, invoked.text
    assert "x-amz-function-error" not in {k.lower() for k in invoked.headers}, invoked.text
    proxy = invoked.json()
    assert proxy["statusCode"] in {400, 422}, proxy
    body = json.loads(proxy["body"])
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert entity_rows(local_cloud) == before
