"""Render the graphs with `diagrams` (AWS icons) + graphviz into the PNGs of docs/images/.

Only drawing decisions live here (which kinds each picture shows, icons, colours); what exists and how it is
connected comes from the graph. Instances of one Terraform block (three roles of `aws_iam_role.function`, nine
alarms of `aws_cloudwatch_metric_alarm.function`) are drawn as one box listing them. Per environment: the
architecture (network with the functions inside, data, SAM API) and IAM in its own picture; the simple and
data-flow pictures are drawn for dev.
"""

from __future__ import annotations

import json
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
    PrivateSubnet,
    VPCFlowLogs,
)
from diagrams.aws.security import IAM, KMS, IAMRole
from diagrams.aws.storage import S3

from diagramgen.graph import Graph, Node

# graphviz's own layout (-Tjson) of each picture drawn in this process, by PNG name: the tests measure edges in it.
LAYOUTS: dict[str, dict[str, Any]] = {}


def _keep_layout(out_png: Path, diagram: Diagram) -> None:
    LAYOUTS[out_png.name] = json.loads(diagram.dot.pipe(format="json", quiet=True))


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
    "subnet": PrivateSubnet,
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
        diagram = Diagram(
            title,
            filename=str(target),
            outformat="png",
            show=False,
            direction=direction,
            graph_attr=GRAPH_ATTR,
        )
        with diagram:
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
                if graph.nodes.get(src) is not None and graph.nodes[src].kind == "stream":
                    # The stream feeds a function drawn left of it: lay the edge out forwards (function ->
                    # stream) and draw the arrow at the function, instead of a loop round the whole picture.
                    drawn[b] >> Edge(dir="back", **style) >> drawn[a]
                else:
                    drawn[a] >> Edge(**style) >> drawn[b]
        out_png.write_bytes(target.with_suffix(".png").read_bytes())
        _keep_layout(out_png, diagram)


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
    _draw(graph, f"{graph.environment}: architecture (simple)", out, nodes, edges, clusters=layers)


def _routes(graph: Graph) -> set[str]:
    return {n.id for n in graph.nodes.values() if n.kind == "route"}


def _api_of_route(graph: Graph, route_id: str) -> str:
    return next(e.source for e in graph.edges if e.target == route_id and e.purpose == "routes")


# Cluster colours: Terraform-owned parts blue, SAM-owned parts orange, so ownership reads at a glance.
TF_STYLE = {"bgcolor": "#EAF2FB", "pencolor": "#2B6CB0", "fontsize": "16", "fontcolor": "#1A4971", "style": "rounded"}
SAM_STYLE = {"bgcolor": "#FDF1E3", "pencolor": "#C05621", "fontsize": "16", "fontcolor": "#7B341E", "style": "rounded"}
SUB_STYLE = {"bgcolor": "#FFFFFF", "pencolor": "#718096", "fontsize": "14", "style": "rounded"}
# Compact layout: pictures of this size stay between 1:2 and 2:1 and legible at 1,600 px width.
PICTURE_ATTR = {
    "fontsize": "22",
    "pad": "0.3",
    "nodesep": "0.25",
    "ranksep": "0.6",
    "splines": "spline",
    "newrank": "true",
    "compound": "true",
}
NODE_ATTR = {"fontsize": "13", "width": "1.1", "height": "1.1", "imagescale": "true"}


def _box_label(graph: Graph, ids: list[str], title: str, limit: int = 5, width: int = 34) -> str:
    names = sorted(graph.nodes[i].label.split("\n")[0] for i in ids)
    shown = names if len(names) <= limit else [*names[: limit - 1], f"... {len(names) - limit + 1} more"]
    if len(ids) == 1:
        return _wrap(graph.nodes[ids[0]].label, width)
    return _wrap(f"{title} x{len(ids)}\n" + "\n".join(shown), width)


class _Picture:
    """A diagrams canvas with named boxes; edges join boxes by graph node id (several ids may share a box)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.box_of: dict[str, DNode] = {}
        self.seen: set[tuple[int, int, str]] = set()

    def box(self, kind: str, label: str, ids: list[str]) -> DNode | None:
        if not ids:
            return None
        node = ICONS.get(kind, General)(label)
        for i in ids:
            self.box_of[i] = node
        return node

    @staticmethod
    def grid(nodes: list[DNode | None], columns: int) -> None:
        """Unconnected boxes would share one rank (a single tall column in LR): invisible edges wrap them into
        rows of ``columns`` boxes instead."""
        drawn = [n for n in nodes if n is not None]
        for i, node in enumerate(drawn):
            if (i + 1) % columns and i + 1 < len(drawn):
                node >> Edge(style="invis") >> drawn[i + 1]

    @staticmethod
    def after(anchor: DNode | None, nodes: list[DNode | None], minlen: int = 1) -> None:
        """Keep boxes right of ``anchor`` (LR): otherwise boxes without drawn edges sit in the first rank and
        their cluster overlaps the API's, which stacks the clusters into one tall column."""
        for node in nodes:
            if anchor is not None and node is not None:
                anchor >> Edge(style="invis", minlen=str(minlen)) >> node

    def edge(self, src: str, dst: str, *, back: bool = False, **style: str) -> None:
        a, b = self.box_of.get(src), self.box_of.get(dst)
        if a is None or b is None or a is b:
            return
        key = (id(a), id(b), style.get("label", ""))
        if key in self.seen:
            return
        self.seen.add(key)
        style.setdefault("fontsize", "12")
        if back:  # data flows right to left here: lay the edge out forwards, draw the arrow at its source
            b >> Edge(dir="back", **style) >> a
        else:
            a >> Edge(**style) >> b


def _ids(graph: Graph, *kinds: str, owner: str | None = None) -> list[str]:
    return [n.id for n in graph.of_kind(*kinds) if owner is None or n.owner == owner]


def _blocks(graph: Graph, ids: list[str]) -> dict[str, list[str]]:
    """Instances of one resource block (and kind: a table's stream shares its block) share one box."""
    out: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        node = graph.nodes[i]
        out[node.block if node.kind != "stream" else f"{node.block} stream"].append(i)
    return dict(sorted(out.items()))


def _canvas(title: str, out_png: Path, direction: str = "LR", **attrs: str) -> Any:
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp()
    diagram = Diagram(
        title,
        filename=str(Path(tmp) / out_png.stem),
        outformat="png",
        show=False,
        direction=direction,
        graph_attr={**PICTURE_ATTR, **attrs},
        node_attr=NODE_ATTR,
    )
    return diagram, Path(tmp) / f"{out_png.stem}.png"


def _env_facts(graph: Graph) -> str:
    """The environment-specific settings the plan evaluated, for the picture's title."""
    nat = [n for n in graph.of_kind("nat_gateway") if n.attrs.get("instances") != 0]
    azs = {n.attrs.get("availability_zone") for n in graph.of_kind("subnet")}
    table = next((n for n in graph.of_kind("table") if n.owner == "terraform"), None)
    facts = [f"{len(azs)} AZs", f"{len(nat)} NAT gateway{'s' if len(nat) != 1 else ''}"]
    interface = [n for n in graph.of_kind("vpc_endpoint") if n.attrs.get("vpc_endpoint_type") == "Interface"]
    facts.append(f"{len(interface)} interface endpoints")
    if table is not None:
        facts.append(f"PITR {'on' if table.attrs.get('point_in_time_recovery') else 'off'}")
        facts.append(f"deletion protection {'on' if table.attrs.get('deletion_protection_enabled') else 'off'}")
    return ", ".join(facts)


def render_architecture(graph: Graph, out: Path) -> None:  # noqa: PLR0912, PLR0915 - one block per cluster
    """One environment as its plan has it: the VPC with the functions inside the private subnets they run in,
    Terraform-owned data and operations, the SAM-owned API and events; IAM is in its own picture."""
    g = graph
    pic = _Picture(g)
    title = f"{g.environment}: architecture from terraform plan ({_env_facts(g)})"
    diagram, png = _canvas(title, out, "LR", nodesep="0.35", ranksep="0.7")
    anchor_net: DNode | None = None
    with diagram:
        client = pic.box("client", "Client\n(HTTPS)", _ids(g, "client"))
        with DCluster("SAM (app layer): API and events", graph_attr=SAM_STYLE):
            for api in _ids(g, "api", owner="sam"):
                # The network starts two columns right of the API (after its routes); anchoring on the API, not
                # the routes box, keeps the routes -> function edges short.
                anchor_net = pic.box("api", g.nodes[api].label, [api]) or anchor_net
                routes = [e.target for e in g.edges if e.source == api and e.purpose == "routes"]
                pic.box("routes", _box_label(g, routes, "routes", 6), routes)
            for ev in _ids(g, "schedule", "event_source", owner="sam"):
                pic.box(g.nodes[ev].kind, g.nodes[ev].label, [ev])
            layers = _ids(g, "layer", owner="sam")
            pic.box("layer", _box_label(g, layers, "layers"), layers)
        # Columns, left to right: SAM API | network (subnets, then the functions / NAT / other pieces) | data
        # and operations. Invisible edges keep each cluster in its own columns so the clusters sit side by side.
        last_net: list[DNode | None] = []
        with DCluster("Terraform (infra layer): network", graph_attr=TF_STYLE):
            for vpc in _ids(g, "vpc"):
                cidr = g.nodes[vpc].attrs.get("cidr_block", "")
                with DCluster(f"VPC {g.nodes[vpc].label} {cidr}", graph_attr=SUB_STYLE):
                    for cid, cluster in sorted(g.clusters.items()):
                        if cluster.kind != "subnets" or cluster.parent != f"vpc:{vpc}":
                            continue
                        members = [n.id for n in g.nodes.values() if n.cluster == cid]
                        subnets = sorted(i for i in members if g.nodes[i].kind == "subnet")
                        runs_here = sorted({e.source for e in g.edges if e.purpose == "ENI in" and e.target in subnets})
                        with DCluster(cluster.label, graph_attr={**SUB_STYLE, "bgcolor": "#F7FAFC"}):
                            first = [pic.box("subnet", _box_label(g, subnets, "subnets", 4), subnets)]
                            others = [
                                pic.box(g.nodes[ids[0]].kind, _box_label(g, ids, block.split(".", 1)[1]), ids)
                                for block, ids in _blocks(
                                    g, [i for i in members if g.nodes[i].kind != "subnet"]
                                ).items()
                            ]
                            pic.after(anchor_net, first, 2)
                            if runs_here:
                                # endpoints beside the subnets, the functions right of them
                                pic.after(anchor_net, others, 2)
                                with DCluster("SAM functions (ENI in every subnet above)", graph_attr=SAM_STYLE):
                                    fns = [pic.box("function", g.nodes[fn].label, [fn]) for fn in runs_here]
                                pic.after(first[0], fns)
                                last_net += fns
                            else:
                                pic.after(first[0], others)
                                last_net += others
                    in_vpc = [n.id for n in g.nodes.values() if n.cluster == f"vpc:{vpc}" and n.kind != "vpc"]
                    misc = [
                        pic.box(g.nodes[ids[0]].kind, _box_label(g, ids, block.split(".", 1)[1]), ids)
                        for block, ids in _blocks(g, in_vpc).items()
                    ]
                    pic.grid(misc, 2)
                    pic.after(anchor_net, misc[::2], 2)
                    last_net += misc[1::2]
        with DCluster("Terraform (infra layer): data and operations", graph_attr=TF_STYLE):
            heads: list[DNode | None] = []
            for table in _ids(g, "table", owner="terraform"):
                attrs = g.nodes[table].attrs
                facts = (
                    f"PITR {'on' if attrs.get('point_in_time_recovery') else 'off'}, "
                    f"deletion protection {'on' if attrs.get('deletion_protection_enabled') else 'off'}"
                )
                with DCluster(f"DynamoDB {g.nodes[table].label}:\n{facts}", graph_attr=SUB_STYLE):
                    heads.append(pic.box("table", g.nodes[table].label, [table]))
                    gsis = [n.id for n in g.nodes.values() if n.kind == "gsi" and n.cluster == f"table:{table}"]
                    heads.append(pic.box("gsi", _box_label(g, gsis, "GSIs"), gsis))
                    for st in (n.id for n in g.nodes.values() if n.kind == "stream" and n.cluster == f"table:{table}"):
                        pic.box("stream", g.nodes[st].label, [st])
            for kind in ("queue", "topic"):
                for block, ids in _blocks(g, _ids(g, kind, owner="terraform")).items():
                    box = pic.box(kind, _box_label(g, ids, block.split(".", 1)[1]), ids)
                    heads += [box] if kind == "queue" else []
            misc = [
                pic.box(kind, _box_label(g, ids, block.split(".", 1)[1]), ids)
                for kind in ("bucket", "kms_key", "dashboard", "secret", "parameter", "resource", "api_account")
                for block, ids in _blocks(g, _ids(g, kind, owner="terraform")).items()
            ]
            pic.grid(misc, 3)
            heads += misc[::3]
            logs = _ids(g, "log_group", owner="terraform")
            heads.append(pic.box("log_group", _box_label(g, logs, "log groups", 6), logs))
            for node in last_net:
                pic.after(node, heads)
            alarms = _ids(g, "alarm", owner="terraform")
            pic.box("alarm", _box_label(g, alarms, "alarms", 6), alarms)
        # Edges: the paths and what the functions touch; IAM and per-alarm monitoring stay out of this picture.
        for e in sorted(g.edges):
            if e.purpose == "polled by (event source mapping)":
                pic.edge(e.source, e.target, back=True, **_edge_style(e.purpose, e.path, "polled by (ESM)"))
            elif e.purpose in ("calls", "invokes", "triggers", "change records"):
                pic.edge(e.source, e.target, **_edge_style(e.purpose, e.path, e.label if e.purpose == "calls" else ""))
            elif e.purpose in ("on-failure", "notifies", "logs to"):
                pic.edge(e.source, e.target, **_edge_style(e.purpose, e.path, e.purpose))
            elif e.purpose == "accesses" and g.nodes[e.target].kind != "stream":  # the ESM edge says it
                pic.edge(e.source, e.target, **_edge_style(e.purpose, e.path, e.label))
        for api in _ids(g, "api", owner="sam"):
            routes = [e.target for e in g.edges if e.source == api and e.purpose == "routes"]
            if routes:
                pic.edge(api, routes[0], **_edge_style("routes", "request", "routes"))
        for e in sorted(g.edges):
            if e.purpose == "monitors" and g.nodes[e.target].kind == "queue":
                pic.edge(e.target, e.source, **_edge_style("monitors", "dlq", "depth"))
        del client
    out.write_bytes(png.read_bytes())
    _keep_layout(out, diagram)


def render_iam(graph: Graph, out: Path) -> None:
    """Roles grouped by who assumes them, and what each group's policies name (grouped by resource block)."""
    g = graph
    pic = _Picture(g)
    diagram, png = _canvas(
        f"{g.environment}: IAM roles (dashed: assumes) and what their policies name (dotted: grants, red: deny)",
        out,
        "TB",
        nodesep="0.6",
        ranksep="1.2",
    )
    # Every dotted edge is a grant of the role's policies (red: an explicit Deny); labels would cover the page.
    roles = _ids(g, "role", owner="terraform")
    assumed = {e.target: e.source for e in g.edges if e.purpose == "assumes"}
    fn_roles = [r for r in roles if r in assumed]
    # No service principal in the trust policy: assumed through the OIDC provider (federated), i.e. by CI.
    ci_roles = [r for r in roles if r not in assumed and not any(p.endswith(".amazonaws.com") for p in _trust(g, r))]
    other = [r for r in roles if r not in fn_roles and r not in ci_roles]
    with diagram:
        with DCluster("SAM (app layer)", graph_attr=SAM_STYLE):
            for r in fn_roles:
                # Logical id only: the function name repeats in its role's name right below.
                pic.box("function", g.nodes[assumed[r]].label.split("\n")[0], [assumed[r]])
        with DCluster("Terraform (infra layer): roles", graph_attr=TF_STYLE):
            with DCluster("function execution roles", graph_attr=SUB_STYLE):
                for r in fn_roles:
                    pic.box("role", _wrap(g.nodes[r].label, 16), [r])
            # Two boxes per column (TB: invisible edges stack them) keep the row of roles narrow.
            with DCluster("CI roles (GitHub OIDC)", graph_attr=SUB_STYLE):
                ci = [pic.box("role", _wrap(g.nodes[r].label, 16), [r]) for r in ci_roles]
                ci.append(pic.box("identity_provider", "GitHub OIDC\nprovider", _ids(g, "identity_provider")))
                pic.grid(ci, 2)
            with DCluster("service roles", graph_attr=SUB_STYLE):
                pic.grid([pic.box("role", _wrap(g.nodes[r].label, 16), [r]) for r in other], 2)
        granted = sorted({e.target for e in g.edges if e.purpose in ("grants", "denies") and e.source in roles})
        with DCluster("Terraform (infra layer): resources the policies name", graph_attr=TF_STYLE):
            for block, ids in _blocks(g, [t for t in granted if g.nodes[t].kind != "role"]).items():
                kind = g.nodes[ids[0]].kind
                label = _box_label(g, ids, block.split(".", 1)[1], 4, 20)
                if kind == "stream":  # "Stream\nNEW_AND_OLD_IMAGES" is wider than its icon; say whose it is
                    label = f"stream of\n{g.nodes[ids[0].rsplit('/', 1)[0]].label}"
                pic.box(kind, label, ids)
        for r in fn_roles:
            pic.edge(assumed[r], r, **_edge_style("assumes", "", "assumes"))
        # One edge per role and resource box, labelled with the union of read/write: few, short edges.
        for e in sorted(g.edges):
            if e.purpose in ("grants", "denies") and e.source in roles:
                pic.edge(e.source, e.target, **{**_edge_style(e.purpose, "", ""), "label": ""})
    out.write_bytes(png.read_bytes())
    _keep_layout(out, diagram)


def _trust(graph: Graph, role: str) -> list[str]:
    return [str(p).lower() for p in graph.nodes[role].attrs.get("trusted_principals", [])]


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
        f"{graph.environment}: data flow (request, stream, schedule and DLQ paths)",
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


def picture_paths(images: Path, environments: list[str]) -> list[Path]:
    """Every PNG render_all writes, in order (the tests and the docs use the same list)."""
    per_env = [images / f"{kind}-{env}.png" for env in environments for kind in ("architecture", "iam")]
    return [images / "architecture_simple.png", images / "dataflow.png", *per_env]


def render_all(graphs: dict[str, Graph], images: Path, default: str = "dev") -> list[Path]:
    outputs = picture_paths(images, list(graphs))
    render_simple(graphs[default], outputs[0])
    render_dataflow(graphs[default], outputs[1])
    for env, graph in graphs.items():
        render_architecture(graph, images / f"architecture-{env}.png")
        render_iam(graph, images / f"iam-{env}.png")
    return outputs
