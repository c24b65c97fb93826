"""The architecture graph is derived from the code: Terraform's plan of each environment (the committed digests
docs/images/tfplan-<env>.json) joined with sam/template.yaml; what is in them shows up, nothing else."""

from __future__ import annotations

import copy
import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import generate_diagrams
import hcl2
import pytest
from diagramgen import tfplan
from diagramgen.graph import ENVIRONMENTS, Graph, build_graph, load_plan
from diagramgen.render import LAYOUTS, NODE_ATTR, picture_paths, render_all
from diagramgen.sammodel import load_template


@pytest.fixture(scope="module")
def graph(repo_root: Path) -> Graph:
    return build_graph(repo_root)


@pytest.fixture
def repo_copy(repo_root: Path, tmp_path: Path) -> Path:
    """terraform/, sam/template.yaml and docs/ copied, so a test can change the code without touching the tree."""
    for sub in ("terraform", "docs"):  # the committed plan digests come along with docs/
        shutil.copytree(repo_root / sub, tmp_path / sub, ignore=shutil.ignore_patterns(".terraform", "*.png"))
    (tmp_path / "sam").mkdir()
    shutil.copy(repo_root / "sam" / "template.yaml", tmp_path / "sam" / "template.yaml")
    return tmp_path


def _ids(graph: Graph, kind: str) -> set[str]:
    return {n.id for n in graph.of_kind(kind)}


def _edges(graph: Graph, purpose: str) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in graph.edges if e.purpose == purpose}


# -- the real code --------------------------------------------------------------------------------------------


def test_graph_reflects_the_real_code(graph: Graph, repo_root: Path) -> None:
    template = load_template(repo_root / "sam" / "template.yaml", repo_root)
    functions = {lid for lid, r in template.resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {n.block for n in graph.of_kind("function")} == functions
    assert len(functions) == 3

    gsis = {n.label.split("\n")[0] for n in graph.of_kind("gsi")}
    assert gsis == {"GSI EntityTypeIndex", "GSI GSI1"}

    # Stream path: the table's stream is polled by a function whose failed batches go to an SQS queue ...
    (stream,) = _ids(graph, "stream")
    consumers = {t for s, t in _edges(graph, "polled by (event source mapping)") if s == stream}
    assert len(consumers) == 1
    dlqs = {t for s, t in _edges(graph, "on-failure") if s in consumers}
    assert dlqs and all(graph.nodes[q].kind == "queue" for q in dlqs)
    # ... that an alarm watches, and that alarm notifies a topic.
    dlq_alarms = {s for s, t in _edges(graph, "monitors") if t in dlqs}
    assert dlq_alarms
    assert any(graph.nodes[t].kind == "topic" for s, t in _edges(graph, "notifies") if s in dlq_alarms)

    # Every function: assumes a Terraform role, logs to a Terraform log group, runs in the private subnets,
    # and is watched by at least one alarm.
    for fn in graph.of_kind("function"):
        roles = [t for s, t in _edges(graph, "assumes") if s == fn.id]
        assert roles and all(graph.nodes[r].owner == "terraform" for r in roles), fn.id
        assert any(s == fn.id for s, _ in _edges(graph, "logs to")), fn.id
        assert any(s == fn.id and graph.nodes[t].kind == "subnet" for s, t in _edges(graph, "ENI in")), fn.id
        assert any(t == fn.id for _, t in _edges(graph, "monitors")), fn.id

    # The layer contract: every SAM parameter is a sam_parameters key and the other way round.
    assert set(graph.parameters) == set(template.parameters)
    assert all(p["in_template"] and p["expression"] for p in graph.parameters.values())


def test_request_and_schedule_paths_come_from_template_events(graph: Graph, repo_root: Path) -> None:
    template = load_template(repo_root / "sam" / "template.yaml", repo_root)
    api_events = [
        (ev["Properties"]["Method"].upper(), ev["Properties"]["Path"])
        for _, props in template.of_type("AWS::Serverless::Function")
        for ev in (props.get("Events") or {}).values()
        if ev["Type"] == "Api"
    ]
    routes = {n.label for n in graph.of_kind("route")}
    assert routes == {f"{m} {p}" for m, p in api_events}
    assert all(e.path == "request" for e in graph.edges if e.purpose == "invokes")
    assert any(e.path == "schedule" for e in graph.edges if e.purpose == "triggers")


def test_graph_json_is_deterministic(repo_root: Path) -> None:
    first = generate_diagrams.graph_text(build_graph(repo_root).to_json())
    second = generate_diagrams.graph_text(build_graph(repo_root).to_json())
    assert first == second
    assert str(repo_root) not in first  # no absolute paths


def test_committed_graph_matches_the_code(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate_diagrams.main(["--check"]) == 0, capsys.readouterr().err


# -- what the plan adds shows up ------------------------------------------------------------------------------


def _with_new_block(plan: dict[str, Any], address: str, rtype: str, values: dict[str, Any]) -> dict[str, Any]:
    """The digest as a plan with one more resource would give it (as the SSM contract parameter will)."""
    changed = copy.deepcopy(plan)
    changed["blocks"][address] = {"type": rtype, "mode": "managed", "refs": {}, "depends_on": []}
    changed["instances"][address] = {"block": address, "type": rtype, "index": None, "values": values}
    return changed


def test_a_resource_new_in_the_plan_appears_without_touching_the_script(repo_root: Path, graph: Graph) -> None:
    plan = load_plan(repo_root, "dev")
    changed = _with_new_block(plan, "aws_ssm_parameter.feature_flags", "aws_ssm_parameter", {"name": "/tfsam/dev/x"})
    changed = _with_new_block(changed, "aws_brand_new_thing.x", "aws_brand_new_thing", {})
    new = build_graph(repo_root, "dev", changed)
    assert new.nodes["aws_ssm_parameter.feature_flags"].kind == "parameter"
    assert new.nodes["aws_ssm_parameter.feature_flags"].label == "/tfsam/dev/x"
    assert new.nodes["aws_brand_new_thing.x"].kind == "resource"  # unknown types still appear
    assert "aws_ssm_parameter.feature_flags" not in graph.nodes


def test_edges_come_from_the_plan_references(repo_root: Path) -> None:
    """Move the DLQ alarm's action from the topic to the queue in the digest: the notifies edge follows."""
    plan = load_plan(repo_root, "dev")
    alarm = next(a for a, b in plan["blocks"].items() if "QueueName" in json.dumps(plan["instances"].get(a, {})))
    queue = next(a for a, i in plan["instances"].items() if i["type"] == "aws_sqs_queue")
    before = {(e.source, e.target) for e in build_graph(repo_root, "dev", plan).edges if e.purpose == "notifies"}
    plan["blocks"][alarm]["refs"]["alarm_actions"] = [f"{queue}.arn"]
    after = {(e.source, e.target) for e in build_graph(repo_root, "dev", plan).edges if e.purpose == "notifies"}
    assert (alarm, queue) in after and (alarm, queue) not in before


# -- environments: each drawn from its own plan ----------------------------------------------------------------


def _tfvars(repo_root: Path, env: str) -> dict[str, Any]:
    with (repo_root / "terraform" / "environments" / f"{env}.tfvars").open() as fh:
        raw = hcl2.load(fh)
    return {k: (v.strip('"') if isinstance(v, str) else v) for k, v in raw.items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_graph_follows_its_tfvars(repo_root: Path, env: str) -> None:
    tfvars = _tfvars(repo_root, env)
    g = build_graph(repo_root, env)
    assert g.environment == env and load_plan(repo_root, env)["environment"] == env
    nat = [n for n in g.of_kind("nat_gateway") if n.attrs.get("instances") != 0]
    azs = tfvars["az_count"]
    expected_nat = 0 if not tfvars.get("enable_nat_gateway") else 1 if tfvars.get("single_nat_gateway", True) else azs
    assert len(nat) == expected_nat
    assert len([n for n in g.of_kind("subnet") if n.block.endswith(".private")]) == azs
    (table,) = [n for n in g.of_kind("table") if n.owner == "terraform"]
    assert table.attrs["point_in_time_recovery"] is tfvars["enable_point_in_time_recovery"]
    assert table.attrs["deletion_protection_enabled"] is tfvars["enable_deletion_protection"]


def test_dev_and_prod_pictures_differ_where_the_plans_do(repo_root: Path) -> None:
    dev, prod = (build_graph(repo_root, env) for env in ("dev", "prod"))
    assert set(prod.nodes) - set(dev.nodes), "prod plans resources dev does not (NAT per AZ, a third AZ)"
    prod_nat = [n for n in prod.of_kind("nat_gateway") if n.attrs.get("instances") != 0]
    prod_azs = {n.attrs["availability_zone"] for n in prod.of_kind("subnet")}
    assert {n.id.split('"')[1] for n in prod_nat} == prod_azs  # one NAT gateway in every AZ
    assert all(n.attrs.get("instances") == 0 for n in dev.of_kind("nat_gateway"))
    assert "(none in dev)" in next(n.label for n in dev.of_kind("nat_gateway"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_contract_in_each_plan_digest_names_every_template_parameter(repo_root: Path, env: str) -> None:
    # Once `sam_parameters` became `value = local.sam_parameters`, a digest with no contract drew no functions and
    # the loop below passed on nothing.
    template = load_template(repo_root / "sam" / "template.yaml", repo_root)
    contract = load_plan(repo_root, env)["sam_parameters"]
    assert set(contract) == set(template.parameters)
    for key in ("ApiFunctionName", "ProcessorFunctionName", "ScheduledFunctionName"):
        assert contract[key]["value"].startswith(f"tfsam-{env}-"), contract[key]


def test_functions_run_inside_the_private_subnets_of_the_vpc(graph: Graph) -> None:
    assert graph.of_kind("function"), "no function in the graph"
    for fn in graph.of_kind("function"):
        subnets = [graph.nodes[e.target] for e in graph.edges if e.source == fn.id and e.purpose == "ENI in"]
        assert subnets, fn.id
        for subnet in subnets:
            cluster = graph.clusters[subnet.cluster or ""]
            assert cluster.kind == "subnets"
            assert graph.clusters[cluster.parent or ""].kind == "vpc"


# -- --check -------------------------------------------------------------------------------------------------


def test_check_fails_on_a_modified_graph_and_names_what_changed(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 0
    capsys.readouterr()
    path = generate_diagrams.graph_path(repo_copy, "prod")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["nodes"] = [n for n in data["nodes"] if n["kind"] != "nat_gateway"]
    path.write_text(generate_diagrams.graph_text(data), encoding="utf-8")
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 1
    err = capsys.readouterr().err
    assert "graph-prod.json" in err and "+ node aws_nat_gateway.this" in err
    assert "generate_diagrams.py" in err  # says how to fix it


def test_check_fails_when_terraform_changed_since_the_plans(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo_copy / "terraform" / "zz_added.tf").write_text('resource "aws_sqs_queue" "new" {}\n', encoding="utf-8")
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 1
    err = capsys.readouterr().err
    assert "tfplan-dev.json" in err and "tfplan-prod.json" in err


def test_check_fails_when_the_parameter_table_is_edited_by_hand(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo_copy / "docs" / "architecture.md"
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace("| `TableName` |", "| `TableNameRenamed` |"), encoding="utf-8")
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 1
    assert "architecture.md" in capsys.readouterr().err


def test_plan_digest_is_terraform_output_not_a_copy_of_the_code(repo_root: Path) -> None:
    """Per-AZ keys, planned names and the Terraform version only exist once Terraform evaluated the module."""
    for env in ENVIRONMENTS:
        plan = load_plan(repo_root, env)
        assert plan["terraform_version"]
        assert plan["inputs_sha256"] == tfplan.inputs_sha256(repo_root / "terraform", env)
        subnets = [i for i in plan["instances"].values() if i["type"] == "aws_subnet"]
        assert subnets and all(isinstance(i["index"], str) for i in subnets)


# -- the pictures ----------------------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_every_picture_is_readable_at_natural_size(repo_root: Path, tmp_path: Path) -> None:
    graphs = {env: build_graph(repo_root, env) for env in ENVIRONMENTS}
    outputs = render_all(graphs, tmp_path, "dev")
    assert outputs == picture_paths(tmp_path, list(ENVIRONMENTS))
    # graphviz renders PNG at 96 dpi: a label of N points is N * 96 / 72 px high at natural size.
    label_px = float(NODE_ATTR["fontsize"]) * 96 / 72
    for png in outputs:
        width, height = _png_size(png)
        assert 0.5 <= width / height <= 2.0, (png.name, width, height)
        scaled = label_px * min(1.0, 1600 / width)
        assert scaled >= 10, (png.name, width, scaled)
        assert png.stat().st_size > 20_000, png  # icons and labels, not an empty canvas
    for env in ENVIRONMENTS:
        assert (tmp_path / f"architecture-{env}.png").is_file() and (tmp_path / f"iam-{env}.png").is_file()
    # No edge crosses the whole picture (the old architecture.png had role -> resource edges spanning the page):
    # measured on graphviz's own layout of each picture (-Tjson), as the share of the drawing's width and height.
    for png in outputs:
        layout = LAYOUTS[png.name]
        x0, y0, x1, y1 = (float(v) for v in layout["bb"].split(","))
        for edge in layout.get("edges", []):
            points = [p for op in edge.get("_draw_", []) if op["op"] in ("b", "B") for p in op["points"]]
            if not points:
                continue  # invisible layout edges
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            span = max((max(xs) - min(xs)) / (x1 - x0), (max(ys) - min(ys)) / (y1 - y0))
            assert span < 0.85, (png.name, edge.get("label"), round(span, 2))


def test_committed_pictures_are_the_ones_the_docs_embed(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "architecture.md").read_text(encoding="utf-8")
    for png in picture_paths(repo_root / "docs" / "images", list(ENVIRONMENTS)):
        assert png.is_file(), png
        assert f"(images/{png.name})" in doc, png.name
        width, height = _png_size(png)
        assert 0.5 <= width / height <= 2.0, (png.name, width, height)


def test_graph_json_has_no_timestamps_or_unknown_sentinels(graph: Graph) -> None:
    text = json.dumps(graph.to_json())
    assert "UNKNOWN" not in text
    assert not re.search(r"20\d\d-\d\d-\d\dT\d\d:", text)
