"""Stored rows → response models.

Rows are written by this API, so they fit their models; one that does not (written around the API: a hand
edit, a bad migration) is a server-side fault. A single GET of it is a 500 ``internal_error`` like any other
(logged with its traceback). A listing skips it instead, logs its key and counts it in the ``UnreadableRows``
metric: one bad row must not take down every page that contains it. Such a page may hold fewer than
``limit`` entries; its ``next_token`` is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ValidationError

from service.dal.interface import Row


def readable[M: BaseModel](model: type[M], rows: Iterable[Row]) -> list[M]:
    """``model`` for every row it can read; the others skipped, logged and counted."""
    out: list[M] = []
    unreadable = 0
    for row in rows:
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            # Imported on this rare path only: the domain layer stays importable before Powertools is
            # configured (its Logger/Metrics read their environment when service.observability is imported).
            from service.observability import logger

            unreadable += 1
            # The key and what failed, never the row's values (they may be anything).
            problems = [{"loc": list(error["loc"]), "type": error["type"]} for error in exc.errors()]
            logger.warning(
                "skipped an unreadable row",
                extra={"pk": row.get("PK"), "sk": row.get("SK"), "model": model.__name__, "problems": problems},
            )
    if unreadable:
        from aws_lambda_powertools.metrics import MetricUnit

        from service.observability import metrics

        metrics.add_metric(name="UnreadableRows", unit=MetricUnit.Count, value=unreadable)
    return out
