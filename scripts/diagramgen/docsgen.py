"""Tables of docs/architecture.md generated from the graph: the layer contract (sam_parameters) and the
component inventory by layer."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from diagramgen.graph import Graph
from diagramgen.markers import replace_section

COMMAND = ".venv/bin/python scripts/generate_diagrams.py"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def parameters_table(graph: Graph) -> str:
    rows = [
        f"| SAM parameter | Type | Terraform expression (`terraform/contract.tf`) | value in {graph.environment} "
        "| points at | description |",
        "|---|---|---|---|---|---|",
    ]
    for name, info in graph.parameters.items():
        expr = f"`{_cell(info['expression'])}`" if info["expression"] else "**missing in sam_parameters**"
        if not info["in_template"]:
            expr += " (**not a template parameter**)"
        targets = ", ".join(f"`{_cell(t)}`" for t in info["targets"]) or "-"
        value = _cell(info.get("value"))
        desc = _cell(info.get("description") or "")
        rows.append(f"| `{name}` | {info.get('type') or '-'} | {expr} | {value} | {targets} | {desc} |")
    return "\n".join(rows) + "\n"


def inventory_table(graph: Graph) -> str:
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    sources: dict[tuple[str, str], set[str]] = defaultdict(set)
    for node in graph.nodes.values():
        if node.owner in ("terraform", "sam") and node.attrs.get("instances") != 0:
            counts[(node.owner, node.kind)][node.block] += 1
            sources[(node.owner, node.kind)].add(node.source)
    rows = ["| owner | kind | count | defined in |", "|---|---|---|---|"]
    for (owner, kind), blocks in sorted(counts.items()):
        files = ", ".join(f"`{s}`" for s in sorted(sources[(owner, kind)]))
        rows.append(f"| {owner} | {kind} | {sum(blocks.values())} | {files} |")
    env = graph.environment
    return "\n".join(rows) + f"\n\nCounts are for `{env}` ({graph.tfvars or 'variable defaults'}).\n"


def update_architecture_md(graph: Graph, text: str) -> str:
    text = replace_section(text, "parameters", parameters_table(graph), COMMAND)
    return replace_section(text, "inventory", inventory_table(graph), COMMAND)


def architecture_md(repo: Path) -> Path:
    return repo / "docs" / "architecture.md"
