"""Generated and sample artifacts stay in step with the code: sam/openapi.json and sam/events/*.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "sam" / "events"


def test_committed_openapi_matches_the_code(tmp_path: Path) -> None:
    from service.api import openapi

    committed = REPO / "sam" / "openapi.json"
    assert openapi.main(["--check", str(committed)]) == 0, (
        "sam/openapi.json drifted: run PYTHONPATH=sam/layers/common python -m service.api.openapi sam/openapi.json"
    )
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert openapi.main(["--check", str(stale)]) == 1


API_EVENTS = sorted(EVENTS.glob("api-*.json"))


def test_there_is_an_event_for_every_route() -> None:
    from service.api.app import openapi_document

    paths = json.loads(openapi_document())["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() for m in ops} | {("GET", "/openapi.json")}
    covered = {(e["httpMethod"], e["resource"]) for e in (json.loads(p.read_text()) for p in API_EVENTS)}
    assert covered == routes


@pytest.mark.parametrize("path", API_EVENTS, ids=lambda p: p.name)
def test_api_events_reach_their_route(path: Path, call_api: Any, lambda_context: Any) -> None:
    import api_handler

    event = json.loads(path.read_text())
    response = api_handler.lambda_handler(event, lambda_context)
    body = json.loads(response["body"]) if response.get("body") else {}
    # Sample ids do not exist in an empty table (404 not_found), but every event must hit a real route
    # with a valid request: never route_not_found, validation_error or a 5xx.
    assert response["statusCode"] < 500
    assert body.get("error", {}).get("code") not in {"route_not_found", "validation_error", "invalid_json"}


def test_stream_and_schedule_events_are_well_formed() -> None:
    for name in ("stream-insert", "stream-modify", "stream-remove", "stream-poison"):
        records = json.loads((EVENTS / f"{name}.json").read_text())["Records"]
        assert records
        for record in records:
            assert record["eventSource"] == "aws:dynamodb"
            assert record["dynamodb"]["Keys"]["PK"]["S"].startswith(("ITEM#", "USER#"))
    schedule = json.loads((EVENTS / "schedule-daily.json").read_text())
    assert schedule["detail-type"] == "Scheduled Event"
    assert schedule["time"].endswith("Z")
