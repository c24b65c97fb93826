"""The architecture graph is derived from the code: what is in terraform/ and sam/ shows up, nothing else."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import generate_diagrams
import pytest
from diagramgen.graph import Graph, build_graph
from diagramgen.hclexpr import UNKNOWN, Scope, eval_expr, evaluate
from diagramgen.render import render_all
from diagramgen.sammodel import load_template


@pytest.fixture(scope="module")
def graph(repo_root: Path) -> Graph:
    return build_graph(repo_root)


@pytest.fixture
def repo_copy(repo_root: Path, tmp_path: Path) -> Path:
    """terraform/, sam/template.yaml and docs/ copied, so a test can change the code without touching the tree."""
    for sub in ("terraform", "docs"):
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
    assert generate_diagrams.main(["--check", "--no-render"]) == 0, capsys.readouterr().err


# -- adding resources to a copy of the code --------------------------------------------------------------------


def _append_tf(repo: Path, text: str) -> None:
    (repo / "terraform" / "zz_test_additions.tf").write_text(text, encoding="utf-8")


def test_added_resources_appear_without_touching_the_script(repo_copy: Path, graph: Graph) -> None:
    (table,) = (n for n in graph.of_kind("table") if n.owner == "terraform")
    (vpc,) = graph.of_kind("vpc")
    (topic,) = graph.of_kind("topic")

    # A third GSI, inserted into the existing table block.
    tf_file = repo_copy / table.source
    text = tf_file.read_text(encoding="utf-8")
    header = re.search(rf'resource "{table.block.split(".")[0]}" "{table.block.split(".")[1]}" {{\n', text)
    assert header
    gsi = '  global_secondary_index {\n    name = "ByTestKey"\n    hash_key = "PK"\n'
    gsi += '    projection_type = "KEYS_ONLY"\n  }\n'
    tf_file.write_text(text[: header.end()] + gsi + text[header.end() :], encoding="utf-8")

    # An interface endpoint and an alarm, in a new file.
    _append_tf(
        repo_copy,
        f"""
resource "aws_vpc_endpoint" "test_sts" {{
  vpc_id            = {vpc.block}.id
  service_name      = "com.amazonaws.ap-northeast-1.sts"
  vpc_endpoint_type = "Interface"
}}

resource "aws_cloudwatch_metric_alarm" "test_gsi_throttles" {{
  alarm_name    = "test-gsi-throttles"
  namespace     = "AWS/DynamoDB"
  metric_name   = "ReadThrottleEvents"
  dimensions    = {{ TableName = {table.block}.name }}
  alarm_actions = [{topic.block}.arn]
}}
""",
    )

    # A fourth function with a schedule event, in the template.
    template = repo_copy / "sam" / "template.yaml"
    text = template.read_text(encoding="utf-8")
    function = (
        "  TestReportFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: functions/report/\n"
        "      Handler: report.handler\n"
        "      Events:\n"
        "        Weekly:\n"
        "          Type: Schedule\n"
        "          Properties:\n"
        "            Schedule: rate(7 days)\n"
    )
    template.write_text(text.replace("\nResources:\n", "\nResources:\n" + function, 1), encoding="utf-8")

    changed = build_graph(repo_copy)
    assert f"{table.id}/gsi/ByTestKey" in changed.nodes
    assert changed.nodes["aws_vpc_endpoint.test_sts"].cluster == f"vpc:{vpc.id}"
    assert ("aws_cloudwatch_metric_alarm.test_gsi_throttles", topic.id) in _edges(changed, "notifies")
    assert ("aws_cloudwatch_metric_alarm.test_gsi_throttles", table.id) in _edges(changed, "monitors")
    assert "sam:TestReportFunction" in changed.nodes
    schedule = "sam:TestReportFunction/event/Weekly"
    assert changed.nodes[schedule].kind == "schedule"
    assert (schedule, "sam:TestReportFunction") in _edges(changed, "triggers")
    # The original graph was not affected by the copy.
    assert "sam:TestReportFunction" not in graph.nodes


def test_check_fails_on_drift_and_names_what_changed(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate_diagrams.main(["--repo", str(repo_copy), "--no-render"]) == 0
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 0
    capsys.readouterr()

    (vpc_block,) = {n.block for n in build_graph(repo_copy).of_kind("vpc")}
    _append_tf(
        repo_copy,
        f'resource "aws_vpc_endpoint" "drift" {{\n  vpc_id = {vpc_block}.id\n'
        '  service_name = "com.amazonaws.ap-northeast-1.sqs"\n}\n',
    )
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 1
    err = capsys.readouterr().err
    assert "+ node aws_vpc_endpoint.drift" in err
    assert "generate_diagrams.py" in err  # says how to fix it


def test_check_fails_when_the_parameter_table_is_edited_by_hand(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate_diagrams.main(["--repo", str(repo_copy), "--no-render"]) == 0
    doc = repo_copy / "docs" / "architecture.md"
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace("| `TableName` |", "| `TableNameRenamed` |"), encoding="utf-8")
    assert generate_diagrams.main(["--repo", str(repo_copy), "--check"]) == 1
    assert "architecture.md" in capsys.readouterr().err


@pytest.mark.slow
def test_rendering_writes_three_readable_pngs(graph: Graph, tmp_path: Path) -> None:
    outputs = render_all(graph, tmp_path)
    assert [p.name for p in outputs] == ["architecture_simple.png", "architecture.png", "dataflow.png"]
    for png in outputs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 20_000, png  # icons and labels, not an empty canvas


# -- the expression evaluator the graph and the cost table rely on ---------------------------------------------


def test_hcl_expressions_evaluate_against_tfvars() -> None:
    scope = Scope({"enable": True, "single": False, "azs": ["a", "c", "d"]}, {"n": "${length(var.azs)}"})
    nat = "var.enable ? (var.single ? 1 : length(var.azs)) : 0"
    assert eval_expr(nat, scope) == 3
    assert eval_expr(nat, Scope({"enable": False, "single": False, "azs": []})) == 0
    assert evaluate("${local.n}-x", scope) == "3-x"
    assert eval_expr('{ for k in var.azs : k => "${k}!" if k != "c" }', scope) == {"a": "a!", "d": "d!"}
    assert eval_expr("merge([for k in var.azs : { (k) = 1 }]...)", scope) == {"a": 1, "c": 1, "d": 1}
    # Resource attributes are only known after apply, as in a plan.
    assert eval_expr("aws_vpc.this.id", scope) is UNKNOWN
    assert eval_expr("length([aws_vpc.this.id])", scope) is UNKNOWN
    assert eval_expr('false && aws_vpc.this.id == "x"', scope) is False


def test_graph_json_has_no_timestamps_or_unknown_sentinels(graph: Graph) -> None:
    text = json.dumps(graph.to_json())
    assert "UNKNOWN" not in text
    assert not re.search(r"20\d\d-\d\d-\d\dT\d\d:", text)
