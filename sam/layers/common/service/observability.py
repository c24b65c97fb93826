"""One Logger, Tracer and Metrics per process, configured from POWERTOOLS_* environment variables.

Every module logs through the same instances so a request's correlation id and keys appear on all lines.

Tracing stays on (``Tracing: Active`` in the template); what changes is *when* the AWS SDK gets patched.
``Tracer()`` would patch at import, and patching botocore imports ``botocore.client`` (~100 ms, most of a
cold start). The SDK is only needed once a handler talks to DynamoDB, so ``service.dal.client`` calls
``trace_aws_sdk()`` right before it creates the client: every AWS call is still traced, including the first
request's, and an init that never reaches the SDK does not pay for it. Only botocore is patched: it is the one
library here that makes remote calls (``patch_all`` would also import and patch sqlite3, requests...).
"""

from __future__ import annotations

import functools

from aws_lambda_powertools import Logger, Metrics, Tracer

TRACED_MODULES = ("botocore",)

logger = Logger()
tracer = Tracer(auto_patch=False)
metrics = Metrics()


@functools.cache
def trace_aws_sdk() -> None:
    """Patch the AWS SDK for X-Ray once per process (a no-op when tracing is disabled)."""
    tracer.patch(modules=TRACED_MODULES)
