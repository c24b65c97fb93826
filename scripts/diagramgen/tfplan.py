"""The Terraform side of the diagrams, as Terraform itself evaluates it.

For each environment: ``terraform plan`` against the embedded emulator (the same workspace the infra tests use,
scripts/localcloud/terraform_workspace.py), ``terraform show -json`` of that plan, and ``terraform graph
-plan=tfplan`` (Terraform's evaluation graph, which knows what every ``local`` depends on). :func:`digest` keeps
the little the pictures need: each planned instance with a few known values, each block's references per
argument (locals resolved through the evaluation graph), the policy statements of policy documents, and what
each ``sam_parameters`` key points at. That digest is committed (docs/images/tfplan-<env>.json) so that
``generate_diagrams.py --check`` needs no emulator; its ``inputs_sha256`` says which Terraform code it came from.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

DIGEST_VERSION = 1
# Values of a planned instance worth drawing or comparing between environments (everything else stays out so the
# digest is small and only changes when the picture would).
KEEP_VALUES = (
    "name",
    "alarm_name",
    "dashboard_name",
    "bucket",
    "availability_zone",
    "cidr_block",
    "service_name",
    "vpc_endpoint_type",
    "private_dns_enabled",
    "retention_in_days",
    "deletion_protection_enabled",
    "point_in_time_recovery",
    "stream_enabled",
    "stream_view_type",
    "hash_key",
    "range_key",
    "global_secondary_index",
    "dimensions",
    "metric_name",
    "namespace",
    "threshold",
    "comparison_operator",
    "connectivity_type",
    "traffic_type",
    "url",
)
# `aws_iam_role.function["api"].arn`, `data.aws_iam_policy_document.api.json`, `local.table_arn`
_TOKEN_RE = re.compile(r"(?<![\w.])((?:data\.)?[a-z][a-z0-9]*_[a-z0-9_]+\.[A-Za-z_][\w-]*|local\.[A-Za-z_]\w*)")
_INDEX_RE = re.compile(r'^\[("?)([^\]"]*)\1\](?:\.([A-Za-z_]\w*))?')
_ATTR_RE = re.compile(r"^\.([A-Za-z_]\w*)")
_DOT_EDGE_RE = re.compile(r'"\[root\] ([^" ]+)(?: \([^)]*\))?" -> "\[root\] ([^" ]+)(?: \([^)]*\))?"')


def inputs_sha256(terraform_dir: Path, environment: str) -> str:
    """What a plan of ``environment`` depends on in the repository: the module, its lock file and the tfvars."""
    files = [
        *sorted(terraform_dir.glob("*.tf")),
        terraform_dir / ".terraform.lock.hcl",
        terraform_dir / "environments" / f"{environment}.tfvars",
    ]
    h = hashlib.sha256()
    for path in files:
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def run_plans(terraform_dir: Path, environments: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
    """Plan each environment against one emulator; returns ``{env: (show -json of the plan, graph DOT)}``."""
    from localcloud import emulator, terraform_workspace  # the emulator is only needed when re-planning

    out: dict[str, tuple[dict[str, Any], str]] = {}
    with tempfile.TemporaryDirectory(prefix="tfsam-diagrams-") as tmp:
        cloud = emulator.start(Path(tmp) / "emulator")
        try:
            for env in environments:
                ws = terraform_workspace.prepare(Path(tmp) / env, cloud.endpoint_url, source=terraform_dir)
                terraform_workspace.init(ws)
                # -refresh=false: the state is empty, there is nothing to refresh; saves a round of API calls.
                plan = ["plan", "-input=false", "-lock=false", "-refresh=false", "-out=tfplan"]
                terraform_workspace.run([*plan, terraform_workspace.var_file(env)], ws)
                shown = json.loads(terraform_workspace.run(["show", "-json", "tfplan"], ws).stdout)
                dot = terraform_workspace.run(["graph", "-plan=tfplan"], ws).stdout
                out[env] = (shown, dot)
        finally:
            cloud.stop()
    return out


def _block_of(address: str) -> str:
    return re.sub(r"\[[^\]]*\]$", "", address)


def _dependencies(dot: str) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = defaultdict(set)
    for m in _DOT_EDGE_RE.finditer(dot):
        deps[m.group(1)].add(m.group(2))
    return deps


class _Resolver:
    """References of an expression, with locals replaced by the resources Terraform's graph says they read."""

    def __init__(self, deps: dict[str, set[str]], local_texts: dict[str, str]) -> None:
        self.deps = deps
        self.local_texts = local_texts

    def local(self, name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Resources a local reads: from its text (keeps index and attribute), limited to what the graph says."""
        if name in seen:
            return set()
        allowed = self.resources_under(f"local.{name}")
        found = self.text(self.local_texts.get(name, ""), seen | {name})
        kept = {r for r in found if _block_of(".".join(r.split(".")[:2])) in allowed or _block_of(r) in allowed}
        return kept or allowed

    def resources_under(self, node: str, seen: set[str] | None = None) -> set[str]:
        seen = set() if seen is None else seen
        out: set[str] = set()
        for dep in sorted(self.deps.get(node, ())):
            if dep in seen:
                continue
            seen.add(dep)
            if dep.startswith(("local.", "var.", "provider", "output.")):
                out |= self.resources_under(dep, seen)
            elif "." in dep:  # a resource or data source: where a reference ends
                out.add(dep)
        return out

    def text(self, text: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """``address[key].attr`` strings for every resource reference in HCL expression text."""
        out: set[str] = set()
        for m in _TOKEN_RE.finditer(text):
            token = m.group(1)
            rest = text[m.end() :]
            if token.startswith("local."):
                out |= self.local(token.split(".", 1)[1], seen)
                continue
            if token.startswith(("var.", "each.", "count.", "path.", "self.")):
                continue
            index = _INDEX_RE.match(rest)
            if index:
                key, attr = index.group(2), index.group(3)
                out.add(f'{token}["{key}"]' + (f".{attr}" if attr else "") if index.group(1) else f"{token}[{key}]")
            else:
                attr = _ATTR_RE.match(rest)
                out.add(token + (f".{attr.group(1)}" if attr else ""))
        return out

    def refs(self, references: list[str]) -> set[str]:
        """A plan ``configuration`` references list -> resource references (most specific form of each)."""
        out: set[str] = set()
        for ref in references:
            if ref.startswith("local."):
                out |= self.local(ref.split(".")[1])
            elif not ref.startswith(("var.", "each.", "count.", "path.", "self.")):
                out |= self.text(ref)
        # `aws_x.y.arn`, `aws_x.y` and `aws_x` come together; keep the longest of each prefix family.
        return {r for r in out if not any(o != r and o.startswith(r) for o in out)}


def _local_texts(terraform_dir: Path) -> dict[str, str]:
    """Each local's expression text (python-hcl2): only to keep the index/attribute a local reads."""
    import hcl2

    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
    )
    texts: dict[str, str] = {}
    raw_locals: dict[str, Any] = {}
    contract: Any = None
    for path in sorted(terraform_dir.glob("*.tf")):
        with path.open(encoding="utf-8") as fh:
            doc = hcl2.load(fh, serialization_options=options)
        for block in doc.get("locals", []):
            raw_locals.update(block)
            texts.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in block.items()})
        for output in doc.get("output", []):
            for name, body in output.items():
                if name == "sam_parameters":
                    contract = body.get("value")
    # `value = local.sam_parameters` (contract.tf builds the map once): its keys' expressions are the local's.
    named = re.fullmatch(r"\$\{local\.(\w+)\}", contract.strip()) if isinstance(contract, str) else None
    if named:
        contract = raw_locals.get(named.group(1))
    if isinstance(contract, dict):
        texts.update({f"sam_parameters:{k}": str(v) for k, v in contract.items()})
    return texts


def _known(value: Any, unknown: Any) -> Any:
    if unknown is True:
        return "(known after apply)"
    if isinstance(value, dict):
        u = unknown if isinstance(unknown, dict) else {}
        return {k: _known(v, u.get(k)) for k, v in sorted(value.items())}
    if isinstance(value, list):
        u = unknown if isinstance(unknown, list) else []
        return [_known(v, u[i] if i < len(u) else None) for i, v in enumerate(value)]
    return value


def _expressions(exprs: dict[str, Any], resolver: _Resolver) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for attr, expr in sorted(exprs.items()):
        if isinstance(expr, dict) and "references" in expr:
            refs = resolver.refs(expr["references"])
            if refs:
                out[attr] = sorted(refs)
        elif isinstance(expr, list):  # nested blocks: merge their references under the block name
            merged = set()
            for item in expr:
                if isinstance(item, dict):
                    for refs in _expressions(item, resolver).values():
                        merged.update(refs)
            if merged:
                out[attr] = sorted(merged)
    return out


def _statements(exprs: dict[str, Any], resolver: _Resolver) -> list[dict[str, Any]]:
    out = []
    for st in exprs.get("statement", []):
        resources = st.get("resources", {})
        principals = [
            {"type": p.get("type", {}).get("constant_value"), "identifiers": p.get("identifiers", {})}
            for p in st.get("principals", [])
        ]
        out.append(
            {
                "effect": st.get("effect", {}).get("constant_value", "Allow"),
                "actions": sorted(st.get("actions", {}).get("constant_value") or []),
                "targets": sorted(resolver.refs(resources.get("references", []))),
                "wildcard": "*" in (resources.get("constant_value") or []),
                "principals": sorted(
                    {
                        str(i)
                        for p in principals
                        for i in (p["identifiers"].get("constant_value") or [])
                        if isinstance(i, str)
                    }
                ),
            }
        )
    return out


def digest(plan: dict[str, Any], dot: str, terraform_dir: Path, environment: str) -> dict[str, Any]:
    """The part of one environment's plan the diagrams use (deterministic, no timestamps)."""
    resolver = _Resolver(_dependencies(dot), _local_texts(terraform_dir))
    instances: dict[str, dict[str, Any]] = {}
    for change in plan.get("resource_changes", []):
        if change["mode"] != "managed" or change.get("module_address"):
            continue
        after = change["change"].get("after") or {}
        unknown = change["change"].get("after_unknown") or {}
        values = {k: _known(after[k], unknown.get(k)) for k in KEEP_VALUES if k in after and after[k] not in (None, [])}
        if isinstance(after.get("tags"), dict) and "Name" in after["tags"]:
            values["tag_name"] = after["tags"]["Name"]
        instances[change["address"]] = {
            "block": _block_of(change["address"]),
            "type": change["type"],
            "index": change.get("index"),
            "values": values,
        }
    blocks: dict[str, dict[str, Any]] = {}
    for res in plan["configuration"]["root_module"].get("resources", []):
        entry: dict[str, Any] = {
            "type": res["type"],
            "mode": res["mode"],
            "refs": _expressions(res.get("expressions", {}), resolver),
            "depends_on": sorted(resolver.resources_under(res["address"])),
        }
        if res["type"] == "aws_iam_policy_document":
            entry["statements"] = _statements(res.get("expressions", {}), resolver)
        constants = {
            k: v["constant_value"]
            for k, v in res.get("expressions", {}).items()
            if isinstance(v, dict) and "constant_value" in v and k in ("policy_arn", "vpc_endpoint_type", "name")
        }
        if constants:
            entry["constants"] = constants
        blocks[res["address"]] = entry
    sam_parameters: dict[str, Any] = {}
    # output_changes keeps the known keys of a partly unknown map (planned_values drops the whole value).
    planned = plan.get("output_changes", {}).get("sam_parameters", {}).get("after") or {}
    for key, text in sorted(resolver.local_texts.items()):
        if not key.startswith("sam_parameters:"):
            continue
        name = key.split(":", 1)[1]
        sam_parameters[name] = {
            "expression": text[2:-1] if text.startswith("${") and text.endswith("}") else text,
            "targets": sorted(resolver.text(text)),
            "value": planned.get(name, "(known after apply)"),
        }
    return {
        "digest_version": DIGEST_VERSION,
        "environment": environment,
        "terraform_version": plan.get("terraform_version"),
        "inputs_sha256": inputs_sha256(terraform_dir, environment),
        "variables": {k: v.get("value") for k, v in sorted(plan.get("variables", {}).items())},
        "instances": dict(sorted(instances.items())),
        "blocks": dict(sorted(blocks.items())),
        "sam_parameters": sam_parameters,
    }


def digest_path(repo: Path, environment: str) -> Path:
    return repo / "docs" / "images" / f"tfplan-{environment}.json"


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
