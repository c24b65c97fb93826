"""Scheduled function (daily): repair STATS#* drift and purge expired rows; idempotent per schedule time.

Powertools idempotency keys the run on the EventBridge event's ``time``: a redelivered event returns the
first run's report without touching the table again. Its records live in the same table under
``IDEMPOTENCY#scheduled`` and expire through ``ExpiresAt``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from service import keys
from service.dal.client import dynamodb_client
from service.dal.dynamodb import DynamoEntityStore, DynamoStatsStore
from service.env import get_settings
from service.logic.maintenance import run_maintenance
from service.observability import logger, metrics, tracer


def _run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    entities = DynamoEntityStore(settings.table_name, settings.entity_type_index, settings.gsi1_index)
    report = run_maintenance(
        entities,
        DynamoStatsStore(settings.table_name),
        int(time.time()),
        settle=lambda: time.sleep(settings.stats_settle_seconds),
    )
    report["schedule_time"] = event.get("time")
    repaired = sum(1 for change in report["stats_repaired"] if "after" in change)
    metrics.add_metric(name="StatsRepaired", unit=MetricUnit.Count, value=repaired)
    metrics.add_metric(name="ExpiredPurged", unit=MetricUnit.Count, value=sum(report["purged"].values()))
    logger.info("maintenance report", extra={"report": report})
    return report


@functools.cache
def _idempotent_run() -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    # Built on first use: the persistence layer needs settings and a client, which import time should not pay.
    # Its module imports boto3 at the top (~130 ms), so it is imported here too, next to the client it wraps.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent

    settings = get_settings()
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name,
        key_attr=keys.PK,
        sort_key_attr=keys.SK,
        static_pk_value=keys.IDEMPOTENCY_PK,
        expiry_attr=keys.EXPIRES_AT,
        boto3_client=dynamodb_client(),
    )
    config = IdempotencyConfig(
        event_key_jmespath="time",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )
    return idempotent(persistence_store=persistence, config=config)(_run)


@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _idempotent_run()(event, context)
