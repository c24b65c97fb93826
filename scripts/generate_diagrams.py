#!/usr/bin/env python3
"""Generate the architecture pictures and tables from the code: Terraform's own plan of each environment joined
with sam/template.yaml.

    .venv/bin/python scripts/generate_diagrams.py            # plan dev+prod on the emulator (~45 s), write
                                                             # docs/images/tfplan-<env>.json, graph-<env>.json,
                                                             # the PNGs and the docs tables
    .venv/bin/python scripts/generate_diagrams.py --check    # offline, ~1 s: exit 1 if anything committed drifts
    .venv/bin/python scripts/generate_diagrams.py --check --replan   # also re-plan and compare the plan digests

tfplan-<env>.json is the digest of `terraform plan` + `terraform show -json` + `terraform graph -plan` for that
environment; it records the hash of the Terraform inputs it was planned from, so --check notices a changed
terraform/ without running Terraform. graph-<env>.json is the contract checked in CI; PNG bytes are not compared
(graphviz output varies by version).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diagramgen import tfplan
from diagramgen.docsgen import architecture_md, update_architecture_md
from diagramgen.graph import DEFAULT_ENVIRONMENT, ENVIRONMENTS, Graph, build_graph
from diagramgen.markers import diff

REPO = Path(__file__).resolve().parent.parent


def graph_text(graph_json: dict) -> str:
    return json.dumps(graph_json, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def graph_path(repo: Path, environment: str) -> Path:
    return repo / "docs" / "images" / f"graph-{environment}.json"


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


def plan_digests(repo: Path, environments: tuple[str, ...]) -> dict[str, dict]:
    """Terraform's evaluation of each environment (emulator + plan), digested."""
    plans = tfplan.run_plans(repo / "terraform", list(environments))
    return {env: tfplan.digest(plan, dot, repo / "terraform", env) for env, (plan, dot) in plans.items()}


def check(repo: Path, environments: tuple[str, ...], replan: bool) -> int:
    failed = False
    digests: dict[str, dict] = {}
    fresh = plan_digests(repo, environments) if replan else {}
    for env in environments:
        path = tfplan.digest_path(repo, env)
        rel = path.relative_to(repo)
        if not path.is_file():
            print(f"DRIFT: {rel} is missing", file=sys.stderr)
            failed = True
            continue
        committed = json.loads(path.read_text(encoding="utf-8"))
        digests[env] = committed
        if committed.get("inputs_sha256") != tfplan.inputs_sha256(repo / "terraform", env):
            failed = True
            print(
                f"DRIFT: {rel} was planned from other Terraform code than terraform/ (+ {env}.tfvars)", file=sys.stderr
            )
        if env in fresh and tfplan.dumps(fresh[env]) != tfplan.dumps(committed):
            failed = True
            print(f"DRIFT: {rel} differs from a new terraform plan:", file=sys.stderr)
            print(diff(tfplan.dumps(committed), tfplan.dumps(fresh[env]), rel.name)[:6000], file=sys.stderr)
    graphs: dict[str, Graph] = {}
    for env, digest in digests.items():
        graphs[env] = build_graph(repo, env, digest)
        new_text = graph_text(graphs[env].to_json())
        path = graph_path(repo, env)
        old_text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if old_text != new_text:
            failed = True
            print(f"DRIFT: {path.relative_to(repo)} differs from what the code yields:", file=sys.stderr)
            old_json = json.loads(old_text) if old_text else {}
            for line in summarize_drift(old_json, json.loads(new_text)) or ["  (attributes changed)"]:
                print(line, file=sys.stderr)
            print(diff(old_text, new_text, path.name)[:6000], file=sys.stderr)
    doc_path = architecture_md(repo)
    if doc_path.is_file() and DEFAULT_ENVIRONMENT in graphs:
        doc_old = doc_path.read_text(encoding="utf-8")
        doc_new = update_architecture_md(graphs[DEFAULT_ENVIRONMENT], doc_old)
        if doc_new != doc_old:
            failed = True
            print(f"DRIFT: generated tables in {doc_path.relative_to(repo)}:", file=sys.stderr)
            print(diff(doc_old, doc_new, "architecture.md"), file=sys.stderr)
    if failed:
        print("Fix: .venv/bin/python scripts/generate_diagrams.py, then commit docs/.", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{env}: {len(g.nodes)} nodes, {len(g.edges)} edges" for env, g in graphs.items())
    print(f"ok: plan digests, graphs and docs tables match the code ({sizes})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if committed digests, graphs or docs drift")
    parser.add_argument("--replan", action="store_true", help="with --check: also re-plan on the emulator")
    parser.add_argument("--no-plan", action="store_true", help="reuse the committed plan digests (no emulator)")
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root (tests point this at a copy)")
    parser.add_argument("--no-render", action="store_true", help="write JSON and docs only, no PNGs")
    args = parser.parse_args(argv)
    repo: Path = args.repo.resolve()
    if args.check:
        return check(repo, ENVIRONMENTS, args.replan)

    written: list[Path] = []
    if not args.no_plan:
        for env, digest in plan_digests(repo, ENVIRONMENTS).items():
            path = tfplan.digest_path(repo, env)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tfplan.dumps(digest), encoding="utf-8")
            written.append(path)
    graphs = {env: build_graph(repo, env) for env in ENVIRONMENTS}
    for env, graph in graphs.items():
        graph_path(repo, env).write_text(graph_text(graph.to_json()), encoding="utf-8")
        written.append(graph_path(repo, env))
    doc_path = architecture_md(repo)
    if doc_path.is_file():
        doc_old = doc_path.read_text(encoding="utf-8")
        doc_new = update_architecture_md(graphs[DEFAULT_ENVIRONMENT], doc_old)
        if doc_new != doc_old:
            doc_path.write_text(doc_new, encoding="utf-8")
    if not args.no_render:
        from diagramgen.render import render_all  # imports graphviz-backed diagrams only when drawing

        written += render_all(graphs, repo / "docs" / "images", DEFAULT_ENVIRONMENT)
    for path in written:
        print(f"wrote {path.relative_to(repo)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
