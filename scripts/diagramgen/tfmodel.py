"""Terraform code as data: every resource, data source, variable, local and output of one root module.

Read with python-hcl2 (no terraform binary, no provider, no state), so diagrams, docs and cost can be generated
on any machine. Values stay unevaluated text until a caller evaluates them against a tfvars file (hclexpr).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from diagramgen.hclexpr import UNKNOWN, HclEvalError, Scope, eval_expr, evaluate

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
)

# `aws_sqs_queue.dlq.arn`, `data.aws_iam_policy_document.api.json`, `aws_iam_role.function["api"].arn`
_ADDR_RE = re.compile(r"(?<![\w.])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
_ATTR_RE = re.compile(r"\.([A-Za-z_]\w*)")
_LOCAL_RE = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
ALL = None  # Ref.key for "every instance" (no index, a splat, or an index only known at apply time)


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return hcl2.load(fh, serialization_options=_OPTIONS)


@dataclass(frozen=True)
class Ref:
    """One reference from an expression to a resource: the address and the attribute read (arn, stream_arn...)."""

    address: str
    attribute: str
    key: Any = ALL  # count index / for_each key when the expression names one instance


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    refs: frozenset[Ref]
    wildcard: bool  # Resource "*" (allowed only where the action has no resource-level control)


@dataclass
class TfResource:
    mode: str  # "resource" or "data"
    type: str
    name: str
    body: dict[str, Any]
    file: str  # path relative to the repo root, for the docs to point at

    @property
    def address(self) -> str:
        base = f"{self.type}.{self.name}"
        return base if self.mode == "resource" else f"data.{base}"


@dataclass
class TfModule:
    root: Path
    resources: dict[str, TfResource] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    local_files: dict[str, str] = field(default_factory=dict)
    output_files: dict[str, str] = field(default_factory=dict)

    def of_type(self, *types: str) -> Iterator[TfResource]:
        for address in sorted(self.resources):
            res = self.resources[address]
            if res.mode == "resource" and res.type in types:
                yield res

    # -- references -------------------------------------------------------------------------------------------

    def refs(self, value: Any, scope: Scope | None = None, *, through_data: bool = True) -> set[Ref]:
        """Resources an expression depends on, following locals and data sources (a policy document's
        resources belong to the role policy that renders it). With a scope, index expressions such as
        `[each.key]` are evaluated so a reference names one instance."""
        found: set[Ref] = set()
        self._collect_refs(value, scope or self.scope(), found, set(), through_data)
        return found

    def _collect_refs(self, value: Any, scope: Scope, found: set[Ref], seen: set[str], via_data: bool) -> None:
        for text in _strings(value):
            for m in _ADDR_RE.finditer(text):
                address = f"{'data.' if m.group(1) else ''}{m.group(2)}.{m.group(3)}"
                if address not in self.resources:
                    continue
                key, pos = _index_after(text, m.end(), scope)
                attr = _ATTR_RE.match(text, pos)
                if m.group(1) and via_data:
                    marker = f"{address}[{key!r}]"
                    if marker not in seen:
                        seen.add(marker)
                        data = self.resources[address]
                        inner = scope
                        if key is not ALL and ("count" in data.body or "for_each" in data.body):
                            inner = self.instance_scope(data, self.scope_base(scope), key)
                        self._collect_refs(data.body, inner, found, seen, via_data)
                    continue
                found.add(Ref(address, attr.group(1) if attr else "", key))
            for m in _LOCAL_RE.finditer(text):
                marker = f"local.{m.group(1)}"
                if marker not in seen and m.group(1) in self.locals:
                    seen.add(marker)
                    self._collect_refs(self.locals[m.group(1)], scope, found, seen, via_data)

    def policy_statements(self, value: Any, scope: Scope) -> list[Statement]:
        """Statements of the IAM policy an attribute renders: each aws_iam_policy_document statement with its
        own resources; a jsonencode()d policy becomes one statement whose actions are not itemised."""
        statements: list[Statement] = []
        docs_found = False
        for text in _strings(value):
            for m in _ADDR_RE.finditer(text):
                address = f"data.{m.group(2)}.{m.group(3)}"
                if not m.group(1) or m.group(2) != "aws_iam_policy_document" or address not in self.resources:
                    continue
                docs_found = True
                doc = self.resources[address]
                key, _ = _index_after(text, m.end(), scope)
                inner = scope
                if key is not ALL and ("count" in doc.body or "for_each" in doc.body):
                    inner = self.instance_scope(doc, self.scope_base(scope), key)
                for st in doc.body.get("statement", []):
                    effect = evaluate(st.get("effect", "Allow"), inner)
                    actions = evaluate(st.get("actions", []), inner)
                    statements.append(
                        Statement(
                            sid=str(evaluate(st.get("sid", ""), inner)),
                            effect=str(effect),
                            actions=tuple(sorted(a for a in actions if isinstance(a, str)))
                            if isinstance(actions, list)
                            else (),
                            refs=frozenset(self.refs(st.get("resources", []), inner, through_data=False)),
                            # not_resources = every resource but those: as wide as "*" for the picture.
                            wildcard=_has_wildcard(evaluate(st.get("resources", []), inner))
                            or bool(st.get("not_resources")),
                        )
                    )
        if not docs_found:
            refs = self.refs(value, scope)
            if refs:
                statements.append(Statement("", "Allow", (), frozenset(refs), False))
        return statements

    @staticmethod
    def scope_base(scope: Scope) -> Scope:
        return Scope(scope.variables, scope.locals_src, data=scope.data)

    # -- evaluation -------------------------------------------------------------------------------------------

    def variable_values(self, tfvars: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with tfvars; a variable with neither is UNKNOWN (as in a plan with -var missing)."""
        values: dict[str, Any] = {}
        for name, body in self.variables.items():
            values[name] = evaluate(body["default"], Scope()) if "default" in body else UNKNOWN
        values.update(tfvars or {})
        return values

    def scope(self, tfvars: dict[str, Any] | None = None) -> Scope:
        values = self.variable_values(tfvars)
        region = values.get("aws_region")
        return Scope(values, self.locals, data=data_stubs(region if isinstance(region, str) else "ap-northeast-1"))

    def instance_keys(self, res: TfResource, scope: Scope) -> list[Any] | None:
        """count.index values or for_each keys of a resource; [None] for a single instance; None if unknown."""
        if "count" in res.body:
            count = evaluate(res.body["count"], scope)
            return None if count is UNKNOWN else list(range(int(count)))
        if "for_each" in res.body:
            coll = evaluate(res.body["for_each"], scope)
            if coll is UNKNOWN:
                return None
            return sorted(coll) if isinstance(coll, dict) else sorted(coll, key=str)
        return [None]

    def instance_scope(self, res: TfResource, scope: Scope, key: Any) -> Scope:
        if "count" in res.body:
            return scope.child(count={"index": key})
        if "for_each" in res.body:
            coll = evaluate(res.body["for_each"], scope)
            value = coll[key] if isinstance(coll, dict) else key
            return scope.child(each={"key": key, "value": value})
        return scope


# AZ names differ per account (they are shuffled per account; Tokyo has no "b" for newer accounts), so these only
# label pictures and count AZs; nothing is deployed from them.
_AZ_LETTERS = {"ap-northeast-1": "acd"}
PLACEHOLDER_ACCOUNT = "123456789012"  # the emulator's account id (team brief); used only in generated labels


def data_stubs(region: str) -> dict[str, dict[str, Any]]:
    """Stand-in values for the data sources the code reads at plan time."""
    letters = _AZ_LETTERS.get(region, "abc")
    return {
        "aws_availability_zones": {"names": [f"{region}{c}" for c in letters]},
        "aws_region": {"name": region, "id": region, "region": region},
        "aws_partition": {"partition": "aws", "dns_suffix": "amazonaws.com"},
        "aws_caller_identity": {"account_id": PLACEHOLDER_ACCOUNT},
    }


def _has_wildcard(resources: Any) -> bool:
    return isinstance(resources, list) and "*" in resources


def _index_after(text: str, pos: int, scope: Scope) -> tuple[Any, int]:
    """Evaluate the `[...]` right after an address (balanced, it may hold `local.nat_azs[0]`)."""
    if pos >= len(text) or text[pos] != "[":
        return ALL, pos
    depth, end = 0, pos
    while end < len(text):
        depth += {"[": 1, "]": -1}.get(text[end], 0)
        end += 1
        if depth == 0:
            break
    inner = text[pos + 1 : end - 1].strip()
    if inner == "*":
        return ALL, end
    try:
        key = eval_expr(inner, scope)
    except (HclEvalError, KeyError, IndexError, TypeError):
        key = UNKNOWN
    return (ALL if key is UNKNOWN else key), end


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def load_module(root: Path, repo_root: Path | None = None) -> TfModule:
    """Parse every *.tf file directly in `root` (one root module; nested modules are not followed)."""
    repo_root = repo_root or root.parent
    module = TfModule(root=root)
    for path in sorted(root.glob("*.tf")):
        rel = path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else path.as_posix()
        doc = load_hcl(path)
        for mode in ("resource", "data"):
            for block in doc.get(mode, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        res = TfResource(mode, rtype, name, body, rel)
                        module.resources[res.address] = res
        for block in doc.get("variable", []):
            module.variables.update(block)
        for block in doc.get("locals", []):
            module.locals.update(block)
            module.local_files.update(dict.fromkeys(block, rel))
        for block in doc.get("output", []):
            module.outputs.update(block)
            module.output_files.update(dict.fromkeys(block, rel))
    return module


def load_tfvars(path: Path) -> dict[str, Any]:
    """A tfvars file's values (literals; expressions are not allowed there by Terraform either)."""
    return {k: evaluate(v, Scope()) for k, v in load_hcl(path).items()}


def tfvars_files(root: Path) -> dict[str, Path]:
    """Environment name -> tfvars file, found anywhere under the Terraform root (environments/dev.tfvars...)."""
    return {p.name.removesuffix(".tfvars"): p for p in sorted(root.rglob("*.tfvars")) if ".terraform" not in p.parts}
