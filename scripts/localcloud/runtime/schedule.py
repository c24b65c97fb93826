"""EventBridge schedules: `rate(...)` and `cron(...)` expressions -> next fire time, and the event Lambda gets.

Cron fields are EventBridge's (minute hour day-of-month month day-of-week year, `?` for "any", day-of-week
1-7 = SUN-SAT); they are translated to croniter's five fields (day-of-week 0-6) and croniter computes the times.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _dow(field: str) -> str:
    """EventBridge day-of-week numbers (1=SUN) -> croniter's (0=SUN); names and `#n` suffixes kept."""
    if field in {"?", "*"}:
        return "*"
    if re.search(r"\d+L|^L$", field):
        raise ValueError(f"day-of-week '{field}' (L) is not supported by the local scheduler")

    def shift(match: re.Match[str]) -> str:
        return str(int(match.group(0)) - 1)

    head, sep, tail = field.partition("#")
    return re.sub(r"\d+", shift, head) + sep + tail


def _years(field: str) -> set[int] | None:
    """The years a cron's year field allows; None for any year."""
    if field in {"*", "?"}:
        return None
    allowed: set[int] = set()
    for part in field.split(","):
        lo, _, hi = part.partition("-")
        allowed.update(range(int(lo), int(hi or lo) + 1))
    return allowed


def next_fire(expression: str, after: datetime) -> datetime | None:
    """The first time strictly after `after` (UTC) at which the schedule fires; None if it never will."""
    expression = expression.strip()
    if rate := _RATE.match(expression):
        unit = rate.group(2).rstrip("s")
        return after + timedelta(seconds=int(rate.group(1)) * _UNITS[unit])
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(f"unsupported schedule expression: {expression}")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"EventBridge cron needs 6 fields: {expression}")
    minute, hour, dom, month, dow, year = fields
    dom = "*" if dom == "?" else dom
    if "W" in dom or dom == "L":
        raise ValueError(f"day-of-month '{dom}' is not supported by the local scheduler")
    years = _years(year)
    it = croniter(f"{minute} {hour} {dom} {month} {_dow(dow)}", after.astimezone(UTC))
    while True:
        candidate: datetime = it.get_next(datetime)
        if years is None or candidate.year in years:
            return candidate
        if candidate.year > max(years):
            return None


def scheduled_event(rule_arn: str, region: str, account: str, when: datetime) -> dict[str, Any]:
    """The event EventBridge sends for a schedule (detail-type "Scheduled Event")."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
