"""The benchmark's statistics, table, Lambda-like import path and a one-round cold-start smoke run.

No timing thresholds: the benchmark reports numbers, tests only check they are computed correctly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import coldstart, lambda_site, run, sizes  # noqa: E402
from bench.stats import (  # noqa: E402
    Row,
    median,
    paired_ratio_interval,
    percentile,
    ratio,
    render_markdown,
    render_text,
    verdict,
)


def test_median_of_odd_and_even_counts_ignores_order() -> None:
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 40.0, 20.0, 30.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == median(values)
    # rank (4 - 1) * 0.25 = 0.75 -> 10 + 0.75 * (20 - 10)
    assert percentile(values, 25) == pytest.approx(17.5)
    with pytest.raises(ValueError):
        percentile(values, 101)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_ratio_needs_a_positive_baseline() -> None:
    assert ratio(3.0, 2.0) == 1.5
    with pytest.raises(ValueError):
        ratio(1.0, 0.0)


@pytest.mark.parametrize(
    ("value", "goal", "direction", "expected"),
    [
        (1.3, 1.3, "max", "PASS"),  # the goal itself passes
        (1.31, 1.3, "max", "FAIL"),
        (2000, 2000, "min", "PASS"),
        (1999, 2000, "min", "FAIL"),
        (5, 0, "report", "report"),
    ],
)
def test_verdict_against_goal(value: float, goal: float, direction: str, expected: str) -> None:
    assert verdict(value, goal, direction) == expected  # type: ignore[arg-type]


def test_judged_row_carries_goal_ratio_and_verdict() -> None:
    row = Row.judged("x", value=1.4, goal=1.3, direction="max", measured="14 ms", baseline=10, command="c")
    assert (row.goal, row.ratio, row.result) == ("<= 1.3x", "1.40x", "FAIL")
    rate = Row.judged("s", value=2500, goal=2000, direction="min", measured="m", command="c", unit="/s")
    assert (rate.goal, rate.ratio, rate.result) == (">= 2000/s", "-", "PASS")
    missing = Row.not_available("d", "<= 120 s", "no emulator", "c")
    assert missing.measured == "n/a (no emulator)"
    assert missing.result == "n/a"


def test_paired_interval_is_tight_without_drift_and_widens_with_it() -> None:
    steady = [([1.1 * t for t in base], base) for base in ([1.0, 2.0, 3.0],) * 20]
    assert paired_ratio_interval(steady) == pytest.approx((1.1, 1.1))
    # The machine slows down and speeds up between turns, and the measured side suffers more from it.
    drifting = [([1.1 * k * k] * 3, [k] * 3) for k in (1.0, 1.2, 0.9, 1.3, 1.05) * 8]
    point = median([t for m, _ in drifting for t in m]) / median([t for _, b in drifting for t in b])
    low, high = paired_ratio_interval(drifting)
    assert low < point < high
    with pytest.raises(ValueError):
        paired_ratio_interval([])


def test_ratio_at_the_goal_shows_the_digit_that_decides() -> None:
    def text(value: float) -> str:
        return Row.judged("r", value=value, goal=1.15, direction="max", measured="m", command="c", baseline=1.0).ratio

    assert (text(1.1514), text(1.1494), text(1.12), text(1.2)) == ("1.151x", "1.149x", "1.12x", "1.20x")
    assert (
        Row.judged("r", value=1.1514, goal=1.15, direction="max", measured="m", command="c", baseline=1.0).result
        == "FAIL"
    )


def test_tables_have_one_line_per_row_and_escape_pipes() -> None:
    rows = [
        Row.judged("a|b", value=1.0, goal=1.3, direction="max", measured="1 ms", baseline=1, command="make bench"),
        Row.not_available("c", "report", "missing", "cmd --x"),
    ]
    markdown = render_markdown(rows).splitlines()
    assert len(markdown) == 2 + len(rows)
    assert markdown[0].startswith("| Metric | Goal | Measured | Ratio | Result | Reproduce |")
    assert "a\\|b" in markdown[2]
    assert all(line.count(" | ") == markdown[0].count(" | ") for line in markdown[2:])
    text = render_text(rows).splitlines()
    assert len(text) == 2 + len(rows)
    # Columns are aligned: every row starts its "Goal" cell where the header does.
    goal_col = text[0].index("Goal")
    assert text[2][goal_col:].startswith("<= 1.3x")
    assert text[3][goal_col:].startswith("report")


def test_lambda_site_is_the_layer_closure_only(tmp_path: Path) -> None:
    names = {n.lower().replace("_", "-") for n in lambda_site.build(tmp_path / "site")}
    # Declared layer requirements, the tracer extra's X-Ray SDK and transitive botocore are all there...
    assert {"aws-lambda-powertools", "pydantic", "boto3", "aws-xray-sdk", "botocore", "pydantic-core"} <= names
    # ...and nothing the dev venv has only for the SAM CLI (these would change what gets imported).
    assert not names & {"aws-sam-cli", "awscrt", "requests", "pyopenssl", "moto"}
    assert (tmp_path / "site" / "pydantic").is_dir()
    assert not (tmp_path / "site" / "moto").exists()


def test_zipped_size_skips_bytecode(tmp_path: Path) -> None:
    root = tmp_path / "fn"
    (root / "__pycache__").mkdir(parents=True)
    (root / "handler.py").write_text("x = 1\n" * 100)
    (root / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\0" * 5000)
    zipped, raw = sizes.zipped_size(root)
    assert raw == len("x = 1\n" * 100)
    assert 0 < zipped < raw + 200  # 600 repetitive bytes deflate; the 5000-byte .pyc was not added


def test_unknown_section_is_rejected() -> None:
    with pytest.raises(SystemExit):
        run.main(["--only", "nonsense", "--no-docs"])


def test_doc_records_machine_and_table(tmp_path: Path) -> None:
    rows = [
        Row.judged(
            "Cold init: api / floor", value=1.1, goal=1.3, direction="max", measured="m", baseline=1, command="c"
        )
    ]
    doc = tmp_path / "benchmarks.md"
    info = run.machine()
    run.write_doc(doc, info, rows, ["a note"], ["--only", "cold"])
    text = doc.read_text()
    assert info["cpu"] in text
    assert f"{info['cores']} cores" in text
    assert "| Cold init: api / floor |" in text
    assert "- a note" in text
    assert "--only cold" in text


def test_cold_start_smoke_one_round(tmp_path: Path) -> None:
    """n=1, no table: each handler module and the floor import in a fresh Lambda-like interpreter."""
    site = coldstart.build_site(tmp_path)
    found = coldstart.measure(1, site)
    assert set(found) == {coldstart.FLOOR, *coldstart.FUNCTIONS}
    for samples in found.values():
        assert len(samples.init_s) == 1
        assert samples.init > 0
        assert samples.init_cpu_s[0] > 0
        assert samples.first_total is None  # no endpoint: no first request
    # Tracing is deferred: nothing patched the AWS SDK during init.
    assert all(p == [] for s in found.values() for p in s.patched)


def test_warm_processes_serve_blocks_in_turn(tmp_path: Path) -> None:
    """Long-lived Lambda-like processes: every kind times the same number of requests, the handler answers 200
    (its own stdout does not confuse the answers) and the default rule samples some but not all requests."""
    from bench import fixture, warm

    site = coldstart.build_site(tmp_path / "site")
    with fixture.moto_table(tmp_path / "moto") as table:
        result = warm.measure(site, table, requests=40, block=8, warmup=2)
    assert {kind: len(s) for kind, s in result.samples.items()} == {kind: 40 for kind in warm.KINDS}
    assert result.statuses == {200}
    assert all(t > 0 for s in result.samples.values() for t in s)
    assert 1 <= result.sampled < 40
    assert result.ratio("raw") == 1.0
    low, high = result.interval("default")
    assert 0 < low <= high


def test_stream_clock_stops_only_when_every_new_item_was_applied() -> None:
    from localcloud.runtime.esm import InvokeOutcome

    from bench.stream import _Applied

    def record(pk: str, seq: str, name: str = "INSERT") -> dict[str, object]:
        return {"eventName": name, "dynamodb": {"Keys": {"PK": {"S": pk}}, "SequenceNumber": seq}}

    applied = _Applied(3)
    batch = {"Records": [record("ITEM#a", "1"), record("ITEM#b", "2"), record("ITEM#a", "3", "MODIFY")]}
    applied.note(batch, InvokeOutcome(None, "Unhandled"))  # a crashed invocation applied nothing
    applied.note(batch, InvokeOutcome({"batchItemFailures": [{"itemIdentifier": "2"}]}))  # b failed
    assert (applied.items, applied.done.is_set()) == ({"ITEM#a"}, False)
    applied.note({"Records": [record("ITEM#b", "2"), record("ITEM#a", "1")]}, InvokeOutcome(None))  # redelivery
    assert (applied.items, applied.done.is_set()) == ({"ITEM#a", "ITEM#b"}, False)
    applied.note({"Records": [record("ITEM#c", "4")]}, InvokeOutcome({"batchItemFailures": []}))
    assert applied.done.is_set() and applied.finished > 0 and applied.invocations == 4


def test_trace_headers_follow_the_sampling_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from bench import _child

    ticks = [0.0, 0.1, 0.2, 0.3, 1.0, 1.5] + [2.0 + i / 1000 for i in range(400)]
    clock = iter(ticks + [2.5] * 10)
    monkeypatch.setattr(_child.time, "monotonic", lambda: next(clock))
    default, every = _child._TraceHeaders("lambda-default"), _child._TraceHeaders("all")
    roots = set()
    for _ in ticks:
        default.next()
        roots.add(os.environ["_X_AMZN_TRACE_ID"].split(";")[0])
    assert os.environ["_X_AMZN_TRACE_ID"].startswith("Root=1-") and "Sampled=" in os.environ["_X_AMZN_TRACE_ID"]
    assert len(roots) == 406  # a new trace per invocation
    assert 3 <= default.sampled <= 3 + 40  # one per second (0, 1, 2) and about 5% of the rest
    for _ in range(10):
        every.next()
    assert every.sampled == 10
