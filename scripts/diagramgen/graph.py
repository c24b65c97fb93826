"""The architecture as a graph derived from the code: Terraform's plan of one environment (the digest made by
diagramgen.tfplan) and the SAM template, joined through the `sam_parameters` output (the layer contract). Nothing
here names a specific resource of this project: kinds come from resource *types*, edges from references (the
plan's configuration references, IAM statements, SAM Refs and events).

The graph is the contract (docs/images/graph-<env>.json, checked in CI); the PNGs are renderings of it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from diagramgen import tfplan
from diagramgen.sammodel import SamTemplate, Unresolved, load_template, referenced_names, resolve

SCHEMA_VERSION = 2
# Every environment drawn from its own plan: dev (cheapest network) and prod (NAT per AZ, PITR, protection).
ENVIRONMENTS = ("dev", "prod")
DEFAULT_ENVIRONMENT = "dev"
UNKNOWN = "(known after apply)"  # how `terraform show -json` digests render a value only known after apply

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
    """JSON-safe and sorted."""
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


def _ref_address(ref: str) -> tuple[str, str | None, str]:
    """'aws_iam_role.function["api"].arn' -> ('aws_iam_role.function', 'aws_iam_role.function["api"]', 'arn')."""
    m = re.match(r"^((?:data\.)?[\w-]+\.[\w-]+)(\[[^\]]*\])?(?:\.(\w+))?", ref)
    if not m:
        return ref, None, ""
    block, index, attr = m.group(1), m.group(2), m.group(3) or ""
    return block, (block + index if index else None), attr


class _Builder:
    def __init__(self, plan: dict[str, Any], tf_files: dict[str, str], sam: SamTemplate | None, env: str) -> None:
        self.plan = plan  # the committed digest of this environment's terraform plan (diagramgen.tfplan)
        self.tf_files = tf_files  # block address -> file that declares it
        self.sam = sam
        self.instances: dict[str, list[str]] = {}  # block address -> node ids
        self.detail_of: dict[str, str] = {}
        self.graph = Graph(env, None)

    # -- Terraform (from the plan) ------------------------------------------------------------------------------

    def managed_blocks(self) -> list[tuple[str, dict[str, Any]]]:
        return [(a, b) for a, b in self.plan["blocks"].items() if b["mode"] == "managed"]

    def is_detail(self, rtype: str) -> bool:
        if rtype in TF_DETAIL_TYPES:
            return True
        if rtype in TF_KINDS:
            return False
        # aws_s3_bucket_versioning configures aws_s3_bucket, aws_iam_role_policy configures aws_iam_role...
        return any(rtype.startswith(t + "_") for t in TF_KINDS)

    def add_terraform(self) -> None:
        g = self.graph
        g.clusters["layer:infra"] = Cluster("layer:infra", "Terraform (infra layer)", "layer")
        per_block: dict[str, list[str]] = defaultdict(list)
        for address, inst in self.plan["instances"].items():
            per_block[inst["block"]].append(address)
        for block, info in self.managed_blocks():
            if self.is_detail(info["type"]):
                continue
            kind = TF_KINDS.get(info["type"], "resource")
            addresses = sorted(per_block.get(block, []))
            if not addresses:
                # Declared but with no instance in this environment's plan (NAT in dev): drawn, marked as such.
                node = self.tf_node(block, block, info["type"], kind, {})
                node.attrs["instances"] = 0
                node.label = f"{node.label}\n(none in {g.environment})"
                self.instances[block] = [g.add(node).id]
                continue
            self.instances[block] = [
                g.add(self.tf_node(a, block, info["type"], kind, self.plan["instances"][a]["values"])).id
                for a in addresses
            ]
        self.add_table_parts()
        self.add_network_clusters()
        self.attach_details()
        self.add_tf_edges()

    def tf_node(self, address: str, block: str, rtype: str, kind: str, values: dict[str, Any]) -> Node:
        name = next(
            (
                values[k]
                for k in ("name", "alarm_name", "dashboard_name", "bucket", "tag_name")
                if _is_known(values.get(k))
            ),
            None,
        )
        attrs: dict[str, Any] = {"type": rtype}
        for key in (
            "service_name",
            "vpc_endpoint_type",
            "availability_zone",
            "cidr_block",
            "retention_in_days",
            "deletion_protection_enabled",
            "connectivity_type",
            "namespace",
            "metric_name",
            "threshold",
            "comparison_operator",
            "dimensions",
            "name",
        ):
            if key in values:
                attrs[key] = values[key]
        pitr = values.get("point_in_time_recovery")
        if isinstance(pitr, list) and pitr:
            attrs["point_in_time_recovery"] = bool(pitr[0].get("enabled"))
        return Node(
            id=address,
            kind=kind,
            label=str(name or address),
            layer="infra",
            owner="terraform",
            source=self.tf_files.get(block, "terraform/"),
            block=block,
            cluster="layer:infra",
            attrs=attrs,
        )

    def add_table_parts(self) -> None:
        """GSIs and the stream are parts of a table: nodes of their own, in the table's cluster."""
        g = self.graph
        for node in g.of_kind("table"):
            if node.owner != "terraform" or node.attrs.get("instances") == 0:
                continue
            values = self.plan["instances"][node.id]["values"]
            cluster = f"table:{node.id}"
            g.clusters[cluster] = Cluster(cluster, f"DynamoDB {node.label}", "table", "layer:infra")
            node.cluster = cluster
            node.attrs.update({k: values[k] for k in ("hash_key", "range_key") if k in values})
            for gsi in values.get("global_secondary_index", []):
                gid = f"{node.id}/gsi/{gsi['name']}"
                attrs = {k: gsi[k] for k in ("hash_key", "range_key", "projection_type") if gsi.get(k)}
                label = f"GSI {gsi['name']}\n{attrs.get('hash_key')} / {attrs.get('range_key', '-')}"
                g.add(Node(gid, "gsi", label, "infra", "terraform", node.source, node.block, cluster, attrs))
                g.link(gid, node.id, "index of")
            if values.get("stream_enabled"):
                sid = f"{node.id}/stream"
                view = values.get("stream_view_type", "")
                attrs = {"stream_view_type": view, "enabled": True}
                g.add(Node(sid, "stream", f"Stream\n{view}", "infra", "terraform", node.source, node.block, cluster))
                g.nodes[sid].attrs = attrs
                g.link(node.id, sid, "change records", "stream")

    def refs(self, block: str, *attrs: str) -> list[str]:
        """Resource references of some arguments of a block (all arguments when none is named), from the plan."""
        refs = self.plan["blocks"].get(block, {}).get("refs", {})
        return sorted({r for a, rs in refs.items() if not attrs or a in attrs for r in rs})

    def targets(self, refs: list[str]) -> list[str]:
        """Node ids that references point at (a stream_arn reads the table's stream node)."""
        out: set[str] = set()
        for ref in refs:
            block, instance, attr = _ref_address(ref)
            ids = self.instances.get(block)
            if ids is None:
                continue
            if instance is not None:
                ids = [i for i in ids if i == instance] or ids
            for nid in ids:
                if attr in ("stream_arn", "stream_label") and f"{nid}/stream" in self.graph.nodes:
                    out.add(f"{nid}/stream")
                else:
                    out.add(nid)
        return sorted(out)

    def add_network_clusters(self) -> None:
        """VPC -> subnet groups (one cluster per subnet resource block) -> one subnet node per AZ."""
        g = self.graph
        for vpc in g.of_kind("vpc"):
            g.clusters[f"vpc:{vpc.id}"] = Cluster(f"vpc:{vpc.id}", f"VPC {vpc.label}", "vpc", "layer:infra")
            vpc.cluster = f"vpc:{vpc.id}"
        for block, info in self.managed_blocks():
            if info["type"] != "aws_subnet":
                continue
            vpc = self.targets(self.refs(block, "vpc_id"))
            parent = f"vpc:{vpc[0]}" if vpc else "layer:infra"
            cid = f"subnets:{block}"
            g.clusters[cid] = Cluster(cid, f"{block.split('.', 1)[1]} subnets", "subnets", parent)
            for nid in self.instances.get(block, []):
                g.nodes[nid].cluster = cid
                az = g.nodes[nid].attrs.get("availability_zone")
                cidr = g.nodes[nid].attrs.get("cidr_block")
                if isinstance(az, str):
                    g.nodes[nid].label = f"{block.split('.', 1)[1]} {az}" + (f"\n{cidr}" if _is_known(cidr) else "")
        # Other network components sit in the innermost network cluster they reference.
        network_kinds = {"nat_gateway", "vpc_endpoint", "security_group", "internet_gateway", "flow_log"}
        for node in list(g.nodes.values()):
            if node.owner != "terraform" or node.kind not in network_kinds:
                continue
            refs = self.refs(node.block)
            subnet_clusters = sorted({f"subnets:{_ref_address(r)[0]}" for r in refs if r.startswith("aws_subnet.")})
            vpc_clusters = sorted({f"vpc:{t}" for r in refs if r.startswith("aws_vpc.") for t in self.targets([r])})
            if subnet_clusters and subnet_clusters[0] in g.clusters:
                node.cluster = subnet_clusters[0]
            elif vpc_clusters and vpc_clusters[0] in g.clusters:
                node.cluster = vpc_clusters[0]

    def attach_details(self) -> None:
        """Record each detail resource on the component it configures (shown in graph-<env>.json, not drawn)."""
        for block, info in self.managed_blocks():
            if not self.is_detail(info["type"]):
                continue
            # Prefer the resource whose type this one extends (aws_s3_bucket_policy -> aws_s3_bucket).
            refs = sorted(
                self.refs(block), key=lambda r: (not info["type"].startswith(_ref_address(r)[0].split(".")[0]), r)
            )
            for ref in refs:
                targets = self.targets([ref])
                if targets:
                    for t in targets:
                        details = self.graph.nodes[t].attrs.setdefault("details", [])
                        if block not in details:
                            details.append(block)
                    self.detail_of[block] = _ref_address(ref)[0]
                    break

    def add_tf_edges(self) -> None:  # noqa: PLR0912 - one branch per resource type with edges
        g = self.graph
        for block, info in self.managed_blocks():
            rtype = info["type"]
            sources = self.instances.get(block, [])
            if rtype == "aws_cloudwatch_metric_alarm":
                for src in sources:
                    for t in self.targets(self.refs(block, "dimensions", "metric_query")):
                        g.link(src, t, "monitors")
                for src in sources:
                    dlq = self.alarm_is_dlq(src)
                    for t in self.targets(self.refs(block, "alarm_actions", "ok_actions", "insufficient_data_actions")):
                        g.link(src, t, "notifies", "dlq" if dlq else "")
            elif rtype in ("aws_iam_role_policy", "aws_iam_role_policy_attachment", "aws_iam_policy"):
                self.add_grants(block, info)
            elif rtype == "aws_flow_log":
                for src in sources:
                    for t in self.targets(self.refs(block, "log_destination")):
                        g.link(src, t, "logs to")
            elif rtype == "aws_vpc_endpoint":
                for src in sources:
                    for t in self.targets(self.refs(block, "route_table_ids")):
                        g.link(src, t, "routes")
        # An alarm watches what its dimensions name (known values in the plan), Terraform-owned or not.
        named = {(str(n.attrs["name"])): n.id for n in g.nodes.values() if _is_known(n.attrs.get("name"))}
        for alarm in g.of_kind("alarm"):
            for value in (alarm.attrs.get("dimensions") or {}).values():
                if isinstance(value, str) and value in named:
                    g.link(alarm.id, named[value], "monitors")
        # Role -> trust: which principals may assume it (from the assume-role policy document's statements).
        for block, info in self.managed_blocks():
            if info["type"] != "aws_iam_role":
                continue
            principals = sorted(
                {p for doc in self.policy_docs(self.refs(block, "assume_role_policy")) for p in doc["principals"]}
            )
            for nid in self.instances.get(block, []):
                if principals:
                    g.nodes[nid].attrs["trusted_principals"] = principals

    def policy_docs(self, refs: list[str]) -> list[dict[str, Any]]:
        docs = [self.plan["blocks"].get(_ref_address(r)[0], {}) for r in refs]
        return [st for d in docs for st in d.get("statements", [])]

    def alarm_is_dlq(self, alarm_id: str) -> bool:
        return any(
            e.source == alarm_id and e.purpose == "monitors" and self.graph.nodes[e.target].kind == "queue"
            for e in self.graph.edges
        )

    def add_grants(self, block: str, info: dict[str, Any]) -> None:
        """Role -> resource edges from the statements of the policies attached to each role."""
        keys = [i["index"] for i in self.plan["instances"].values() if i["block"] == block]
        if keys and all(isinstance(k, str) for k in keys):
            # for_each policies pair by key (role[each.key], log_group[each.key]): the plan's references name
            # the block only, so instances with the policy's own key are the ones meant, where they exist.
            for key in sorted(keys):
                self._grants(block, info, lambda ids, k=key: [i for i in ids if i.endswith(f'["{k}"]')] or ids)
        else:
            self._grants(block, info, lambda ids: ids)

    def _grants(self, block: str, info: dict[str, Any], narrow: Any) -> None:
        refs = [r for r in self.refs(block, "role", "roles") if r.startswith("aws_iam_role.")]
        roles = narrow(self.targets(refs))
        if not roles:
            return
        policy_refs = self.refs(block, "policy")
        if info["type"] == "aws_iam_role_policy_attachment":
            pol = [r for r in self.refs(block, "policy_arn") if r.startswith("aws_iam_policy.")]
            if not pol:
                managed = info.get("constants", {}).get("policy_arn", "(computed)")
                for role in roles:
                    policies = self.graph.nodes[role].attrs.setdefault("managed_policies", [])
                    if str(managed) not in policies:
                        policies.append(str(managed))
                return
            policy_refs = self.refs(_ref_address(pol[0])[0], "policy")
        per_target: dict[tuple[str, str], set[str]] = defaultdict(set)
        for st in self.policy_docs(policy_refs):
            for target in self._narrow_targets(st["targets"], narrow):
                per_target[(target, st["effect"])].update(st["actions"] or ("*",))
            if st["wildcard"]:
                for role in roles:
                    wild = self.graph.nodes[role].attrs.setdefault("wildcard_actions", [])
                    wild.extend(a for a in st["actions"] if a not in wild)
                    wild.sort()
        for (target, effect), actions in per_target.items():
            purpose = "denies" if effect.lower() == "deny" else "grants"
            for role in roles:
                self.graph.link(role, target, purpose, label=summarize_actions(actions))

    def _narrow_targets(self, refs: list[str], narrow: Any) -> list[str]:
        out: set[str] = set()
        for ref in refs:
            out.update(narrow(self.targets([ref])))
        return sorted(out)

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
        region = self.plan["variables"].get("aws_region")
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
        """sam_parameters: each key's Terraform expression, its planned value, what it points at."""
        out: dict[str, dict[str, Any]] = {}
        for key, entry in self.plan["sam_parameters"].items():
            out[key] = {
                "expression": entry["expression"],
                "value": entry["value"],
                "targets": self.targets(entry["targets"]),
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


def _is_known(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and value != UNKNOWN


def _declaring_files(repo: Path) -> dict[str, str]:
    """Block address -> the .tf file declaring it (python-hcl2; only for the docs' "defined in" column)."""
    import hcl2

    out: dict[str, str] = {}
    for path in sorted((repo / "terraform").glob("*.tf")):
        with path.open(encoding="utf-8") as fh:
            doc = hcl2.load(fh)
        for mode, prefix in (("resource", ""), ("data", "data.")):
            for block in doc.get(mode, []):
                for rtype, named in block.items():
                    for name in named:
                        out[f"{prefix}{rtype.strip(chr(34))}.{name.strip(chr(34))}"] = path.relative_to(repo).as_posix()
    return out


def load_plan(repo: Path, environment: str) -> dict[str, Any]:
    """The committed digest of ``environment``'s terraform plan (regenerate with generate_diagrams.py)."""
    return json.loads(tfplan.digest_path(repo, environment).read_text(encoding="utf-8"))


def build_graph(repo: Path, environment: str = DEFAULT_ENVIRONMENT, plan: dict[str, Any] | None = None) -> Graph:
    """The graph of one environment: its Terraform plan digest joined with sam/template.yaml."""
    plan = load_plan(repo, environment) if plan is None else plan
    template = repo / "sam" / "template.yaml"
    sam = load_template(template, repo) if template.is_file() else None
    builder = _Builder(plan, _declaring_files(repo), sam, environment)
    tfvars = repo / "terraform" / "environments" / f"{environment}.tfvars"
    builder.graph.tfvars = tfvars.relative_to(repo).as_posix() if tfvars.is_file() else None
    builder.add_terraform()
    builder.add_sam()
    return builder.graph
