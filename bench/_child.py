"""Runs inside a fresh ``python -I -S`` interpreter: one cold init, then optionally requests.

Argument: JSON {"paths": [...], "target": "floor" | "<handler module>", "event": {...} | null,
"warmup": int, "repeat": int, "client_config": {...} | null, "trace": "all" | "lambda-default" | null,
"serve": bool}. For
"floor" the event holds GetItem keyword arguments and ``client_config`` optional botocore Config arguments
(default: a plain ``boto3.client``). ``trace`` gives every request its own ``_X_AMZN_TRACE_ID``, as Lambda does
per invocation: "all" samples each one, "lambda-default" follows X-Ray's default rule (the first request in
each second, then 5% of the others); null keeps the environment's header.
Prints one JSON line: init_s / init_cpu_s (import + module setup; for the floor ``import boto3`` + client),
first_s (first request), samples_s (``repeat`` further requests after ``warmup``), result and the modules
the X-Ray SDK patched. Kept free of project imports: everything it loads is what is being measured.

With ``serve`` the process stays up like a warm Lambda environment: after the warm-up it prints ``@@ready``,
then times ``n`` requests for every line ``n`` on stdin and answers with one ``@@``-prefixed JSON list of
seconds; at end of input it prints the summary above. The prefix keeps the handler's own stdout (logs, EMF)
apart from the answers.
"""

import json
import os
import random
import sys
import time

MARK = "@@"  # starts every line the serving process answers with


class _Context:
    """The attributes Powertools reads from the Lambda context object."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _summary(result):
    if isinstance(result, dict) and "statusCode" in result:
        return result["statusCode"]
    if isinstance(result, dict) and "batchItemFailures" in result:
        return f"failures={len(result['batchItemFailures'])}"
    return "ok"


class _TraceHeaders:
    """A fresh trace header per invocation, sampled per ``mode``; counts the sampled ones."""

    def __init__(self, mode):
        self.mode = mode
        self.rng = random.Random(7)  # the 5% draw is reproducible
        self.second = None
        self.sampled = 0

    def next(self):
        second = int(time.monotonic())
        first_in_second = second != self.second
        self.second = second
        sampled = self.mode == "all" or first_in_second or self.rng.random() < 0.05
        self.sampled += sampled
        root = f"1-{int(time.time()):08x}-{self.rng.getrandbits(96):024x}"
        os.environ["_X_AMZN_TRACE_ID"] = f"Root={root};Parent={self.rng.getrandbits(64):016x};Sampled={int(sampled)}"


def main() -> None:
    spec = json.loads(sys.argv[1])
    started, started_cpu = time.perf_counter(), time.process_time()
    sys.path[:0] = spec["paths"]
    if spec["target"] == "floor":
        import boto3

        if spec.get("client_config"):
            from botocore.config import Config

            client = boto3.client("dynamodb", config=Config(**spec["client_config"]))
        else:
            client = boto3.client("dynamodb")

        def call(event):
            return client.get_item(**event)["ResponseMetadata"]["HTTPStatusCode"]
    else:
        import importlib

        module = importlib.import_module(spec["target"])

        def call(event):
            return _summary(module.lambda_handler(event, _Context()))

    init, init_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    out = {"init_s": init, "init_cpu_s": init_cpu, "first_s": None, "samples_s": [], "result": None}
    event = spec.get("event")
    traces = _TraceHeaders(spec["trace"]) if spec.get("trace") else None
    if event is not None:
        t = time.perf_counter()
        out["result"] = call(event)
        out["first_s"] = time.perf_counter() - t
        for _ in range(spec.get("warmup", 0)):
            call(event)

        def timed():
            if traces is not None:
                traces.next()  # Lambda's work between invocations, outside the clock
            t = time.perf_counter()
            call(event)
            return time.perf_counter() - t

        for _ in range(spec.get("repeat", 0)):
            out["samples_s"].append(timed())
        if spec.get("serve"):
            print(MARK + "ready", flush=True)
            for line in sys.stdin:
                print(MARK + json.dumps([timed() for _ in range(int(line))]), flush=True)
    out["sampled"] = traces.sampled if traces is not None else None
    patcher = sys.modules.get("aws_xray_sdk.core.patcher")
    out["patched"] = sorted(getattr(patcher, "_PATCHED_MODULES", ()))
    print((MARK if spec.get("serve") else "") + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
