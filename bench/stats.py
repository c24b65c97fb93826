"""Statistics and the one results table: every row is a goal, a measurement, a ratio and a verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["max", "min", "report"]


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method); ``pct`` in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile out of range: {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def paired_ratio_interval(
    blocks: Sequence[tuple[Sequence[float], Sequence[float]]], *, rounds: int = 1000, seed: int = 7
) -> tuple[float, float]:
    """95% bootstrap interval of p50(measured) / p50(baseline), resampling whole (measured, baseline) block
    pairs timed side by side, so the interval reflects how much the machine moved between blocks."""
    import random

    if not blocks:
        raise ValueError("interval of no blocks")
    rng = random.Random(seed)
    ratios = []
    for _ in range(rounds):
        chosen = [blocks[rng.randrange(len(blocks))] for _ in blocks]
        measured = [t for pair in chosen for t in pair[0]]
        baseline = [t for pair in chosen for t in pair[1]]
        ratios.append(median(measured) / median(baseline))
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def ratio(measured: float, baseline: float) -> float:
    if baseline <= 0:
        raise ValueError(f"baseline must be positive, got {baseline}")
    return measured / baseline


def verdict(value: float, goal: float, direction: Direction) -> str:
    """PASS/FAIL against the goal: ``max`` means value <= goal, ``min`` means value >= goal."""
    if direction == "report":
        return "report"
    ok = value <= goal if direction == "max" else value >= goal
    return "PASS" if ok else "FAIL"


@dataclass(frozen=True)
class Row:
    """One line of the table. ``value`` is what is judged: the ratio when there is a baseline."""

    name: str
    goal: str
    measured: str
    ratio: str
    result: str
    command: str

    @classmethod
    def judged(
        cls,
        name: str,
        *,
        value: float,
        goal: float,
        direction: Direction,
        measured: str,
        command: str,
        baseline: float | None = None,
        unit: str = "x",
    ) -> Row:
        sign = {"max": "<= ", "min": ">= ", "report": ""}[direction]
        goal_text = "report" if direction == "report" else f"{sign}{goal:g}{unit}"
        # Two decimals, or three when two would print the goal itself (1.151x reads as a FAIL, 1.15x would not).
        digits = 3 if direction != "report" and round(value, 2) == goal else 2
        ratio_text = f"{value:.{digits}f}x" if baseline is not None else "-"
        return cls(name, goal_text, measured, ratio_text, verdict(value, goal, direction), command)

    @classmethod
    def not_available(cls, name: str, goal: str, reason: str, command: str) -> Row:
        return cls(name, goal, f"n/a ({reason})", "-", "n/a", command)


HEADERS = ("Metric", "Goal", "Measured", "Ratio", "Result", "Reproduce")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.name, row.goal, row.measured, row.ratio, row.result, f"`{row.command}`")


def render_markdown(rows: Sequence[Row]) -> str:
    """A GitHub-flavoured Markdown table (pipes inside cells escaped)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(row)) + " |")
    return "\n".join(lines) + "\n"


def render_text(rows: Sequence[Row]) -> str:
    """The same table aligned for a terminal."""
    table = [HEADERS, *(tuple(c.strip("`") for c in _cells(row)) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    out = []
    for index, line in enumerate(table):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"
