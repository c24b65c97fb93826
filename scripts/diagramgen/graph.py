"""The architecture as a graph derived from the code: Terraform resources + the SAM template, joined through the
`sam_parameters` output (the layer contract). Nothing here names a specific resource of this project: kinds come
from resource *types*, edges from references (Terraform expressions, IAM statements, SAM Refs and events).

The graph is the contract (docs/images/graph.json, checked in CI); the PNGs are renderings of it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from diagramgen.hclexpr import UNKNOWN, Scope, evaluate
from diagramgen.sammodel import SamTemplate, Unresolved, load_template, referenced_names, resolve
from diagramgen.tfmodel import ALL, Ref, TfModule, TfResource, load_module, load_tfvars, tfvars_files

SCHEMA_VERSION = 1
DEFAULT_ENVIRONMENT = "dev"

# Terraform resource types -> kind. Types not listed here still appear (kind "resource"), unless they configure
# another resource (see _is_detail), so a new kind of infrastructure is never silently dropped.
TF_KINDS: dict[str, str] = {
    "aws_vpc": "vpc",
    "aws_subnet": "subnet",
    "aws_internet_gateway": "internet_gateway",
    "aws_nat_gateway": "nat_gateway",
    "aws_vpc_endpoint": "vpc_endpoint",
    "aws_flow_log": "flow_log",
    "aws_security_group": "security_group",
    "aws_default_security_group": "security_group",
    "aws_dynamodb_table": "table",
    "aws_sqs_queue": "queue",
    "aws_sns_topic": "topic",
    "aws_s3_bucket": "bucket",
    "aws_iam_role": "role",
    "aws_iam_openid_connect_provider": "identity_provider",
    "aws_cloudwatch_log_group": "log_group",
    "aws_cloudwatch_metric_alarm": "alarm",
    "aws_cloudwatch_composite_alarm": "alarm",
    "aws_cloudwatch_dashboard": "dashboard",
    "aws_cloudwatch_query_definition": "log_query",
    "aws_kms_key": "kms_key",
    "aws_lambda_function": "function",
    "aws_lambda_layer_version": "layer",
    "aws_api_gateway_rest_api": "api",
    "aws_apigatewayv2_api": "api",
    "aws_api_gateway_account": "api_account",
    "aws_cloudwatch_event_rule": "schedule",
    "aws_scheduler_schedule": "schedule",
    "aws_secretsmanager_secret": "secret",
    "aws_ssm_parameter": "parameter",
    "aws_kinesis_stream": "stream",
}
# Resources that only configure another one (a route, an association, a policy attachment): folded into the
# resource they configure as "details" instead of becoming boxes of their own.
TF_DETAIL_TYPES = {
    "aws_eip",
    "aws_route",
    "aws_route_table",
    "aws_route_table_association",
    "aws_vpc_endpoint_route_table_association",
    "aws_vpc_security_group_egress_rule",
    "aws_vpc_security_group_ingress_rule",
    "aws_security_group_rule",
    "aws_iam_policy",
    "aws_kms_alias",
    "aws_dynamodb_resource_policy",
    "aws_sqs_queue_policy",
    "aws_sns_topic_policy",
    "aws_sns_topic_subscription",
    "aws_lambda_permission",
    "aws_cloudwatch_event_target",
}
# SAM/CloudFormation types -> kind.
SAM_KINDS: dict[str, str] = {
    "AWS::Serverless::Function": "function",
    "AWS::Serverless::LayerVersion": "layer",
    "AWS::Serverless::Api": "api",
    "AWS::Serverless::HttpApi": "api",
    "AWS::Serverless::SimpleTable": "table",
    "AWS::Serverless::StateMachine": "state_machine",
    "AWS::Lambda::Function": "function",
    "AWS::Lambda::LayerVersion": "layer",
    "AWS::ApiGateway::RestApi": "api",
    "AWS::SQS::Queue": "queue",
    "AWS::SNS::Topic": "topic",
    "AWS::Events::Rule": "schedule",
    "AWS::Logs::LogGroup": "log_group",
    "AWS::CloudWatch::Alarm": "alarm",
}
SAM_DETAIL_TYPES = {"AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig"}
# Event source types that Lambda *polls* (an event source mapping reading with the execution role) versus
# services that *push* (invoke through the function's resource-based policy). Seed 001's distinction.
POLLED_EVENTS = {"DynamoDB", "Kinesis", "SQS", "MSK", "MQ", "SelfManagedKafka", "DocumentDB"}
API_EVENTS = {"Api", "HttpApi"}
SCHEDULE_EVENTS = {"Schedule", "ScheduleV2", "CloudWatchEvent", "EventBridgeRule"}

PATHS = ("request", "stream", "schedule", "dlq")


@dataclass
class Node:
    id: str
    kind: str
    label: str
    layer: str  # "infra" (Terraform), "app" (SAM), "external"
    owner: str  # "terraform", "sam", "aws", "client"
    source: str  # file that defines it
    block: str  # the resource block / logical id the node belongs to (instances share it)
    cluster: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    purpose: str
    path: str = ""
    label: str = ""


@dataclass
class Cluster:
    id: str
    label: str
    kind: str
    parent: str | None = None


@dataclass
class Graph:
    environment: str
    tfvars: str | None
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        return node

    def link(self, source: str, target: str, purpose: str, path: str = "", label: str = "") -> None:
        if source in self.nodes and target in self.nodes and source != target:
            self.edges.add(Edge(source, target, purpose, path, label))

    def of_kind(self, *kinds: str) -> list[Node]:
        return [self.nodes[n] for n in sorted(self.nodes) if self.nodes[n].kind in kinds]

    def to_json(self) -> dict[str, Any]:
        """Deterministic: sorted everywhere, no timestamps, no absolute paths."""
        return {
            "schema": SCHEMA_VERSION,
            "evaluated_with": {"environment": self.environment, "tfvars": self.tfvars},
            "clusters": [asdict(self.clusters[c]) for c in sorted(self.clusters)],
            "nodes": [_clean(asdict(self.nodes[n])) for n in sorted(self.nodes)],
            "edges": [asdict(e) for e in sorted(self.edges)],
            "parameters": {k: self.parameters[k] for k in sorted(self.parameters)},
        }


def _clean(value: Any) -> Any:
    """JSON-safe, sorted, with UNKNOWN shown the way `terraform plan` does."""
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, Unresolved):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------------------------------------------------------


def instance_id(res: TfResource, key: Any) -> str:
    if key is None:
        return res.address
    if isinstance(key, int):
        return f"{res.address}[{key}]"
    return f'{res.address}["{key}"]'


class _Builder:
    def __init__(self, tf: TfModule, sam: SamTemplate | None, environment: str, tfvars: dict[str, Any]) -> None:
        self.tf = tf
        self.sam = sam
        self.scope: Scope = tf.scope(tfvars)
        self.instances: dict[str, list[str]] = {}  # block address -> node ids
        self.detail_of: dict[str, str] = {}
        self.graph = Graph(environment, None)

    # -- Terraform ----------------------------------------------------------------------------------------------

    def is_detail(self, res: TfResource) -> bool:
        if res.type in TF_DETAIL_TYPES:
            return True
        if res.type in TF_KINDS:
            return False
        # aws_s3_bucket_versioning configures aws_s3_bucket, aws_iam_role_policy configures aws_iam_role...
        return any(res.type.startswith(t + "_") for t in TF_KINDS)

    def add_terraform(self) -> None:
        g = self.graph
        g.clusters["layer:infra"] = Cluster("layer:infra", "Terraform (infra layer)", "layer")
        for res in self.tf.resources.values():
            if res.mode != "resource" or self.is_detail(res):
                continue
            keys = self.tf.instance_keys(res, self.scope)
            kind = TF_KINDS.get(res.type, "resource")
            attrs_common: dict[str, Any] = {"type": res.type}
            if keys == []:
                # Declared but switched off in this environment (NAT in dev): still drawn, marked as such.
                node = self.tf_node(res, None, kind, {**attrs_common, "instances": 0})
                node.id = res.address
                self.instances[res.address] = [g.add(node).id]
                continue
            ids = []
            for key in keys or [None]:
                attrs = dict(attrs_common)
                if keys is None:
                    attrs["instances"] = "(known after apply)"
                node = self.tf_node(res, key, kind, attrs)
                ids.append(g.add(node).id)
            self.instances[res.address] = ids
        self.add_table_parts()
        self.add_network_clusters()
        self.attach_details()
        self.add_tf_edges()

    def tf_node(self, res: TfResource, key: Any, kind: str, attrs: dict[str, Any]) -> Node:
        scope = self.tf.instance_scope(res, self.scope, key) if key is not None else self.scope
        name = _first_known(res.body, scope, ("name", "alarm_name", "dashboard_name", "bucket", "description"))
        tags = evaluate(res.body.get("tags", {}), scope)
        if name is None and isinstance(tags, dict) and isinstance(tags.get("Name"), str):
            name = tags["Name"]
        for attr in ("service_name", "vpc_endpoint_type", "availability_zone", "cidr_block", "retention_in_days"):
            if attr in res.body:
                attrs[attr] = evaluate(res.body[attr], scope)
        if res.type == "aws_cloudwatch_metric_alarm":
            attrs.update(self.alarm_attrs(res, scope))
        label = name or instance_id(res, key)
        if attrs.get("instances") == 0:
            label = f"{label}\n(none in {self.graph.environment})"
        return Node(
            id=instance_id(res, key),
            kind=kind,
            label=str(label),
            layer="infra",
            owner="terraform",
            source=res.file,
            block=res.address,
            cluster="layer:infra",
            attrs=attrs,
        )

    def alarm_attrs(self, res: TfResource, scope: Scope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr in ("namespace", "metric_name", "threshold", "comparison_operator"):
            if attr in res.body:
                out[attr] = evaluate(res.body[attr], scope)
        dims = evaluate(res.body.get("dimensions", {}), scope)
        if isinstance(dims, dict):
            out["dimensions"] = dims
        metrics = [
            evaluate(q["metric"], scope).get("metric_name")
            for q in res.body.get("metric_query", [])
            if isinstance(q.get("metric"), dict)
        ]
        if metrics:
            out["metric_name"] = " + ".join(str(m) for m in metrics)
        return out

    def add_table_parts(self) -> None:
        """GSIs and the stream are parts of a table: nodes of their own, in the table's cluster."""
        g = self.graph
        for res in self.tf.of_type("aws_dynamodb_table"):
            for node_id in self.instances.get(res.address, []):
                cluster = f"table:{node_id}"
                g.clusters[cluster] = Cluster(cluster, f"DynamoDB {g.nodes[node_id].label}", "table", "layer:infra")
                g.nodes[node_id].cluster = cluster
                keys = {"hash_key": res.body.get("hash_key"), "range_key": res.body.get("range_key")}
                g.nodes[node_id].attrs.update({k: evaluate(v, self.scope) for k, v in keys.items() if v})
                for raw_gsi in res.body.get("global_secondary_index", []):
                    gsi = evaluate(raw_gsi, self.scope)
                    gid = f"{node_id}/gsi/{gsi['name']}"
                    attrs = {k: gsi[k] for k in ("hash_key", "range_key", "projection_type") if k in gsi}
                    label = f"GSI {gsi['name']}\n{attrs.get('hash_key')} / {attrs.get('range_key', '-')}"
                    g.add(Node(gid, "gsi", label, "infra", "terraform", res.file, res.address, cluster, attrs))
                    g.link(gid, node_id, "index of")
                enabled = evaluate(res.body.get("stream_enabled", False), self.scope)
                if enabled:
                    sid = f"{node_id}/stream"
                    view = evaluate(res.body.get("stream_view_type", ""), self.scope)
                    attrs = {"stream_view_type": view, "enabled": enabled}
                    g.add(Node(sid, "stream", f"Stream\n{view}", "infra", "terraform", res.file, res.address, cluster))
                    g.nodes[sid].attrs = attrs
                    g.link(node_id, sid, "change records", "stream")

    def add_network_clusters(self) -> None:
        """VPC -> subnet groups (one cluster per subnet resource block) -> one subnet node per AZ."""
        g = self.graph
        vpcs = {nid for res in self.tf.of_type("aws_vpc") for nid in self.instances.get(res.address, [])}
        for vpc_id in sorted(vpcs):
            g.clusters[f"vpc:{vpc_id}"] = Cluster(f"vpc:{vpc_id}", f"VPC {g.nodes[vpc_id].label}", "vpc", "layer:infra")
            g.nodes[vpc_id].cluster = f"vpc:{vpc_id}"
        for res in self.tf.of_type("aws_subnet"):
            vpc = self.targets(self.tf.refs(res.body.get("vpc_id", ""), self.scope))
            parent = f"vpc:{vpc[0]}" if vpc else "layer:infra"
            cid = f"subnets:{res.address}"
            g.clusters[cid] = Cluster(cid, f"{res.name} subnets", "subnets", parent)
            for nid in self.instances.get(res.address, []):
                g.nodes[nid].cluster = cid
                az = g.nodes[nid].attrs.get("availability_zone")
                g.nodes[nid].label = f"{res.name} {az}" if isinstance(az, str) else g.nodes[nid].label
        # Other network components sit in the innermost network cluster they reference.
        network_kinds = {"nat_gateway", "vpc_endpoint", "security_group", "internet_gateway", "flow_log"}
        for node in list(g.nodes.values()):
            if node.owner != "terraform" or node.kind not in network_kinds:
                continue
            res = self.tf.resources[node.block]
            refs = self.tf.refs(res.body, self.scope, through_data=False)
            subnet_clusters = sorted(f"subnets:{r.address}" for r in refs if r.address.startswith("aws_subnet."))
            vpc_refs = sorted(f"vpc:{t}" for t in self.targets({r for r in refs if r.address.startswith("aws_vpc.")}))
            if subnet_clusters and subnet_clusters[0] in g.clusters:
                node.cluster = subnet_clusters[0]
            elif vpc_refs and vpc_refs[0] in g.clusters:
                node.cluster = vpc_refs[0]

    def attach_details(self) -> None:
        """Record each detail resource on the component it configures (shown in graph.json, not drawn)."""
        for res in self.tf.resources.values():
            if res.mode != "resource" or not self.is_detail(res):
                continue
            refs = sorted(self.tf.refs(res.body, self.scope, through_data=False), key=lambda r: r.address)
            # Prefer the resource whose type this one extends (aws_s3_bucket_policy -> aws_s3_bucket).
            refs.sort(key=lambda r: (not res.type.startswith(r.address.split(".")[0]), r.address))
            for ref in refs:
                targets = self.targets({ref})
                if targets:
                    for t in targets:
                        self.graph.nodes[t].attrs.setdefault("details", [])
                        if res.address not in self.graph.nodes[t].attrs["details"]:
                            self.graph.nodes[t].attrs["details"].append(res.address)
                    self.detail_of[res.address] = ref.address
                    break

    def targets(self, refs: set[Ref]) -> list[str]:
        """Node ids a set of references points at (a stream_arn reads the table's stream node)."""
        out: set[str] = set()
        for ref in refs:
            ids = self.instances.get(ref.address)
            if ids is None:
                continue
            if ref.key is not ALL:
                res = self.tf.resources[ref.address]
                wanted = instance_id(res, ref.key)
                ids = [i for i in ids if i == wanted] or ids
            for nid in ids:
                if ref.attribute in ("stream_arn", "stream_label") and f"{nid}/stream" in self.graph.nodes:
                    out.add(f"{nid}/stream")
                else:
                    out.add(nid)
        return sorted(out)

    def add_tf_edges(self) -> None:  # noqa: PLR0912 - one branch per resource type with edges
        g = self.graph
        for res in self.tf.resources.values():
            if res.mode != "resource":
                continue
            keys = self.tf.instance_keys(res, self.scope) or [None]
            for key in keys:
                scope = self.tf.instance_scope(res, self.scope, key) if key is not None else self.scope
                if res.type == "aws_cloudwatch_metric_alarm":
                    src = instance_id(res, key)
                    watched = {k: v for k, v in res.body.items() if k in ("dimensions", "metric_query")}
                    for t in self.targets(self.tf.refs(watched, scope)):
                        g.link(src, t, "monitors")
                    for attr in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
                        for t in self.targets(self.tf.refs(res.body.get(attr, []), scope)):
                            g.link(src, t, "notifies", "dlq" if self.alarm_is_dlq(src) else "")
                elif res.type in ("aws_iam_role_policy", "aws_iam_role_policy_attachment", "aws_iam_policy"):
                    self.add_grants(res, scope)
                elif res.type in {"aws_cloudwatch_log_group", "aws_kms_key"}:
                    continue
                elif res.type == "aws_flow_log":
                    for t in self.targets(self.tf.refs(res.body.get("log_destination", ""), scope)):
                        g.link(instance_id(res, key), t, "logs to")
                elif res.type == "aws_vpc_endpoint":
                    for t in self.targets(self.tf.refs(res.body.get("route_table_ids", []), scope)):
                        g.link(instance_id(res, key), t, "routes")
        # Role -> trust: which service may assume it (from the assume-role policy's principals)
        for res in self.tf.of_type("aws_iam_role"):
            for nid in self.instances.get(res.address, []):
                principals = self.trust_principals(res)
                if principals:
                    g.nodes[nid].attrs["trusted_principals"] = principals

    def alarm_is_dlq(self, alarm_id: str) -> bool:
        return any(
            e.source == alarm_id and e.purpose == "monitors" and self.graph.nodes[e.target].kind == "queue"
            for e in self.graph.edges
        )

    def trust_principals(self, res: TfResource) -> list[str]:
        out: set[str] = set()
        text = res.body.get("assume_role_policy", "")
        for m in re.finditer(r"data\.aws_iam_policy_document\.([\w-]+)", str(text)):
            doc = self.tf.resources.get(f"data.aws_iam_policy_document.{m.group(1)}")
            for st in doc.body.get("statement", []) if doc else []:
                for p in st.get("principals", []):
                    ids = evaluate(p.get("identifiers", []), self.scope)
                    if isinstance(ids, list):
                        out.update(str(i) for i in ids if i is not UNKNOWN)
        return sorted(out)

    def add_grants(self, res: TfResource, scope: Scope) -> None:
        """Role -> resource edges from the statements of the policies attached to each role."""
        role_refs = {
            r
            for r in self.tf.refs(res.body.get("role", res.body.get("roles", "")), scope)
            if r.address.startswith("aws_iam_role.")
        }
        roles = self.targets(role_refs)
        if not roles:
            return
        policy_value = res.body.get("policy", "")
        if res.type == "aws_iam_role_policy_attachment":
            arn = res.body.get("policy_arn", "")
            pol = [r for r in self.tf.refs(arn, scope) if r.address.startswith("aws_iam_policy.")]
            if not pol:
                for role in roles:
                    managed = evaluate(arn, scope)
                    self.graph.nodes[role].attrs.setdefault("managed_policies", []).append(str(managed))
                return
            policy_value = self.tf.resources[pol[0].address].body.get("policy", "")
        per_target: dict[tuple[str, str], set[str]] = defaultdict(set)
        for st in self.tf.policy_statements(policy_value, scope):
            for target in self.targets(set(st.refs)):
                per_target[(target, st.effect)].update(st.actions or ("*",))
            if st.wildcard:
                for role in roles:
                    wild = self.graph.nodes[role].attrs.setdefault("wildcard_actions", [])
                    wild.extend(a for a in st.actions if a not in wild)
                    wild.sort()
        for (target, effect), actions in per_target.items():
            purpose = "denies" if effect.lower() == "deny" else "grants"
            for role in roles:
                self.graph.link(role, target, purpose, label=summarize_actions(actions))

    # -- SAM ---------------------------------------------------------------------------------------------------

    def add_sam(self) -> None:
        if self.sam is None:
            return
        g = self.graph
        g.clusters["layer:app"] = Cluster("layer:app", "AWS SAM (app layer)", "layer")
        contract = self.contract()
        values = {name: info["value"] for name, info in contract.items()}
        for name, spec in self.sam.parameters.items():
            if name not in values:
                values[name] = spec.get("Default", Unresolved(f"parameter {name}"))
        region = self.scope.variables.get("aws_region")
        pseudo = {
            "AWS::Region": region if isinstance(region, str) else "",
            "AWS::Partition": "aws",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "(stack)",
        }
        self.sam_values, self.sam_pseudo = values, pseudo
        for logical_id, res in sorted(self.sam.resources.items()):
            rtype = res.get("Type", "")
            if rtype in SAM_DETAIL_TYPES:
                continue
            props = self.sam.resource_properties(logical_id)
            kind = SAM_KINDS.get(rtype, "resource")
            name = next(
                (
                    resolve(props[k], values, pseudo, self.sam.mappings)
                    for k in ("FunctionName", "Name", "LayerName", "QueueName")
                    if k in props
                ),
                None,
            )
            label = logical_id if not isinstance(name, str) or isinstance(name, Unresolved) else f"{logical_id}\n{name}"
            attrs: dict[str, Any] = {"type": rtype}
            for k in ("Runtime", "Handler", "MemorySize", "Timeout", "CodeUri", "ContentUri", "StageName", "Tracing"):
                if k in props:
                    attrs[k] = resolve(props[k], values, pseudo, self.sam.mappings)
            if "Architectures" in props:
                attrs["Architectures"] = resolve(props["Architectures"], values, pseudo, self.sam.mappings)
            if isinstance(name, str) and not isinstance(name, Unresolved):
                attrs["name"] = name
            g.add(Node(f"sam:{logical_id}", kind, label, "app", "sam", self.sam.path, logical_id, "layer:app", attrs))
        for logical_id in sorted(self.sam.resources):
            if f"sam:{logical_id}" in g.nodes:
                self.add_sam_edges(logical_id, self.sam.resource_properties(logical_id))
        self.link_by_name()

    def contract(self) -> dict[str, dict[str, Any]]:
        """sam_parameters: each key's Terraform expression, its value in this environment, what it points at."""
        out: dict[str, dict[str, Any]] = {}
        output = self.tf.outputs.get("sam_parameters", {})
        value = output.get("value", {})
        # `value = local.sam_parameters` (contract.tf builds the map once): its expressions are the local's.
        named = re.fullmatch(r"\$\{local\.(\w+)\}", value.strip()) if isinstance(value, str) else None
        if named and isinstance(self.tf.locals.get(named.group(1)), dict):
            value = self.tf.locals[named.group(1)]
        if isinstance(value, str):
            evaluated = evaluate(value, self.scope)
            value = evaluated if isinstance(evaluated, dict) else {}
        for key, expr in value.items():
            refs = self.tf.refs(expr, self.scope)
            out[key] = {
                "expression": _expr_text(expr),
                "value": evaluate(expr, self.scope),
                "targets": self.targets(refs),
                "in_template": bool(self.sam and key in self.sam.parameters),
            }
        if self.sam:
            for key in self.sam.parameters:
                if key not in out:
                    out[key] = {"expression": None, "value": UNKNOWN, "targets": [], "in_template": True}
        self.graph.parameters = {
            k: {
                "expression": v["expression"],
                "targets": v["targets"],
                "in_template": v["in_template"],
                "value": _clean(v["value"]),
                "type": (self.sam.parameters.get(k, {}).get("Type") if self.sam else None),
                "description": (self.sam.parameters.get(k, {}).get("Description") if self.sam else None),
            }
            for k, v in out.items()
        }
        return out

    def sam_targets(self, value: Any) -> list[str]:
        """Nodes a template value points at: other template resources, or Terraform resources via parameters."""
        out: set[str] = set()
        for name in referenced_names(value):
            if f"sam:{name}" in self.graph.nodes:
                out.add(f"sam:{name}")
            elif name in self.graph.parameters:
                out.update(self.graph.parameters[name]["targets"])
        return sorted(out)

    def add_sam_edges(self, logical_id: str, props: dict[str, Any]) -> None:  # noqa: PLR0912 - per property
        g = self.graph
        src = f"sam:{logical_id}"
        node = g.nodes[src]
        if node.kind == "function":
            for t in self.sam_targets(props.get("Role")):
                g.link(src, t, "assumes")
            vpc = props.get("VpcConfig") or {}
            for t in self.sam_targets(vpc.get("SubnetIds")):
                g.link(src, t, "ENI in")
            for t in self.sam_targets(vpc.get("SecurityGroupIds")):
                g.link(src, t, "uses")
            for t in self.sam_targets(props.get("Layers")):
                g.link(src, t, "imports")
            env = (props.get("Environment") or {}).get("Variables") or {}
            node.attrs["environment"] = sorted(env)
            for var, value in env.items():
                for t in self.sam_targets(value):
                    g.link(src, t, "configured with", label=var)
            for name, event in sorted((props.get("Events") or {}).items()):
                self.add_event(src, name, event)
            for conf_key in ("EventInvokeConfig",):
                dest = (props.get(conf_key) or {}).get("DestinationConfig") or {}
                for outcome in ("OnFailure", "OnSuccess"):
                    for t in self.sam_targets((dest.get(outcome) or {}).get("Destination")):
                        g.link(src, t, "on-failure" if outcome == "OnFailure" else "on-success", "dlq")
            dlq = props.get("DeadLetterQueue") or {}
            for t in self.sam_targets(dlq.get("TargetArn")):
                g.link(src, t, "on-failure", "dlq")
        else:
            for key in ("AccessLogSetting",):
                for t in self.sam_targets(props.get(key)):
                    g.link(src, t, "access logs")
            if node.kind == "api":
                self.ensure_client(src)

    def ensure_client(self, api_id: str) -> None:
        g = self.graph
        if "client" not in g.nodes:
            g.add(Node("client", "client", "Client\n(HTTPS)", "external", "client", "", "client"))
        g.link("client", api_id, "calls", "request", "HTTPS")

    def add_event(self, fn_id: str, name: str, event: dict[str, Any]) -> None:
        g = self.graph
        etype = event.get("Type", "")
        props = event.get("Properties") or {}
        resolved = resolve(props, self.sam_values, self.sam_pseudo, self.sam.mappings if self.sam else None)
        if etype in API_EVENTS:
            api_ref = props.get("RestApiId") or props.get("ApiId")
            api_ids = self.sam_targets(api_ref) if api_ref else []
            if not api_ids:
                implicit = "ServerlessRestApi" if etype == "Api" else "ServerlessHttpApi"
                api_ids = [f"sam:{implicit}"]
                if api_ids[0] not in g.nodes:
                    g.add(
                        Node(
                            api_ids[0],
                            "api",
                            implicit,
                            "app",
                            "sam",
                            self.sam.path if self.sam else "",
                            implicit,
                            "layer:app",
                            {"type": f"implicit {etype}"},
                        )
                    )
            method = str(resolved.get("Method", "ANY")).upper()
            route = f"{method} {resolved.get('Path', '/')}"
            for api in api_ids:
                self.ensure_client(api)
                rid = f"{api}/route/{route}"
                g.add(
                    Node(
                        rid,
                        "route",
                        route,
                        "app",
                        "sam",
                        g.nodes[fn_id].source,
                        g.nodes[fn_id].block,
                        g.nodes[api].cluster,
                        {"method": method, "path": resolved.get("Path"), "event": name},
                    )
                )
                g.link(api, rid, "routes", "request")
                g.link(rid, fn_id, "invokes", "request")
        elif etype in POLLED_EVENTS:
            source_key = {"DynamoDB": "Stream", "Kinesis": "Stream", "SQS": "Queue"}.get(etype, "Stream")
            sources = self.sam_targets(props.get(source_key))
            attrs = {
                k: resolved[k]
                for k in (
                    "BatchSize",
                    "StartingPosition",
                    "MaximumRetryAttempts",
                    "BisectBatchOnFunctionError",
                    "MaximumBatchingWindowInSeconds",
                    "FunctionResponseTypes",
                    "FilterCriteria",
                )
                if k in resolved
            }
            g.nodes[fn_id].attrs.setdefault("event_source_mappings", {})[name] = {"type": etype, **attrs}
            for s in sources:
                g.link(s, fn_id, "polled by (event source mapping)", "stream", f"{etype} {name}")
            dest = (props.get("DestinationConfig") or {}).get("OnFailure") or {}
            for t in self.sam_targets(dest.get("Destination")):
                g.link(fn_id, t, "on-failure", "dlq", f"{name} failed batches")
        else:
            kind = "schedule" if etype in SCHEDULE_EVENTS else "event_source"
            eid = f"{fn_id}/event/{name}"
            detail = resolved.get("Schedule") or resolved.get("ScheduleExpression") or resolved.get("Pattern") or ""
            label = f"{name}\n{detail}" if isinstance(detail, str) and detail else name
            g.add(
                Node(
                    eid,
                    kind,
                    label,
                    "app",
                    "sam",
                    g.nodes[fn_id].source,
                    g.nodes[fn_id].block,
                    "layer:app",
                    {"event_type": etype, **({"expression": detail} if isinstance(detail, str) else {})},
                )
            )
            g.link(eid, fn_id, "triggers", "schedule" if kind == "schedule" else "")

    def link_by_name(self) -> None:  # noqa: PLR0912 - four independent joins
        """Joins that exist only through names: a function's log group is /aws/lambda/<FunctionName>; an alarm
        watches FunctionName / ApiName dimensions; a role is the one a function assumes."""
        g = self.graph
        named: dict[tuple[str, str], str] = {
            (n.kind, str(n.attrs["name"])): n.id for n in g.nodes.values() if n.owner == "sam" and "name" in n.attrs
        }
        for node in g.of_kind("log_group"):
            label = node.label.split("\n")[0]
            fn = named.get(("function", label.removeprefix("/aws/lambda/")))
            if label.startswith("/aws/lambda/") and fn:
                g.link(fn, node.id, "logs to")
        for node in g.of_kind("alarm"):
            dims = node.attrs.get("dimensions") or {}
            for dim, value in dims.items():
                kind = _DIMENSION_KINDS.get(dim)
                if kind and isinstance(value, str) and (kind, value) in named:
                    g.link(node.id, named[(kind, value)], "monitors")
        # Grants of the role a function assumes are the function's data access (seed 001: execution role).
        for edge in sorted(g.edges):
            if edge.purpose != "assumes":
                continue
            for grant in sorted(g.edges):
                if grant.source == edge.target and grant.purpose in ("grants", "denies"):
                    kind = g.nodes[grant.target].kind
                    if kind in ("table", "stream", "queue", "topic", "bucket", "gsi", "secret", "parameter"):
                        g.link(
                            edge.source,
                            grant.target,
                            "accesses" if grant.purpose == "grants" else "denied",
                            label=grant.label,
                        )
        # Label the paths on the data-access edges of functions that sit on a path.
        for fn in g.of_kind("function"):
            paths = {e.path for e in g.edges if e.target == fn.id and e.path}
            for e in sorted(g.edges):
                if e.source == fn.id and e.purpose == "accesses" and not e.path and len(paths) == 1:
                    g.edges.discard(e)
                    g.edges.add(Edge(e.source, e.target, e.purpose, next(iter(paths)), e.label))


# CloudWatch metric dimension -> the kind of resource it names.
_DIMENSION_KINDS = {
    "FunctionName": "function",
    "ApiName": "api",
    "QueueName": "queue",
    "TableName": "table",
    "TopicName": "topic",
    "BucketName": "bucket",
    "StateMachineArn": "state_machine",
}

_VERBS = (
    ("read", re.compile(r"^(Get|BatchGet|Query|Scan|Describe|List|Receive|ConditionCheck)")),
    ("write", re.compile(r"^(Put|Update|Delete|BatchWrite|TransactWrite|Send|Create|Publish)")),
)


def summarize_actions(actions: set[str] | tuple[str, ...]) -> str:
    """'dynamodb:GetItem, dynamodb:PutItem' -> 'dynamodb read/write' (the PNG's edge label; JSON keeps this too)."""
    per_service: dict[str, set[str]] = defaultdict(set)
    for action in actions:
        service, _, verb = action.partition(":")
        if action == "*" or verb == "*":
            per_service[service or "*"].add("all")
            continue
        matched = [name for name, rx in _VERBS if rx.match(verb)]
        per_service[service].update(matched or ["other"])
    order = ["read", "write", "other", "all"]
    return ", ".join(f"{svc} {'/'.join(v for v in order if v in verbs)}" for svc, verbs in sorted(per_service.items()))


def _first_known(body: dict[str, Any], scope: Scope, attrs: tuple[str, ...]) -> str | None:
    for attr in attrs:
        if attr in body:
            value = evaluate(body[attr], scope)
            if isinstance(value, str) and value:
                return value
    return None


def _expr_text(expr: Any) -> str:
    text = expr if isinstance(expr, str) else repr(expr)
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        return text[2:-1]
    return text


def build_graph(repo: Path, environment: str = DEFAULT_ENVIRONMENT) -> Graph:
    """Read terraform/ and sam/template.yaml under `repo` and build the graph for one environment's tfvars."""
    tf = load_module(repo / "terraform", repo)
    files = tfvars_files(repo / "terraform")
    tfvars = load_tfvars(files[environment]) if environment in files else {"environment": environment}
    tfvars.setdefault("environment", environment)
    template = repo / "sam" / "template.yaml"
    sam = load_template(template, repo) if template.is_file() else None
    builder = _Builder(tf, sam, environment, tfvars)
    builder.graph.tfvars = files[environment].relative_to(repo).as_posix() if environment in files else None
    builder.add_terraform()
    builder.add_sam()
    return builder.graph
