"""Render the graph with `diagrams` (AWS icons) + graphviz into the three PNGs of docs/images/.

Only drawing decisions live here (which kinds each picture shows, icons, colours); what exists and how it is
connected comes from the graph. Instances of one Terraform block (three roles of `aws_iam_role.function`, nine
alarms of `aws_cloudwatch_metric_alarm.function`) are drawn as one box listing them, except subnets, which are
drawn per AZ because placement is the point of the network picture.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diagrams import Cluster as DCluster
from diagrams import Diagram, Edge
from diagrams import Node as DNode
from diagrams.aws.compute import Lambda, LambdaFunction
from diagrams.aws.database import Dynamodb, DynamodbGSI, DynamodbStreams
from diagrams.aws.general import General, Users
from diagrams.aws.integration import SNS, SQS, EventbridgeScheduler
from diagrams.aws.management import Cloudwatch, CloudwatchAlarm, CloudwatchLogs
from diagrams.aws.network import (
    VPC,
    APIGateway,
    APIGatewayEndpoint,
    Endpoint,
    InternetGateway,
    Nacl,
    NATGateway,
    VPCFlowLogs,
)
from diagrams.aws.security import IAM, KMS, IAMRole
from diagrams.aws.storage import S3

from diagramgen.graph import Graph, Node

ICONS: dict[str, type[DNode]] = {
    "function": Lambda,
    "layer": LambdaFunction,
    "api": APIGateway,
    "route": APIGatewayEndpoint,
    "routes": APIGatewayEndpoint,
    "table": Dynamodb,
    "gsi": DynamodbGSI,
    "stream": DynamodbStreams,
    "queue": SQS,
    "topic": SNS,
    "bucket": S3,
    "role": IAMRole,
    "identity_provider": IAM,
    "log_group": CloudwatchLogs,
    "alarm": CloudwatchAlarm,
    "dashboard": Cloudwatch,
    "log_query": CloudwatchLogs,
    "kms_key": KMS,
    "vpc": VPC,
    "internet_gateway": InternetGateway,
    "nat_gateway": NATGateway,
    "vpc_endpoint": Endpoint,
    "flow_log": VPCFlowLogs,
    "security_group": Nacl,
    "schedule": EventbridgeScheduler,
    "client": Users,
}
PATH_COLORS = {"request": "darkblue", "stream": "darkorange", "schedule": "purple", "dlq": "firebrick"}
PATH_TITLES = {"request": "request", "stream": "stream", "schedule": "schedule", "dlq": "DLQ"}
GRAPH_ATTR = {"fontsize": "20", "pad": "0.4", "nodesep": "0.4", "ranksep": "0.9", "splines": "spline"}
EDGE_STYLE: dict[str, dict[str, str]] = {
    "assumes": {"color": "gray40", "style": "dashed"},
    "grants": {"color": "gray50", "style": "dotted"},
    "denies": {"color": "red", "style": "dotted"},
    "logs to": {"color": "gray60", "style": "dotted"},
    "access logs": {"color": "gray60", "style": "dotted"},
    "monitors": {"color": "gray60", "style": "dashed"},
    "notifies": {"color": "firebrick", "style": "dashed"},
    "ENI in": {"color": "darkgreen", "style": "dashed"},
    "imports": {"color": "gray40", "style": "dotted"},
    "index of": {"color": "gray70", "style": "solid"},
}


@dataclass
class Box:
    """One drawn node: a graph node, or all instances of one Terraform block."""

    id: str
    kind: str
    label: str
    cluster: str | None
    members: list[str] = field(default_factory=list)


def boxes_for(graph: Graph, node_ids: set[str]) -> tuple[dict[str, Box], dict[str, str]]:
    """Group instances by block; returns boxes and node id -> box id."""
    by_block: dict[tuple[str, str], list[Node]] = defaultdict(list)
    for nid in sorted(node_ids):
        node = graph.nodes[nid]
        per_instance = node.kind in ("subnet",) or node.owner != "terraform" or "/" in nid
        by_block[(nid if per_instance else node.block, node.kind)].append(node)
    boxes: dict[str, Box] = {}
    member_of: dict[str, str] = {}
    for (block, kind), nodes in sorted(by_block.items()):
        if len(nodes) == 1:
            label = nodes[0].label
        else:
            keys = [n.id.removeprefix(block).strip('[]"') for n in nodes]
            shown = keys if len(keys) <= 4 else [*keys[:3], f"... {len(keys) - 3} more"]
            label = f"{block.split('.', 1)[1]} x{len(nodes)}\n" + "\n".join(shown)
        box = Box(block, kind, _wrap(label), nodes[0].cluster, [n.id for n in nodes])
        boxes[block] = box
        for n in nodes:
            member_of[n.id] = block
    return boxes, member_of


def _wrap(label: str, width: int = 28) -> str:
    lines = []
    for line in label.split("\n"):
        rest = line
        while len(rest) > width and "-" in rest[width // 2 :]:
            cut = rest.rfind("-", 0, width) + 1 or width
            lines.append(rest[:cut])
            rest = rest[cut:]
        lines.append(rest)
    return "\n".join(lines)


def _draw(
    graph: Graph,
    title: str,
    out_png: Path,
    node_ids: set[str],
    edges: list[tuple[str, str, dict[str, Any]]],
    *,
    clusters: bool | set[str] = True,
    direction: str = "LR",
    extra_boxes: list[Box] | None = None,
) -> None:
    """Draw boxes inside their clusters (outermost first), then edges between boxes."""
    boxes, member_of = boxes_for(graph, node_ids)
    for box in extra_boxes or []:
        boxes[box.id] = box
        member_of[box.id] = box.id
    allowed = set(graph.clusters) if clusters is True else (clusters or set())
    children: dict[str | None, list[str]] = defaultdict(list)
    for cid in sorted(allowed):
        parent = graph.clusters[cid].parent
        while parent is not None and parent not in allowed:
            parent = graph.clusters[parent].parent
        children[parent].append(cid)

    def home(cluster: str | None) -> str | None:
        while cluster is not None and cluster not in allowed:
            cluster = graph.clusters[cluster].parent if cluster in graph.clusters else None
        return cluster

    boxes_in: dict[str | None, list[Box]] = defaultdict(list)
    for box in boxes.values():
        boxes_in[home(box.cluster)].append(box)
    drawn: dict[str, DNode] = {}

    def used(cid: str) -> bool:
        return bool(boxes_in.get(cid)) or any(used(c) for c in children.get(cid, []))

    def fill(cid: str | None) -> None:
        for box in sorted(boxes_in.get(cid, []), key=lambda b: b.id):
            drawn[box.id] = ICONS.get(box.kind, General)(box.label)
        for child in children.get(cid, []):
            if used(child):
                with DCluster(graph.clusters[child].label, graph_attr={"fontsize": "14"}):
                    fill(child)

    out_png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / out_png.stem
        with Diagram(
            title, filename=str(target), outformat="png", show=False, direction=direction, graph_attr=GRAPH_ATTR
        ):
            fill(None)
            seen: set[tuple[str, str, str]] = set()
            for src, dst, style in edges:
                a, b = member_of.get(src), member_of.get(dst)
                if a is None or b is None or a == b:
                    continue
                key = (a, b, style.get("label", ""))
                if key in seen:
                    continue
                seen.add(key)
                drawn[a] >> Edge(**style) >> drawn[b]
        out_png.write_bytes(target.with_suffix(".png").read_bytes())


def _edge_style(purpose: str, path: str, label: str) -> dict[str, str]:
    style = dict(EDGE_STYLE.get(purpose, {}))
    if path and purpose not in ("grants", "denies"):
        style.update(color=PATH_COLORS[path], style="bold")
    text = label or purpose
    style["label"] = text if len(text) <= 30 else text[:28] + "..."
    style.setdefault("fontsize", "11")
    return style


SIMPLE_KINDS = {"client", "api", "function", "table", "stream", "queue", "topic", "schedule", "bucket"}
SIMPLE_PURPOSES = {
    "calls",
    "invokes",
    "polled by (event source mapping)",
    "triggers",
    "on-failure",
    "accesses",
    "change records",
    "notifies",
}


def render_simple(graph: Graph, out: Path) -> None:
    """The request, stream and schedule paths at a glance: no network, IAM or monitoring detail."""
    nodes = {n.id for n in graph.nodes.values() if n.kind in SIMPLE_KINDS}
    edges = []
    for e in sorted(graph.edges):
        if e.purpose in SIMPLE_PURPOSES and e.source in nodes | _routes(graph) and e.target in nodes:
            src = _api_of_route(graph, e.source) if graph.nodes[e.source].kind == "route" else e.source
            label = "invoke" if e.purpose == "invokes" else e.purpose.split(" (")[0]
            edges.append((src, e.target, _edge_style(e.purpose, e.path, label)))
    # Alarms reach people through the topic: keep one hop, queue -> topic, for the DLQ path.
    for e in sorted(graph.edges):
        if e.purpose == "notifies" and e.path == "dlq":
            for m in graph.edges:
                if m.source == e.source and m.purpose == "monitors" and m.target in nodes:
                    edges.append((m.target, e.target, _edge_style("notifies", "dlq", "depth alarm")))
    layers = {c for c, cl in graph.clusters.items() if cl.kind in ("layer", "table")}
    _draw(graph, "Architecture (simple)", out, nodes, edges, clusters=layers)


def _routes(graph: Graph) -> set[str]:
    return {n.id for n in graph.nodes.values() if n.kind == "route"}


def _api_of_route(graph: Graph, route_id: str) -> str:
    return next(e.source for e in graph.edges if e.target == route_id and e.purpose == "routes")


FULL_SKIP_PURPOSES = {"configured with", "routes"}
GRANT_TARGET_KINDS = {"table", "stream", "queue", "topic", "bucket", "log_group", "secret", "parameter", "role"}


def render_full(graph: Graph, out: Path) -> None:
    """Every component, in its owning layer; VPC and subnets as clusters; routes listed on one box per API."""
    nodes = {n.id for n in graph.nodes.values() if n.kind != "route"}
    route_boxes = _route_boxes(graph)
    edges = []
    for e in sorted(graph.edges):
        if e.purpose in FULL_SKIP_PURPOSES:
            continue
        if e.purpose in ("grants", "denies") and graph.nodes[e.target].kind not in GRANT_TARGET_KINDS:
            continue
        if e.purpose == "accesses":
            continue  # drawn as function -> role -> resource (assumes + grants) in this picture
        src = e.source
        if graph.nodes[src].kind == "route":
            src = f"routes:{_api_of_route(graph, src)}"
        edges.append((src, e.target, _edge_style(e.purpose, e.path, e.label or e.purpose)))
    for box in route_boxes:
        api = box.id.removeprefix("routes:")
        edges.append((api, box.id, _edge_style("routes", "request", "routes")))
    _draw(
        graph,
        "Architecture: Terraform-owned infra layer and SAM-owned app layer",
        out,
        nodes,
        edges,
        extra_boxes=route_boxes,
    )


def _route_boxes(graph: Graph) -> list[Box]:
    per_api: dict[str, list[str]] = defaultdict(list)
    for e in sorted(graph.edges):
        if e.purpose == "routes":
            per_api[e.source].append(graph.nodes[e.target].label)
    return [
        Box(f"routes:{api}", "routes", f"{len(routes)} routes\n" + "\n".join(sorted(routes)), graph.nodes[api].cluster)
        for api, routes in sorted(per_api.items())
    ]


def render_dataflow(graph: Graph, out: Path) -> None:
    """The four paths, coloured and numbered in flow order: request (client -> API -> function -> table), stream
    (table -> stream -> processor), schedule (rule -> job -> table) and DLQ (failed batch -> queue -> alarm ->
    topic)."""
    route_boxes = _route_boxes(graph)
    route_box_of = {r: f"routes:{_api_of_route(graph, r)}" for r in _routes(graph)}
    failure_targets = {(e.source, e.target) for e in graph.edges if e.purpose == "on-failure"}
    per_path: dict[str, dict[tuple[str, str], str]] = {p: {} for p in PATH_COLORS}
    for e in sorted(graph.edges):
        if not e.path or (e.purpose == "accesses" and (e.source, e.target) in failure_targets):
            continue  # the ESM, not the code, writes the DLQ: that edge is drawn as on-failure
        src = route_box_of.get(e.source, e.source)
        dst = route_box_of.get(e.target, e.target)
        per_path[e.path].setdefault((src, dst), e.label or e.purpose)
    # The DLQ path continues through the alarm that watches the queue.
    for e in sorted(graph.edges):
        if e.purpose == "monitors" and graph.nodes[e.target].kind == "queue":
            per_path["dlq"].setdefault((e.target, e.source), "depth > 0")
    edges: list[tuple[str, str, dict[str, Any]]] = []
    nodes: set[str] = set()
    for path, pairs in per_path.items():
        for (src, dst), step in _flow_order(pairs):
            nodes.update(n for n in (src, dst) if n in graph.nodes)
            purpose = "routes" if dst.startswith("routes:") else "flow"
            style = _edge_style(purpose, path, f"{PATH_TITLES[path]} {step}: {pairs[(src, dst)]}")
            edges.append((src, dst, style))
    layers = {c for c, cl in graph.clusters.items() if cl.kind in ("layer", "table")}
    _draw(
        graph,
        "Data flow: request, stream, schedule and DLQ paths",
        out,
        nodes,
        edges,
        clusters=layers,
        extra_boxes=route_boxes,
    )


def _flow_order(pairs: dict[tuple[str, str], str]) -> list[tuple[tuple[str, str], int]]:
    """Number edges by distance from the path's entry points (nodes nothing on the path points to)."""
    targets = {d for _, d in pairs}
    depth = {s: 0 for s, _ in pairs if s not in targets}
    if not depth and pairs:
        depth = {min(pairs)[0]: 0}
    frontier = sorted(depth)
    while frontier:
        nxt = []
        for node in frontier:
            for s, d in sorted(pairs):
                if s == node and d not in depth:
                    depth[d] = depth[node] + 1
                    nxt.append(d)
        frontier = nxt
    return sorted(((pair, depth.get(pair[0], 0) + 1) for pair in pairs), key=lambda x: (x[1], x[0]))


def render_all(graph: Graph, images: Path) -> list[Path]:
    outputs = [images / "architecture_simple.png", images / "architecture.png", images / "dataflow.png"]
    render_simple(graph, outputs[0])
    render_full(graph, outputs[1])
    render_dataflow(graph, outputs[2])
    return outputs
