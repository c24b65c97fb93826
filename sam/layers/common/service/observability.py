"""One Logger, Tracer and Metrics per process, configured from POWERTOOLS_* environment variables.

Every module logs through the same instances so a request's correlation id and keys appear on all lines.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
