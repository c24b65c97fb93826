"""The SAM template as data, with the CloudFormation short tags (!Ref, !Sub, !GetAtt) decoded by the SAM CLI's
own YAML loader, so the diagrams read exactly what `sam build` reads."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse

_SUB_VAR_RE = re.compile(r"\$\{(?!!)([A-Za-z0-9_:.]+)\}")


@dataclass
class SamTemplate:
    path: str  # relative to the repo root
    parameters: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]
    globals: dict[str, Any]
    outputs: dict[str, Any]
    mappings: dict[str, Any]

    def resource_properties(self, logical_id: str) -> dict[str, Any]:
        """Properties with Globals merged in (SAM applies Globals.Function to every function, and so do we)."""
        res = self.resources[logical_id]
        kind = res.get("Type", "").removeprefix("AWS::Serverless::")
        merged = dict(self.globals.get(kind, {})) if res.get("Type", "").startswith("AWS::Serverless::") else {}
        for key, value in (res.get("Properties") or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    def of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id in sorted(self.resources):
            if self.resources[logical_id].get("Type") in types:
                yield logical_id, self.resource_properties(logical_id)


def load_template(path: Path, repo_root: Path) -> SamTemplate:
    doc = yaml_parse(path.read_text(encoding="utf-8")) or {}
    rel = path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else path.as_posix()
    return SamTemplate(
        path=rel,
        parameters=dict(doc.get("Parameters") or {}),
        resources=dict(doc.get("Resources") or {}),
        globals=dict(doc.get("Globals") or {}),
        outputs=dict(doc.get("Outputs") or {}),
        mappings=dict(doc.get("Mappings") or {}),
    )


def referenced_names(value: Any) -> set[str]:
    """Logical ids and parameter names a value refers to (Ref, GetAtt, Sub variables)."""
    names: set[str] = set()
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                names.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                names.add(str(target))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                names.update(m.split(".", 1)[0] for m in _SUB_VAR_RE.findall(str(text)))
                if isinstance(inner, list) and len(inner) > 1:
                    names.update(referenced_names(inner[1]))
            else:
                names.update(referenced_names(inner))
    elif isinstance(value, list):
        for inner in value:
            names.update(referenced_names(inner))
    return names


class Unresolved(str):
    """A template value only CloudFormation knows (GetAtt, a conditional): shown by its expression."""


def resolve(  # noqa: PLR0911 - one return per intrinsic function
    value: Any, params: Mapping[str, Any], pseudo: Mapping[str, str], mappings: Mapping[str, Any] | None = None
) -> Any:
    """Evaluate Ref/Sub/Join/FindInMap against parameter values; anything else stays an Unresolved string."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Fn::FindInMap" and mappings is not None:
            name, top, second = (resolve(v, params, pseudo, mappings) for v in inner[:3])
            try:
                return mappings[name][top][second]
            except (KeyError, TypeError):
                return Unresolved(f"!FindInMap {name}.{top}.{second}")
        if key == "Ref":
            if inner in params:
                return params[inner]
            if inner in pseudo:
                return pseudo[inner]
            return Unresolved(f"!Ref {inner}")
        if key == "Fn::Sub":
            text, local_vars = (inner[0], inner[1]) if isinstance(inner, list) else (inner, {})
            values = {**pseudo, **params, **{k: resolve(v, params, pseudo) for k, v in local_vars.items()}}

            def sub(m: re.Match[str]) -> str:
                return str(values.get(m.group(1), "${" + m.group(1) + "}"))

            return _SUB_VAR_RE.sub(sub, str(text))
        if key == "Fn::Join":
            sep, items = inner
            return str(sep).join(str(resolve(i, params, pseudo)) for i in items)
        if key == "Fn::GetAtt":
            target = ".".join(inner) if isinstance(inner, list) else inner
            return Unresolved(f"!GetAtt {target}")
        if key.startswith("Fn::"):
            return Unresolved(f"!{key.removeprefix('Fn::')}")
    if isinstance(value, Mapping):
        return {k: resolve(v, params, pseudo, mappings) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, pseudo, mappings) for v in value]
    return value
