"""The IAM documents Terraform actually rendered, read from ``terraform show -json`` of an applied workspace.

Reading the applied state (not the HCL) means every ARN, interpolation and ``dynamic`` block is resolved exactly
as AWS receives it. Result: ``{role name: RoleDocuments}`` with the inline policies by policy name, the trust
policy, and the managed policy ARNs attached to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoleDocuments:
    name: str
    arn: str
    trust: dict[str, Any]
    inline: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed: list[str] = field(default_factory=list)


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _resources(child)


def _document(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def roles_from_show(show: Mapping[str, Any]) -> dict[str, RoleDocuments]:
    """Roles of ``terraform show -json`` output (state form: ``values.root_module``)."""
    root = (show.get("values") or {}).get("root_module") or {}
    resources = [r for r in _resources(root) if r.get("mode") == "managed"]
    roles: dict[str, RoleDocuments] = {}
    for res in resources:
        if res["type"] == "aws_iam_role":
            v = res["values"]
            roles[v["name"]] = RoleDocuments(v["name"], v["arn"], _document(v["assume_role_policy"]))
    for res in resources:
        v = res["values"]
        if res["type"] == "aws_iam_role_policy":
            role = v["role"].rsplit("/", 1)[-1]  # `role` is the role name (id), never an ARN here
            roles[role].inline[v["name"]] = _document(v["policy"])
        elif res["type"] == "aws_iam_role_policy_attachment":
            roles[v["role"]].managed.append(v["policy_arn"])
    if not roles:
        raise ValueError("no aws_iam_role in this state: is it an applied workspace?")
    return roles


def outputs_from_show(show: Mapping[str, Any]) -> dict[str, Any]:
    return {name: out.get("value") for name, out in ((show.get("values") or {}).get("outputs") or {}).items()}
