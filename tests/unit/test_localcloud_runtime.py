"""The local runtime's pieces: schedules, the template model, the runtime dir, and one real RIE worker."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tooling
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from localcloud.runtime.model import load_model
from localcloud.runtime.schedule import next_fire, scheduled_event
from localcloud.runtime.workers import FunctionWorker, build_runtime_site, parse_invoke_response
from localcloud.state import host_architecture
from samcli.yamlhelper import yaml_parse

TEMPLATE = tooling.SAM_DIR / "template.yaml"
SATURDAY = datetime(2026, 11, 21, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 0 * * ? *)", datetime(2026, 11, 22, 0, 0, tzinfo=UTC)),
        ("rate(5 minutes)", datetime(2026, 11, 21, 5, 35, tzinfo=UTC)),
        ("rate(1 day)", datetime(2026, 11, 22, 5, 30, tzinfo=UTC)),
        # EventBridge day-of-week 2-6 is MON-FRI (1 = SUN): the next one after a Saturday is Monday.
        ("cron(0 12 ? * 2-6 *)", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * MON-FRI *)", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("cron(15 10 ? * 6#3 2027)", datetime(2027, 1, 15, 10, 15, tzinfo=UTC)),  # third Friday
        ("cron(0/10 * * * ? *)", datetime(2026, 11, 21, 5, 40, tzinfo=UTC)),
    ],
)
def test_next_fire(expression: str, expected: datetime) -> None:
    assert next_fire(expression, SATURDAY) == expected


def test_a_cron_restricted_to_past_years_never_fires() -> None:
    assert next_fire("cron(0 0 * * ? 2020)", SATURDAY) is None


@pytest.mark.parametrize("bad", ["cron(0 0 * * ?)", "every day", "cron(0 0 L * ? *)", "cron(0 0 ? * 5L *)"])
def test_unsupported_expressions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"(unsupported|needs 6 fields|not supported)"):
        next_fire(bad, SATURDAY)


def test_the_templates_schedule_is_understood() -> None:
    template = yaml_parse(TEMPLATE.read_text())
    schedule = template["Resources"]["ScheduledFunction"]["Properties"]["Events"]["Daily"]["Properties"]["Schedule"]
    fire = next_fire(schedule, SATURDAY)
    assert fire is not None and fire > SATURDAY


def test_scheduled_event_parses_as_powertools_eventbridge_event() -> None:
    arn = "arn:aws:events:ap-northeast-1:123456789012:rule/tfsam-local-daily"
    event = EventBridgeEvent(scheduled_event(arn, "ap-northeast-1", "123456789012", SATURDAY))
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.time == "2026-11-21T05:30:00Z"
    assert event.resources == [arn]


def params(**changes: str) -> dict[str, str]:
    template = yaml_parse(TEMPLATE.read_text())
    values = {name: f"v-{name}" for name in template["Parameters"]}
    values.update(
        Environment="local",
        NamePrefix="tfsam-local",
        ApiFunctionName="tfsam-local-api",
        ProcessorFunctionName="tfsam-local-processor",
        ScheduledFunctionName="tfsam-local-scheduled",
        TableName="tfsam-local-data",
        LogLevel="DEBUG",
        LambdaArchitecture=host_architecture(),
        TableStreamArn="arn:aws:dynamodb:ap-northeast-1:123456789012:table/tfsam-local-data/stream/2026",
        DeadLetterQueueArn="arn:aws:sqs:ap-northeast-1:123456789012:tfsam-local-processor-dlq",
    )
    values.update(changes)
    return values


def test_model_resolves_the_template_with_the_deploys_parameter_values() -> None:
    template = yaml_parse(TEMPLATE.read_text())
    resources = template["Resources"]
    model = load_model(TEMPLATE, params(), "ap-northeast-1", "123456789012")
    assert set(model.functions) == {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    api = model.functions["ApiFunction"]
    assert api.function_name == "tfsam-local-api"
    assert api.handler == resources["ApiFunction"]["Properties"]["Handler"]
    assert api.environment["TABLE_NAME"] == "tfsam-local-data"  # Globals + !Ref resolved
    assert api.environment["LOG_LEVEL"] == "DEBUG"
    assert api.environment["POWERTOOLS_SERVICE_NAME"] == "api"  # the function's own variables too
    assert api.architecture == host_architecture()
    assert api.code_dir == (tooling.SAM_DIR / "functions" / "api").resolve()
    assert api.layer_dirs == ((tooling.SAM_DIR / "layers" / "common").resolve(),)
    # Every Api event of the template is a route, with its method.
    api_events = [e["Properties"] for e in resources["ApiFunction"]["Properties"]["Events"].values()]
    routes = {(r.path, m) for r in model.api.routes for m in r.methods}
    assert routes == {(e["Path"], e["Method"].upper()) for e in api_events}
    (stream,) = model.streams
    assert stream.function == "ProcessorFunction"
    assert stream.config.stream_arn == params()["TableStreamArn"]
    assert stream.config.on_failure_arn == params()["DeadLetterQueueArn"]
    (schedule,) = model.schedules
    assert schedule.function == "ScheduledFunction" and schedule.enabled
    # Lookup by logical id, function name or ARN (what `sam local invoke` and the Invoke API accept).
    arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:tfsam-local-scheduled"
    for identifier in ("ScheduledFunction", "tfsam-local-scheduled", arn):
        found = model.resolve(identifier)
        assert found is not None and found.logical_id == "ScheduledFunction"
    assert model.resolve("nope") is None


def test_runtime_dir_holds_what_lambda_provides_and_nothing_from_the_dev_venv(tmp_path: Path) -> None:
    site = build_runtime_site(tmp_path / "site")
    names = {p.name for p in site.iterdir()}
    assert {"awslambdaric", "boto3", "botocore"} <= names
    assert not names & {"aws_lambda_powertools", "pydantic", "moto", "samcli", "pytest"}


def test_parse_invoke_response() -> None:
    assert parse_invoke_response(b'{"statusCode": 200}').function_error is None
    error = parse_invoke_response(b'{"errorMessage": "x", "errorType": "E", "requestId": "r", "stackTrace": []}')
    assert error.function_error == "Unhandled"
    timeout = parse_invoke_response(b"Task timed out after 1.00 seconds")
    assert timeout.function_error == "Unhandled" and "timed out" in timeout.payload["errorMessage"]
    # A handler may legitimately return a dict that happens to have an errorMessage next to other data.
    assert parse_invoke_response(b'{"errorMessage": "x", "items": []}').function_error is None


HANDLER = """
import os, sys, time
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    import shared
    return {"shared": shared.VALUE, "fn": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "table": os.environ["TABLE_NAME"],
            "endpoint": os.environ["AWS_ENDPOINT_URL"], "remaining": context.get_remaining_time_in_millis(),
            "has_powertools": _importable("aws_lambda_powertools"), "has_boto3": _importable("boto3")}
def _importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False
"""


def listening_ports(pid: int) -> set[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=False).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}


def test_a_worker_runs_a_handler_under_the_runtime_interface_emulator(tmp_path: Path) -> None:
    from localcloud.runtime.model import FunctionSpec

    code, layer = tmp_path / "fn", tmp_path / "layer"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "shared.py").write_text("VALUE = 'from the layer'\n")
    spec = FunctionSpec(
        logical_id="Fn",
        function_name="tfsam-test-fn",
        handler="handler.handler",
        code_dir=code,
        layer_dirs=(layer,),
        environment={"TABLE_NAME": "t", "AWS_ENDPOINT_URL": "http://evil"},
        timeout=2,
        memory=128,
        architecture=host_architecture(),
        runtime="python3.13",
    )
    worker = FunctionWorker(
        spec,
        endpoint_url="http://localhost:1",
        region="ap-northeast-1",
        runtime_site=build_runtime_site(tmp_path / "site"),
        workers_dir=tmp_path / "workers",
    )
    try:
        result = worker.invoke(b"{}")
        assert result.function_error is None, result.payload
        assert result.payload["shared"] == "from the layer"
        assert result.payload["fn"] == "tfsam-test-fn"
        assert result.payload["table"] == "t"
        assert result.payload["endpoint"] == "http://localhost:1"  # reserved variables win over the template
        assert 0 < result.payload["remaining"] <= 2000
        assert result.payload["has_boto3"] is True
        assert result.payload["has_powertools"] is False  # not in this layer, so not importable
        assert worker.pid is not None
        ports = listening_ports(worker.pid)
        assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports
        failed = worker.invoke(json.dumps({"fail": True}).encode())
        assert failed.function_error == "Unhandled" and failed.payload["errorType"] == "ValueError"
        timed_out = worker.invoke(json.dumps({"sleep": 5}).encode())
        assert timed_out.function_error == "Unhandled" and "timed out" in timed_out.payload["errorMessage"]
        again = worker.invoke(b"{}")  # the environment recovers after a timeout
        assert again.function_error is None
    finally:
        pid = worker.pid
        worker.stop()
    assert pid is not None and not Path(f"/proc/{pid}").exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", worker.port), timeout=0.5):
        pass


def test_the_scheduler_fires_at_each_scheduled_time_with_that_time() -> None:
    import threading
    from datetime import timedelta

    from localcloud.runtime.model import ScheduleSource
    from localcloud.runtime.server import Scheduler

    clock = [SATURDAY]
    fired: list[tuple[str, datetime]] = []
    stop = threading.Event()

    def now() -> datetime:
        clock[0] += timedelta(seconds=50)  # time runs 50 s per tick
        return clock[0]

    def fire(function: str, when: datetime) -> None:
        fired.append((function, when))
        if len(fired) == 3:
            stop.set()

    schedules = [
        ScheduleSource("Every", "EveryMinute", "rate(1 minute)", True, None),
        ScheduleSource("Off", "Disabled", "rate(1 minute)", False, None),
    ]
    scheduler = Scheduler(schedules, fire, stop, now=now, tick=0.001)
    scheduler.start()
    scheduler.join(timeout=10)
    assert not scheduler.is_alive()
    start = SATURDAY + timedelta(seconds=50)
    assert fired == [("Every", start + timedelta(minutes=n)) for n in (1, 2, 3)]


def test_concurrent_invocations_scale_out_and_idle_environments_are_reused(tmp_path: Path) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    from localcloud.runtime.model import FunctionSpec
    from localcloud.runtime.workers import FunctionPool

    code = tmp_path / "fn"
    code.mkdir()
    (code / "h.py").write_text("import os, time\ndef h(e, c):\n    time.sleep(e['sleep'])\n    return os.getpid()\n")
    spec = FunctionSpec(
        logical_id="Fn",
        function_name="fn",
        handler="h.h",
        code_dir=code,
        layer_dirs=(),
        environment={},
        timeout=10,
        memory=128,
        architecture=host_architecture(),
        runtime="python3.13",
    )
    site = build_runtime_site(tmp_path / "site")

    def make(index: int) -> FunctionWorker:
        return FunctionWorker(
            spec,
            endpoint_url="http://localhost:1",
            region="ap-northeast-1",
            runtime_site=site,
            workers_dir=tmp_path / "workers",
            index=index,
        )

    pool = FunctionPool(spec, make, max_size=2)
    pool.start()
    try:
        assert pool.invoke(b'{"sleep": 0}').function_error is None  # warm the first environment
        started = time.monotonic()
        with ThreadPoolExecutor(3) as executor:
            results = list(executor.map(lambda _i: pool.invoke(b'{"sleep": 1.5}'), range(3)))
        elapsed = time.monotonic() - started
        assert all(r.function_error is None for r in results)
        assert len({r.payload for r in results}) == 2  # two environments served three calls
        assert len(pool.pids) == 2
        assert elapsed >= 3.0  # the 3rd call waited for a free environment: there is never a 3rd one
        first = pool.invoke(b'{"sleep": 0}').payload
        assert pool.invoke(b'{"sleep": 0}').payload == first  # sequential calls reuse one warm environment
    finally:
        pool.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pool.pids)
