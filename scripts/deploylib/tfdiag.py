"""Terraform's error diagnostics, whole, as one line for deploy.sh's error.

`terraform plan|apply -json` streams its UI as JSON lines; an error is a `diagnostic` message whose summary is the
provider's headline ("creating VPC Security Group Rule") and whose detail carries the AWS call (service, operation,
status code, request id, error code and message). The first line of the human output holds only the headline, so
that is what a user saw before; this reads Terraform's machine-readable form instead of parsing its boxes.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Long enough for the provider's whole `operation error ...: api error Code: message`; bounded so a
# pathological detail (a full policy document) cannot flood the terminal.
MAX_DETAIL = 2000
# The source excerpt under a headline ("with x,", "on f.tf line 3, in ...:", "  3: resource ...") says where, not why.
_EXCERPT = re.compile(r"^(with |on \S+ line \d+|\d+: )")


def json_diagnostics(stdout: str) -> list[dict[str, Any]]:
    """The error diagnostics in `terraform ... -json` output (non-JSON lines are ignored)."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        diagnostic = message.get("diagnostic") if isinstance(message, dict) else None
        if (
            message.get("type") == "diagnostic"
            and isinstance(diagnostic, dict)
            and diagnostic.get("severity") == "error"
        ):
            found.append(diagnostic)
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(diagnostic: dict[str, Any]) -> str:
    """`summary: detail (at address)`, whitespace collapsed."""
    summary = _one_line(str(diagnostic.get("summary") or "error"))
    detail = _one_line(str(diagnostic.get("detail") or ""))
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + " ..."
    address = diagnostic.get("address")
    text = f"{summary}: {detail}" if detail else summary
    return f"{text} (at {address})" if address else text


def error_text(stdout: str, stderr: str) -> str:
    """Every error of a failed Terraform run, from its JSON diagnostics when it ran with -json; otherwise the
    human-readable `Error:` blocks (init has no -json form) with the lines that follow each headline."""
    diagnostics = json_diagnostics(stdout)
    if diagnostics:
        return "; ".join(describe(d) for d in diagnostics)
    lines = [line.strip().lstrip("│╷╵").strip() for line in (stderr or stdout).splitlines()]
    blocks: list[str] = []
    for index, line in enumerate(lines):
        if not line.startswith("Error:"):
            continue
        block = [line.removeprefix("Error:").strip()]
        for following in lines[index + 1 :]:
            if following.startswith("Error:"):
                break
            if following and not _EXCERPT.match(following):
                block.append(following)
        blocks.append(_one_line(" ".join(block)))
    if blocks:
        return "; ".join(blocks)
    rest = [line for line in lines if line]
    return rest[-1] if rest else ""
