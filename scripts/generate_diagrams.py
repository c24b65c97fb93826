#!/usr/bin/env python3
"""Generate the architecture pictures and tables from the code (terraform/*.tf + sam/template.yaml).

    .venv/bin/python scripts/generate_diagrams.py           # write docs/images/graph.json, the 3 PNGs, docs tables
    .venv/bin/python scripts/generate_diagrams.py --check   # exit 1 if the committed graph.json / docs drift

graph.json is the contract checked in CI; PNG bytes are not compared (graphviz output varies by version).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diagramgen.docsgen import architecture_md, update_architecture_md
from diagramgen.graph import DEFAULT_ENVIRONMENT, build_graph
from diagramgen.markers import diff

REPO = Path(__file__).resolve().parent.parent


def graph_text(graph_json: dict) -> str:
    return json.dumps(graph_json, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def summarize_drift(old: dict, new: dict) -> list[str]:
    """What changed, in words a reviewer can act on (the full diff follows)."""
    lines = []
    for section, key in (("nodes", "id"), ("clusters", "id")):
        before = {item[key] for item in old.get(section, [])}
        after = {item[key] for item in new.get(section, [])}
        lines += [f"  + {section[:-1]} {i}" for i in sorted(after - before)]
        lines += [f"  - {section[:-1]} {i}" for i in sorted(before - after)]

    def edge_key(e: dict) -> str:
        return f"{e['source']} -[{e['purpose']}]-> {e['target']}"

    before_e = {edge_key(e) for e in old.get("edges", [])}
    after_e = {edge_key(e) for e in new.get("edges", [])}
    lines += [f"  + edge {e}" for e in sorted(after_e - before_e)]
    lines += [f"  - edge {e}" for e in sorted(before_e - after_e)]
    if set(old.get("parameters", {})) != set(new.get("parameters", {})):
        lines.append("  ~ sam_parameters keys changed")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if committed graph.json or docs tables drift")
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root (tests point this at a copy)")
    parser.add_argument("--env", default=DEFAULT_ENVIRONMENT, help="tfvars environment the graph is evaluated for")
    parser.add_argument("--no-render", action="store_true", help="write graph.json and docs only, no PNGs")
    args = parser.parse_args(argv)
    repo: Path = args.repo.resolve()
    graph = build_graph(repo, args.env)
    new_json = graph.to_json()
    new_text = graph_text(new_json)
    graph_path = repo / "docs" / "images" / "graph.json"
    doc_path = architecture_md(repo)
    doc_old = doc_path.read_text(encoding="utf-8") if doc_path.is_file() else None
    doc_new = update_architecture_md(graph, doc_old) if doc_old is not None else None

    if args.check:
        failed = False
        old_text = graph_path.read_text(encoding="utf-8") if graph_path.is_file() else ""
        if old_text != new_text:
            failed = True
            print(f"DRIFT: {graph_path.relative_to(repo)} differs from what the code yields:", file=sys.stderr)
            old_json = json.loads(old_text) if old_text else {}
            for line in summarize_drift(old_json, new_json) or ["  (attributes changed)"]:
                print(line, file=sys.stderr)
            print(diff(old_text, new_text, "graph.json")[:6000], file=sys.stderr)
        if doc_old is not None and doc_new != doc_old:
            failed = True
            print(f"DRIFT: generated tables in {doc_path.relative_to(repo)}:", file=sys.stderr)
            print(diff(doc_old, doc_new or "", "architecture.md"), file=sys.stderr)
        if failed:
            print("Fix: .venv/bin/python scripts/generate_diagrams.py, then commit docs/.", file=sys.stderr)
            return 1
        print(
            f"ok: graph.json and docs tables match the code ({len(new_json['nodes'])} nodes, "
            f"{len(new_json['edges'])} edges)"
        )
        return 0

    graph_path.parent.mkdir(parents=True, exist_ok=True)
    graph_path.write_text(new_text, encoding="utf-8")
    if doc_new is not None and doc_new != doc_old:
        doc_path.write_text(doc_new, encoding="utf-8")
    written = [graph_path]
    if not args.no_render:
        from diagramgen.render import render_all  # imports graphviz-backed diagrams only when drawing

        written += render_all(graph, graph_path.parent)
    for path in written:
        print(f"wrote {path.relative_to(repo)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
