"""A small, strict evaluator of IAM policy semantics (identity and trust policies of one account).

Why it exists: the emulator cannot enforce resource-level policies (moto only evaluates ``Resource: "*"``
statements), and no maintained offline IAM simulator was found, so least privilege is proven here instead.

What it implements (AWS "policy evaluation logic" for a single account, no SCPs/boundaries/sessions):

- A request is allowed iff some statement allows it and no statement explicitly denies it (explicit deny wins;
  no match is an implicit deny).
- ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource`` case-sensitively, both with
  the ``*`` (any run of characters) and ``?`` (exactly one character) wildcards over the whole string.
- ``Principal``/``NotPrincipal`` (trust policies): ``{"Service"|"AWS"|"Federated": [...]}`` or ``"*"``.
- ``Condition``: operators are ANDed, keys within an operator are ANDed, values of one key are ORed (negated
  operators: the request value must match none of them). Condition keys are case-insensitive. Supported
  operators: String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike},
  Arn{Equals,Like,NotEquals,NotLike}, Numeric*, Bool, Null, each with ``IfExists`` and the
  ``ForAllValues:``/``ForAnyValue:`` set qualifiers.
- A missing key makes a positive operator false and a negated one true; ``...IfExists`` makes it true;
  ``ForAllValues`` over an absent or empty key is true and ``ForAnyValue`` false (AWS's documented, and
  dangerous, semantics: this is why ``dynamodb:LeadingKeys`` conditions only bind calls that carry keys).

Anything outside that (an unknown operator, a policy variable such as ``${aws:username}``, a malformed
statement) raises :class:`UnsupportedPolicyError`: a checker that silently allowed what it does not understand
would prove nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

ContextValue = str | bool | int | Sequence[str]


class UnsupportedPolicyError(ValueError):
    """The policy uses something this evaluator does not implement (never guessed)."""


class Decision(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class Request:
    """One authorisation question: may ``action`` be done on ``resource`` with this request context?

    ``context`` keys are condition keys (case-insensitive); multi-valued keys (``dynamodb:LeadingKeys``) are
    lists. ``principal`` is only needed for trust policies: ``{"Service": "lambda.amazonaws.com"}``.
    """

    action: str
    resource: str = "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    allowed_by: tuple[str, ...] = ()  # Sids (or statement indexes) that allowed
    denied_by: tuple[str, ...] = ()  # Sids that explicitly denied

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


# ------------------------------------------------------------------------------------------------- matching
@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match over the whole value: ``*`` any run (also across ``:`` and ``/``), ``?`` one char."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike: the six ``:``-separated ARN parts compared part by part (wildcards stay inside one)."""
    # AWS documents the same semantics for ArnEquals and ArnLike: each part may hold wildcards.
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


_VARIABLE = re.compile(r"\$\{[^}]*\}")


def _reject_variables(values: Iterable[Any], where: str) -> None:
    for value in values:
        if isinstance(value, str) and _VARIABLE.search(value):
            raise UnsupportedPolicyError(f"policy variable in {where}: {value!r}")


# ----------------------------------------------------------------------------------------------- conditions
def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _to_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _string_ops() -> dict[str, tuple[bool, Any]]:
    """Base operator -> (negated, single-value comparison(policy value, request value) -> bool)."""

    def eq(p: Any, v: Any) -> bool:
        return isinstance(v, str) and str(p) == v

    def eq_ic(p: Any, v: Any) -> bool:
        return isinstance(v, str) and str(p).lower() == v.lower()

    def like(p: Any, v: Any) -> bool:
        return isinstance(v, str) and wildcard_match(str(p), v)

    def arn(p: Any, v: Any) -> bool:
        return isinstance(v, str) and arn_match(str(p), v)

    def boolean(p: Any, v: Any) -> bool:
        expected, actual = _to_bool(p), _to_bool(v)
        if expected is None:
            raise UnsupportedPolicyError(f"Bool condition with a non-boolean value {p!r}")
        return actual is not None and expected == actual

    def numeric(compare: Any) -> Any:
        def check(p: Any, v: Any) -> bool:
            expected, actual = _to_number(p), _to_number(v)
            if expected is None:
                raise UnsupportedPolicyError(f"numeric condition with a non-number value {p!r}")
            return actual is not None and bool(compare(actual, expected))

        return check

    return {
        "StringEquals": (False, eq),
        "StringNotEquals": (True, eq),
        "StringEqualsIgnoreCase": (False, eq_ic),
        "StringNotEqualsIgnoreCase": (True, eq_ic),
        "StringLike": (False, like),
        "StringNotLike": (True, like),
        "ArnEquals": (False, arn),
        "ArnLike": (False, arn),
        "ArnNotEquals": (True, arn),
        "ArnNotLike": (True, arn),
        "Bool": (False, boolean),
        "NumericEquals": (False, numeric(lambda a, b: a == b)),
        "NumericNotEquals": (True, numeric(lambda a, b: a == b)),
        "NumericLessThan": (False, numeric(lambda a, b: a < b)),
        "NumericLessThanEquals": (False, numeric(lambda a, b: a <= b)),
        "NumericGreaterThan": (False, numeric(lambda a, b: a > b)),
        "NumericGreaterThanEquals": (False, numeric(lambda a, b: a >= b)),
    }


OPERATORS = _string_ops()
SET_QUALIFIERS = ("ForAllValues:", "ForAnyValue:")


def _lookup(context: Mapping[str, ContextValue], key: str) -> tuple[bool, list[Any]]:
    """(present, values) of a condition key; keys are case-insensitive."""
    wanted = key.lower()
    for name, value in context.items():
        if name.lower() == wanted:
            return True, _as_list(value)
    return False, []


def condition_holds(operator: str, key: str, policy_values: Any, context: Mapping[str, ContextValue]) -> bool:
    """One ``operator: {key: values}`` entry against the request context."""
    values = _as_list(policy_values)
    _reject_variables(values, f"{operator}/{key}")
    present, request_values = _lookup(context, key)

    if operator == "Null":
        if len(values) != 1 or _to_bool(values[0]) is None:
            raise UnsupportedPolicyError(f"Null condition needs one boolean value, got {policy_values!r}")
        # Null true: the key must be absent; Null false: it must be present (with a value).
        absent = not present or not request_values
        return absent == _to_bool(values[0])

    qualifier = next((q for q in SET_QUALIFIERS if operator.startswith(q)), "")
    base = operator[len(qualifier) :]
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in OPERATORS:
        raise UnsupportedPolicyError(f"unsupported condition operator {operator!r}")
    negated, compare = OPERATORS[base]

    def value_matches(request_value: Any) -> bool:
        hit = any(compare(p, request_value) for p in values)
        return not hit if negated else hit

    if qualifier == "ForAllValues:":
        # True for an absent or empty key (vacuous truth): every request value must match.
        return all(value_matches(v) for v in request_values)
    if qualifier == "ForAnyValue:":
        return any(value_matches(v) for v in request_values)
    if not present:
        return if_exists or negated
    if len(request_values) != 1:
        raise UnsupportedPolicyError(f"{operator} on the multi-valued key {key!r} needs ForAllValues/ForAnyValue")
    return value_matches(request_values[0])


def conditions_hold(condition: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    if not isinstance(condition, Mapping):
        raise UnsupportedPolicyError(f"Condition must be an object, got {condition!r}")
    results = []
    for operator, entries in condition.items():
        if not isinstance(entries, Mapping):
            raise UnsupportedPolicyError(f"Condition {operator} must map keys to values")
        # Evaluate every entry (no short-circuit) so an unsupported operator anywhere always raises.
        results += [condition_holds(operator, key, values, context) for key, values in entries.items()]
    return all(results)


# ----------------------------------------------------------------------------------------------- statements
KNOWN_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
TRUST_ELEMENTS = KNOWN_ELEMENTS | {"Principal", "NotPrincipal"}


def _principal_matches(principal: Any, request: Mapping[str, str] | None) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicyError(f"Principal must be '*' or an object, got {principal!r}")
    if request is None:
        raise UnsupportedPolicyError("a statement with a Principal needs a request principal")
    for kind, patterns in principal.items():
        if kind not in {"AWS", "Service", "Federated", "CanonicalUser"}:
            raise UnsupportedPolicyError(f"unknown principal type {kind!r}")
        actual = request.get(kind)
        if actual is not None and any(p in ("*", actual) for p in _as_list(patterns)):
            return True
    return False


@dataclass(frozen=True)
class Statement:
    raw: Mapping[str, Any]
    label: str

    @classmethod
    def parse(cls, raw: Mapping[str, Any], label: str) -> Statement:
        unknown = set(raw) - TRUST_ELEMENTS
        if unknown:
            raise UnsupportedPolicyError(f"statement {label}: unknown elements {sorted(unknown)}")
        if raw.get("Effect") not in {"Allow", "Deny"}:
            raise UnsupportedPolicyError(f"statement {label}: Effect must be Allow or Deny")
        if ("Action" in raw) == ("NotAction" in raw):
            raise UnsupportedPolicyError(f"statement {label}: exactly one of Action/NotAction")
        has_principal = "Principal" in raw or "NotPrincipal" in raw
        if not has_principal and ("Resource" in raw) == ("NotResource" in raw):
            raise UnsupportedPolicyError(f"statement {label}: exactly one of Resource/NotResource")
        for element in ("Action", "NotAction", "Resource", "NotResource"):
            _reject_variables(_as_list(raw.get(element)), f"{label}/{element}")
        return cls(raw, str(raw.get("Sid") or label))

    def applies(self, request: Request) -> bool:
        raw = self.raw
        if "Action" in raw:
            action_ok = any(wildcard_match(p, request.action, ignore_case=True) for p in _as_list(raw["Action"]))
        else:
            action_ok = not any(wildcard_match(p, request.action, ignore_case=True) for p in _as_list(raw["NotAction"]))
        if not action_ok:
            return False
        if "Resource" in raw:
            if not any(wildcard_match(p, request.resource) for p in _as_list(raw["Resource"])):
                return False
        elif "NotResource" in raw and any(wildcard_match(p, request.resource) for p in _as_list(raw["NotResource"])):
            return False
        if "Principal" in raw and not _principal_matches(raw["Principal"], request.principal):
            return False
        if "NotPrincipal" in raw and _principal_matches(raw["NotPrincipal"], request.principal):
            return False
        return conditions_hold(raw.get("Condition", {}), request.context)


def statements_of(document: str | Mapping[str, Any], name: str = "policy") -> list[Statement]:
    doc = json.loads(document) if isinstance(document, str) else document
    if not isinstance(doc, Mapping) or "Statement" not in doc:
        raise UnsupportedPolicyError(f"{name}: not a policy document")
    if doc.get("Version") not in {"2012-10-17", None}:
        raise UnsupportedPolicyError(f"{name}: unsupported policy Version {doc.get('Version')!r}")
    raw = doc["Statement"]
    raw_list = [raw] if isinstance(raw, Mapping) else list(raw)
    return [Statement.parse(s, f"{name}[{i}]") for i, s in enumerate(raw_list)]


class PolicySet:
    """Every policy that applies to one identity (its inline and attached documents), evaluated together."""

    def __init__(self, documents: Mapping[str, str | Mapping[str, Any]]):
        self.statements = [s for name, doc in documents.items() for s in statements_of(doc, name)]

    def evaluate(self, request: Request) -> Evaluation:
        allowed, denied = [], []
        for statement in self.statements:
            if statement.applies(request):
                (denied if statement.raw["Effect"] == "Deny" else allowed).append(statement.label)
        if denied:
            return Evaluation(Decision.EXPLICIT_DENY, tuple(allowed), tuple(denied))
        if allowed:
            return Evaluation(Decision.ALLOW, tuple(allowed))
        return Evaluation(Decision.IMPLICIT_DENY)

    def allows(self, action: str, resource: str = "*", context: Mapping[str, ContextValue] | None = None) -> bool:
        return self.evaluate(Request(action, resource, context or {})).allowed
