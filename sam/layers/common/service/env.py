"""Settings parsed once from environment variables.

A missing or malformed variable fails the first invocation with a readable validation error instead of a
KeyError in the middle of a request.
"""

from __future__ import annotations

import functools
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    environment: Literal["local", "dev", "staging", "prod"]
    entity_type_index: str = "EntityTypeIndex"
    gsi1_index: str = "GSI1"
    # The ledger must outlive every possible redelivery of a stream record (24 h stream retention,
    # MaximumRecordAgeInSeconds 3600), so two days is a comfortable margin.
    ledger_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=3600)
    # One scheduled run per day: keeping the idempotency record two days covers EventBridge retries.
    idempotency_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=60)
    # How long the daily job waits before confirming stats drift: the stream mapping's batching window (5 s) plus
    # the processor's run, with margin. Well inside the job's 300 s timeout.
    stats_settle_seconds: int = Field(default=20, ge=0, le=120)


@functools.cache
def get_settings() -> Settings:
    """Parse the settings on first use and reuse them for the life of the execution environment."""
    raw = {
        "table_name": os.environ.get("TABLE_NAME"),
        "environment": os.environ.get("ENVIRONMENT"),
        "entity_type_index": os.environ.get("ENTITY_TYPE_INDEX_NAME", "EntityTypeIndex"),
        "gsi1_index": os.environ.get("GSI1_INDEX_NAME", "GSI1"),
    }
    if "LEDGER_TTL_SECONDS" in os.environ:
        raw["ledger_ttl_seconds"] = os.environ["LEDGER_TTL_SECONDS"]
    if "IDEMPOTENCY_TTL_SECONDS" in os.environ:
        raw["idempotency_ttl_seconds"] = os.environ["IDEMPOTENCY_TTL_SECONDS"]
    if "STATS_SETTLE_SECONDS" in os.environ:
        raw["stats_settle_seconds"] = os.environ["STATS_SETTLE_SECONDS"]
    return Settings.model_validate(raw)
