"""A small reading of IAM policy documents for tests: which statements could allow an action on a resource.

Conditions are treated as satisfiable (so "may allow" is conservative for deny-style assertions), and the
statements they carry are returned so tests can assert them. Wildcards follow IAM: ``*`` and ``?``, actions
case-insensitive, resources case-sensitive.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _matches(pattern: str, value: str, *, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return re.fullmatch(fnmatch.translate(pattern), value) is not None


@dataclass
class Policy:
    statements: list[Statement]

    @classmethod
    def parse(cls, document: str | dict[str, Any]) -> Policy:
        doc = json.loads(document) if isinstance(document, str) else document
        statements = []
        raw_statements = doc["Statement"]
        for raw in [raw_statements] if isinstance(raw_statements, dict) else raw_statements:
            statements.append(
                Statement(
                    sid=raw.get("Sid", ""),
                    effect=raw["Effect"],
                    actions=tuple(_as_list(raw.get("Action"))),
                    resources=tuple(_as_list(raw.get("Resource"))),
                    condition=raw.get("Condition", {}),
                    raw=raw,
                )
            )
        return cls(statements)

    def allowing(self, action: str, resource: str) -> list[Statement]:
        """Allow statements whose Action and Resource patterns cover ``action`` on ``resource``."""
        return [
            s
            for s in self.statements
            if s.effect == "Allow"
            and any(_matches(p, action, ignore_case=True) for p in s.actions)
            and any(_matches(p, resource, ignore_case=False) for p in s.resources)
        ]

    def may_allow(self, action: str, resource: str) -> bool:
        return bool(self.allowing(action, resource))

    def actions(self) -> set[str]:
        return {a for s in self.statements if s.effect == "Allow" for a in s.actions}


def merge(*policies: Policy) -> Policy:
    return Policy([s for p in policies for s in p.statements])
