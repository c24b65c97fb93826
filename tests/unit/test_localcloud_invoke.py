"""`local.sh invoke FUNCTION -e EVENT`: the event file is checked before anything is invoked, and the summary of an
API Gateway event gives the API's status (the function's statusCode), not only the Lambda invoke's.

The runtime is faked: runtime_status says it runs, and _request records what would have been sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tooling
from localcloud import control

API_EVENT = tooling.REPO_ROOT / "sam" / "events" / "api-health.json"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    """A running runtime whose answer the test sets in ['answer']; ['sent'] lists the invoked events."""
    fake: dict[str, object] = {"sent": [], "answer": (200, {}, b"{}")}
    monkeypatch.setenv("TFSAM_LOCAL_DIR", str(tmp_path / "cloud"))
    monkeypatch.setattr(
        control, "runtime_status", lambda _state: {"functions": {"ApiFunction": {}}, "schedules": [], "streams": []}
    )

    def request(url: str, data: bytes | None = None, timeout: float = 330) -> tuple[int, dict[str, str], bytes]:
        fake["sent"].append(data)  # type: ignore[attr-defined]
        return fake["answer"]  # type: ignore[return-value]

    monkeypatch.setattr(control, "_request", request)
    return fake


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    code = control.main(["invoke", *args])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_an_api_event_reports_the_api_status_and_exits_0(
    runtime: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `ok (HTTP 200)` although the API answered 404 (the 200 was the invoke's)."""
    runtime["answer"] = (200, {}, json.dumps({"statusCode": 404, "body": '{"message": "Not found"}'}).encode())
    code, out, err = run(capsys, "ApiFunction", "-e", str(API_EVENT))
    assert err == ["local.sh: ApiFunction: ok (invoke 200, API status 404)"]
    assert code == 0  # the invoke worked; the API status is information (documented in control.py)
    assert json.loads(out)["statusCode"] == 404


def test_an_api_event_whose_response_has_no_status_says_so(
    runtime: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    runtime["answer"] = (200, {}, b'"just a string"')
    code, _, err = run(capsys, "ApiFunction", "-e", str(API_EVENT))
    assert (code, err) == (0, ["local.sh: ApiFunction: ok (invoke 200, no statusCode in the response)"])


def test_an_http_api_v2_event_is_an_api_event(
    runtime: dict[str, object], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = tmp_path / "v2.json"
    event.write_text(json.dumps({"version": "2.0", "rawPath": "/x", "requestContext": {"http": {"method": "GET"}}}))
    runtime["answer"] = (200, {}, b'{"statusCode": 201}')
    assert run(capsys, "ApiFunction", "-e", str(event))[2] == ["local.sh: ApiFunction: ok (invoke 200, API status 201)"]


def test_other_events_and_function_errors_keep_their_summary(
    runtime: dict[str, object], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = tmp_path / "plain.json"
    event.write_text('{"statusCode": 1}')  # not an API event, whatever it holds
    runtime["answer"] = (200, {}, b'{"statusCode": 500}')
    assert run(capsys, "ApiFunction", "-e", str(event))[::2] == (0, ["local.sh: ApiFunction: ok (invoke 200)"])
    runtime["answer"] = (200, {"X-Amz-Function-Error": "Unhandled"}, b'{"errorMessage": "boom"}')
    code, _, err = run(capsys, "ApiFunction", "-e", str(API_EVENT))
    assert (code, err) == (1, ["local.sh: ApiFunction: error (Unhandled) (invoke 200)"])


@pytest.mark.parametrize("content", [b'{"httpMethod": "GET",', b"", b"not json", b"\xff\xfe{}"])
def test_an_event_file_that_is_not_json_is_refused_before_invoking(
    runtime: dict[str, object], capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    """Before: sent anyway; the runtime answered 400 and the summary said `ok (HTTP 400)`, exit 1."""
    event = tmp_path / "bad.json"
    event.write_bytes(content)
    code, out, err = run(capsys, "ApiFunction", "-e", str(event))
    assert runtime["sent"] == [], "an invalid event was sent"
    assert code == 2 and out == ""
    assert len(err) == 1 and err[0].startswith(f"local.sh: error: event file {event} is not valid JSON (")
    assert err[0].endswith("); nothing was invoked")


def test_invalid_json_on_stdin_is_refused(
    runtime: dict[str, object], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{oops")))
    code, _, err = run(capsys, "ApiFunction", "-e", "-")
    assert runtime["sent"] == [] and code == 2
    assert len(err) == 1 and err[0].startswith("local.sh: error: the event on stdin is not valid JSON (")


def test_a_missing_event_file_is_named_first_even_with_no_runtime(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: a missing file was reported only once a runtime ran; without one, the error was about the runtime."""
    monkeypatch.setenv("TFSAM_LOCAL_DIR", str(tmp_path / "cloud"))
    monkeypatch.setattr(control, "_request", lambda *_a, **_k: pytest.fail("something was invoked"))
    missing = tmp_path / "nope.json"
    code, out, err = run(capsys, "ApiFunction", "-e", str(missing))
    assert (code, out) == (2, "")
    assert err == [f"local.sh: error: cannot read event file {missing}: No such file or directory; nothing was invoked"]


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`./scripts/local.sh status | head`: when the reader leaves, exit 141 like any Unix tool, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "localcloud.control", "status"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(tooling.REPO_ROOT / "scripts"), "TFSAM_LOCAL_DIR": str(tmp_path)},
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
