"""The local runtime process: workers for every built function, the API on 127.0.0.1:<api port>, a Lambda
Invoke endpoint on 127.0.0.1:<lambda port> (boto3/aws cli `--endpoint-url` and `local.sh invoke` use it),
the stream pollers and the scheduler. Started in the background by `deploy.sh local`, stopped by SIGTERM.

The HTTP layers are SAM CLI's own: `LocalApigwService` (what `sam local start-api` serves: REST proxy events
built from the template's routes) and `LocalLambdaHttpService` (what `sam local start-lambda` serves), each
given a runner that invokes our workers instead of Docker containers.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.runtime.esm import InvokeOutcome, to_json
from localcloud.runtime.model import FunctionSpec, RuntimeModel, ScheduleSource, load_model
from localcloud.runtime.schedule import next_fire, scheduled_event
from localcloud.runtime.streams import CheckpointStore, StreamPoller
from localcloud.runtime.workers import FunctionPool, FunctionWorker, build_runtime_site
from localcloud.state import DUMMY_CREDENTIALS, HOST

LOG = logging.getLogger("localcloud.runtime")


class WorkerRunner:
    """Duck-types SAM CLI's LocalLambdaRunner (`is_debugging`, `get_function`, `invoke`) over our workers."""

    def __init__(self, model: RuntimeModel, workers: dict[str, FunctionPool]):
        self.model = model
        self.workers = workers

    def is_debugging(self) -> bool:
        return False

    def get_function(self, function_identifier: str, tenant_id: str | None = None) -> Any:
        from samcli.local.lambdafn.exceptions import FunctionNotFound

        del tenant_id  # no multi-tenant functions here
        spec = self.model.resolve(function_identifier)
        if spec is None:
            raise FunctionNotFound(f"Unable to find a function with name '{function_identifier}'")
        return self.model.function_provider.get(spec.logical_id)

    def invoke_spec(self, spec: FunctionSpec, event: bytes) -> InvokeOutcome:
        started = time.monotonic()
        outcome = self.workers[spec.logical_id].invoke(event)
        LOG.info(
            "invoke %s %s in %.0f ms",
            spec.logical_id,
            outcome.function_error or "ok",
            (time.monotonic() - started) * 1000,
        )
        return outcome

    def invoke(self, function_identifier: str, event: str, *args: Any, stdout: Any = None, **kwargs: Any) -> None:
        from samcli.local.lambdafn.exceptions import FunctionNotFound

        del args, kwargs
        spec = self.model.resolve(function_identifier)
        if spec is None:
            raise FunctionNotFound(f"Unable to find a function with name '{function_identifier}'")
        outcome = self.invoke_spec(spec, event.encode())
        if stdout is not None:
            payload = outcome.payload
            if outcome.function_error and isinstance(payload, dict):
                # SAM's parser recognises an error only by errorMessage/errorType/stackTrace (no requestId).
                payload = {k: v for k, v in payload.items() if k != "requestId"}
            stdout.write_str(json.dumps(payload))


class Scheduler(threading.Thread):
    """Fires each enabled schedule at its times (EventBridge's `time` is the scheduled time, not the delay)."""

    def __init__(
        self,
        schedules: list[ScheduleSource],
        fire: Callable[[str, datetime], Any],
        stop: threading.Event,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick: float = 1.0,
    ):
        super().__init__(name="scheduler", daemon=True)
        self.schedules = [s for s in schedules if s.enabled]
        self.fire = fire
        self.stop_event = stop
        self.now = now
        self.tick = tick

    def run(self) -> None:
        upcoming = {s.name: next_fire(s.expression, self.now()) for s in self.schedules}
        for s in self.schedules:
            LOG.info("schedule %s (%s) -> %s next at %s", s.name, s.expression, s.function, upcoming[s.name])
        while not self.stop_event.is_set():
            now = self.now()
            for s in self.schedules:
                when = upcoming[s.name]
                if when is not None and when <= now:
                    self.fire(s.function, when)
                    upcoming[s.name] = next_fire(s.expression, when)
            self.stop_event.wait(self.tick)


class LocalRuntime:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.state_dir = Path(config["state_dir"])
        self.region = str(config["region"])
        self.account = str(config["account"])
        self.endpoint_url = str(config["endpoint_url"])
        self.stop_event = threading.Event()
        self.model = load_model(Path(config["template"]), dict(config["parameters"]), self.region, self.account)
        site = build_runtime_site(self.state_dir / "runtime-python")
        concurrency = int(config.get("function_concurrency", 2))
        self.workers = {
            logical_id: FunctionPool(spec, self._worker_factory(spec, site), concurrency)
            for logical_id, spec in self.model.functions.items()
        }
        self.runner = WorkerRunner(self.model, self.workers)
        self.pollers: list[StreamPoller] = []
        self._servers: list[Any] = []

    def _worker_factory(self, spec: FunctionSpec, site: Path) -> Callable[[int], FunctionWorker]:
        def make(index: int) -> FunctionWorker:
            return FunctionWorker(
                spec,
                endpoint_url=self.endpoint_url,
                region=self.region,
                runtime_site=site,
                workers_dir=self.state_dir / "workers",
                index=index,
            )

        return make

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    # --- event sources ---------------------------------------------------------------------------------
    def send_on_failure(self, destination: str | None, record: dict[str, Any]) -> None:
        LOG.warning("on-failure record (%s) -> %s", record["requestContext"]["condition"], destination)
        if not destination:
            return
        parts = destination.split(":")  # arn:aws:<service>:<region>:<account>:<name>
        service = parts[2]
        if service == "sqs":
            queue_url = self.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
            self.client("sqs").send_message(QueueUrl=queue_url["QueueUrl"], MessageBody=json.dumps(record))
        elif service == "sns":
            self.client("sns").publish(TopicArn=destination, Message=json.dumps(record))
        else:
            LOG.error("unsupported on-failure destination %s", destination)

    def fire_schedule(self, function: str, when: datetime) -> InvokeOutcome:
        spec = self.model.functions[function]
        source = next(s for s in self.model.schedules if s.function == function)
        rule_arn = f"arn:aws:events:{self.region}:{self.account}:rule/{source.name}"
        event = json.loads(source.input) if source.input else scheduled_event(rule_arn, self.region, self.account, when)
        outcome = self.runner.invoke_spec(spec, json.dumps(event).encode())
        LOG.info("schedule %s fired at %s: %s", source.name, event.get("time"), outcome.function_error or "ok")
        return outcome

    def start_sources(self) -> None:
        checkpoints = CheckpointStore(self.state_dir / "stream-checkpoints.json")
        streams = self.client("dynamodbstreams")
        for source in self.model.streams:
            if not source.config.enabled:
                continue
            spec = self.model.functions[source.function]
            cfg = source.config
            if cfg.not_emulated:
                LOG.warning(
                    "stream -> %s: not emulated locally, AWS behaves differently: %s",
                    source.function,
                    ", ".join(cfg.not_emulated),
                )

            def invoke(event: dict[str, Any], spec: FunctionSpec = spec) -> InvokeOutcome:
                return self.runner.invoke_spec(spec, to_json(event).encode())

            def on_failure(record: dict[str, Any], destination: str | None = cfg.on_failure_arn) -> None:
                self.send_on_failure(destination, record)

            poller = StreamPoller(
                cfg,
                streams_client=streams,
                invoke=invoke,
                on_failure=on_failure,
                checkpoints=checkpoints,
                stop=self.stop_event,
                region=self.region,
            )
            poller.start()
            self.pollers.append(poller)
        if any(s.enabled for s in self.model.schedules):
            Scheduler(self.model.schedules, self.fire_schedule, self.stop_event).start()

    # --- HTTP ------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "functions": {
                lid: {"name": w.spec.function_name, "pids": w.pids, "handler": w.spec.handler}
                for lid, w in self.workers.items()
            },
            "routes": [
                {"path": r.path, "methods": r.methods, "function": r.function_name} for r in self.model.api.routes
            ],
            "streams": [
                {
                    "function": s.function,
                    "stream": s.config.stream_arn,
                    "batchSize": s.config.batch_size,
                    "notEmulated": list(s.config.not_emulated),
                }
                for s in self.model.streams
            ],
            "schedules": [
                {"function": s.function, "name": s.name, "expression": s.expression} for s in self.model.schedules
            ],
            "build": self.config.get("build_hash"),
        }

    def _serve(self, app: Any, port: int) -> None:
        from werkzeug.serving import make_server

        server = make_server(HOST, port, app, threaded=True)
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, name=f"http:{port}", daemon=True).start()

    def start_workers(self) -> None:
        """Every execution environment up front: their PIDs are known from the start and stop together."""
        for worker in self.workers.values():
            worker.start()

    def start_http(self) -> None:
        from flask import Response
        from samcli.local.apigw.local_apigw_service import LocalApigwService
        from samcli.local.lambda_service.local_lambda_http_service import LocalLambdaHttpService

        lambda_service = LocalLambdaHttpService(self.runner, port=self.config["lambda_port"], host=HOST)
        lambda_service.create()
        app = lambda_service._app  # SAM's service only exposes a blocking run(); we serve its Flask app

        def status() -> Response:
            return Response(json.dumps(self.status()), mimetype="application/json")

        def fire(function: str) -> Response:
            spec = self.model.resolve(function)
            if spec is None or not any(s.function == spec.logical_id for s in self.model.schedules):
                return Response(json.dumps({"error": f"{function} has no schedule"}), 404)
            outcome = self.fire_schedule(spec.logical_id, datetime.now(UTC))
            headers = {"x-amz-function-error": outcome.function_error} if outcome.function_error else {}
            return Response(json.dumps(outcome.payload), 200, headers, mimetype="application/json")

        app.add_url_rule("/_local/status", "local_status", status, methods=["GET"])
        app.add_url_rule("/_local/schedules/<function>", "local_fire", fire, methods=["POST"])
        self._serve(app, int(self.config["lambda_port"]))
        if self.model.api.routes:
            api_service = LocalApigwService(self.model.api, self.runner, port=self.config["api_port"], host=HOST)
            api_service.create()
            self._serve(api_service._app, int(self.config["api_port"]))

    def shutdown(self) -> None:
        self.stop_event.set()
        for server in self._servers:
            server.shutdown()
        for worker in self.workers.values():
            worker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tfsam local runtime")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "samcli"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = json.loads(args.config.read_text())
    runtime = LocalRuntime(config)
    done = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        LOG.info("signal %s: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runtime.start_workers()
        runtime.start_http()
        runtime.start_sources()
        LOG.info("ready: api http://%s:%s lambda http://%s:%s", HOST, config["api_port"], HOST, config["lambda_port"])
        done.wait()
    finally:
        # Also when starting failed half-way (e.g. a port taken): no execution environment outlives the runtime.
        runtime.shutdown()
    return 0
