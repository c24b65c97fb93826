"""In-process regression test (no cloud): a base64 body that is not UTF-8 is the client's 400, never a 500.

Found by test_api_fuzz.py::test_invalid_utf8_bodies on the local cloud: Powertools decodes an
``isBase64Encoded`` body with ``.decode()`` before validation, and the UnicodeDecodeError reached the catch-all
handler (HTTP 500 ``internal_error``). Nothing touches AWS here: the request fails before any route body runs.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

EVENT = Path(__file__).resolve().parents[2] / "sam" / "events" / "api-create-item.json"


def _resolve(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "reliability")
    from service.api.app import app

    event = json.loads(EVENT.read_text())
    event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    context = SimpleNamespace(
        function_name="api", aws_request_id="r", invoked_function_arn="arn", memory_limit_in_mb=128
    )
    return dict(app.resolve(event, context))


@pytest.mark.parametrize("raw", [b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"name": "ok\xed\xa0\x80"}'])
def test_non_utf8_base64_body_is_a_400(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    response = _resolve(raw, monkeypatch)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_json"


def test_utf8_base64_body_still_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same path with a valid body must reach validation (422 for a missing name), not the new handler.
    response = _resolve(b'{"tags": []}', monkeypatch)
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["error"]["code"] == "validation_error"
