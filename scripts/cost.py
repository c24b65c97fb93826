#!/usr/bin/env python3
"""Monthly cost per environment, computed from the Terraform code and each environment's tfvars.

    .venv/bin/python scripts/cost.py            # print the tables and update docs/cost.md
    .venv/bin/python scripts/cost.py --check    # exit 1 if docs/cost.md is stale
    make cost

Counts come from the code (NAT gateways and EIPs from their for_each/count under that environment's tfvars,
interface endpoints x the subnets they sit in, alarms x the metrics each one evaluates, dashboards, KMS keys,
log groups with their retention); prices from docs/pricing/<region>.json (each with its source and how sure we
are). Nothing here knows a resource by name.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diagramgen.hclexpr import UNKNOWN, evaluate
from diagramgen.markers import diff, replace_section
from diagramgen.sammodel import load_template, resolve
from diagramgen.tfmodel import TfModule, TfResource, load_module, load_tfvars, tfvars_files

REPO = Path(__file__).resolve().parent.parent
COMMAND = "make cost"
ENV_ORDER = ["local", "dev", "staging", "prod"]


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    unit: str
    unit_price: float
    source: str  # the Terraform resource(s) counted

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price


def load_prices(repo: Path, region: str) -> dict[str, Any]:
    path = repo / "docs" / "pricing" / f"{region}.json"
    if not path.is_file():
        raise SystemExit(f"no price table for region {region}: add {path.relative_to(repo)}")
    return json.loads(path.read_text(encoding="utf-8"))


def _count(tf: TfModule, res: TfResource, tfvars: dict[str, Any]) -> list[Any]:
    keys = tf.instance_keys(res, tf.scope(tfvars))
    if keys is None:
        raise SystemExit(f"{res.address}: instance count is only known after apply; cost.py cannot price it")
    return keys


def fixed_lines(tf: TfModule, tfvars: dict[str, Any], pricing: dict[str, Any]) -> list[Line]:
    """Costs that accrue every hour whether or not anyone calls the API."""
    p = {k: v["usd"] for k, v in pricing["prices"].items()}
    hours = pricing["hours_per_month"]
    scope = tf.scope(tfvars)
    lines: list[Line] = []

    def add(item: str, qty: float, unit: str, price_key: str, source: list[str]) -> None:
        if qty:
            lines.append(Line(item, qty, unit, p[price_key], ", ".join(sorted(set(source)))))

    nat = [(r, k) for r in tf.of_type("aws_nat_gateway") for k in _count(tf, r, tfvars)]
    add("NAT gateway", len(nat) * hours, "gateway-hours", "nat_gateway_hour", [r.address for r, _ in nat])
    eips = [(r, k) for r in tf.of_type("aws_eip") for k in _count(tf, r, tfvars)]
    add("Public IPv4 (NAT EIP)", len(eips) * hours, "address-hours", "public_ipv4_hour", [r.address for r, _ in eips])

    endpoint_hours, sources = 0, []
    for res in tf.of_type("aws_vpc_endpoint"):
        for key in _count(tf, res, tfvars):
            inst = tf.instance_scope(res, scope, key) if key is not None else scope
            if str(evaluate(res.body.get("vpc_endpoint_type", "Gateway"), inst)).lower() != "interface":
                continue  # gateway endpoints (S3, DynamoDB) are free
            subnets = [r for r in tf.refs(res.body.get("subnet_ids", []), inst) if r.address.startswith("aws_subnet.")]
            azs = sum(len(_count(tf, tf.resources[r.address], tfvars)) for r in subnets) or 1
            endpoint_hours += azs * hours
            sources.append(res.address)
    add("Interface VPC endpoints", endpoint_hours, "endpoint-AZ-hours", "interface_endpoint_hour", sources)

    metrics, sources = 0, []
    for res in tf.of_type("aws_cloudwatch_metric_alarm"):
        per_alarm = sum(1 for q in res.body.get("metric_query", []) if "metric" in q) or 1
        n = len(_count(tf, res, tfvars))
        metrics += n * per_alarm
        if n:
            sources.append(res.address)
    add("CloudWatch alarms", metrics, "alarm metrics", "alarm_metric_month", sources)

    dashboards = [r for r in tf.of_type("aws_cloudwatch_dashboard") for _ in _count(tf, r, tfvars)]
    add("CloudWatch dashboards", len(dashboards), "dashboards", "dashboard_month", [r.address for r in dashboards])
    keys = [r for r in tf.of_type("aws_kms_key") for _ in _count(tf, r, tfvars)]
    add("KMS customer managed keys", len(keys), "keys", "kms_key_month", [r.address for r in keys])
    return lines


def log_lines(tf: TfModule, env: str, tfvars: dict[str, Any], pricing: dict[str, Any]) -> list[Line]:
    """Logs: ingestion is an assumption per environment; storage follows from the retention in the code."""
    p = {k: v["usd"] for k, v in pricing["prices"].items()}
    gb = float(pricing["assumptions"]["log_gb_ingested_per_month"].get(env, 0))
    scope = tf.scope(tfvars)
    groups = [(r, k) for r in tf.of_type("aws_cloudwatch_log_group") for k in _count(tf, r, tfvars)]
    if not groups or not gb:
        return []
    retention_days = []
    for res, key in groups:
        inst = tf.instance_scope(res, scope, key) if key is not None else scope
        days = evaluate(res.body.get("retention_in_days", 0), inst)
        retention_days.append(float(days) if days not in (UNKNOWN, None, 0) else 3650.0)  # 0 = never expire
    # Steady state: what is kept is (monthly ingestion) x (retention in months), averaged over the groups.
    stored = gb * (sum(retention_days) / len(retention_days)) / 30.0
    src = ", ".join(sorted({r.address for r, _ in groups}))
    return [
        Line(f"Log ingestion ({len(groups)} log groups, assumed)", gb, "GB", p["logs_ingest_gb"], src),
        Line("Log storage at the configured retention", round(stored, 2), "GB-month", p["logs_storage_gb_month"], src),
    ]


def per_million_requests(repo: Path, env: str, tfvars: dict[str, Any], tf: TfModule, pricing: dict) -> list[Line]:
    """What one million API requests add, for the function(s) behind the API events of the template."""
    p = {k: v["usd"] for k, v in pricing["prices"].items()}
    a = pricing["assumptions"]["api_request"]
    arch = str(tf.variable_values(tfvars).get("lambda_architecture", "arm64"))
    memory_mb = 128.0
    template = repo / "sam" / "template.yaml"
    if template.is_file():
        sam = load_template(template, repo)
        params = {k: v.get("Default") for k, v in sam.parameters.items()} | {"Environment": env}
        for _, props in sam.of_type("AWS::Serverless::Function"):
            if any(ev.get("Type") in ("Api", "HttpApi") for ev in (props.get("Events") or {}).values()):
                mem = resolve(props.get("MemorySize", 128), params, {}, sam.mappings)
                memory_mb = float(mem) if isinstance(mem, (int, float)) else memory_mb
    gb_seconds = 1_000_000 * a["lambda_ms"] / 1000 * memory_mb / 1024
    gbs_key = "lambda_gb_second_x86_64" if arch == "x86_64" else "lambda_gb_second_arm64"
    return [
        Line("API Gateway REST calls", 1, "million", p["api_gateway_rest_million"], "sam/template.yaml"),
        Line("Lambda invocations", 1, "million", p["lambda_request_million"], "sam/template.yaml"),
        Line(f"Lambda duration ({a['lambda_ms']} ms x {memory_mb:.0f} MB, {arch})", round(gb_seconds), "GB-s",
             p[gbs_key], "sam/template.yaml"),
        Line("DynamoDB reads", a["dynamodb_reads"], "million RRU", p["dynamodb_read_million"], "terraform"),
        Line("DynamoDB writes", a["dynamodb_writes"], "million WRU", p["dynamodb_write_million"], "terraform"),
        Line("X-Ray traces (sampled)", a["xray_sampled_fraction"], "million", p["xray_trace_million"], "Tracing"),
    ]  # fmt: skip


def environment_costs(repo: Path) -> dict[str, dict[str, Any]]:
    tf = load_module(repo / "terraform", repo)
    files = tfvars_files(repo / "terraform")
    envs = sorted(files, key=lambda e: (ENV_ORDER.index(e) if e in ENV_ORDER else 99, e))
    out: dict[str, dict[str, Any]] = {}
    for env in envs:
        tfvars = load_tfvars(files[env])
        tfvars.setdefault("environment", env)
        region = str(tf.variable_values(tfvars).get("aws_region", "ap-northeast-1"))
        pricing = load_prices(repo, region)
        fixed = fixed_lines(tf, tfvars, pricing)
        logs = log_lines(tf, env, tfvars, pricing)
        per_m = per_million_requests(repo, env, tfvars, tf, pricing)
        out[env] = {"region": region, "fixed": fixed, "logs": logs, "per_million": per_m, "pricing": pricing,
                    "tfvars": files[env].relative_to(repo).as_posix()}  # fmt: skip
    return out


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else "$" + f"{x:.10f}".rstrip("0")


def _qty(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def markdown(costs: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| environment | fixed / month | logs / month (assumed volume) | per 1M API requests |",
        "|---|---:|---:|---:|",
    ]
    for env, c in costs.items():
        fixed = sum(line.monthly for line in c["fixed"])
        logs = sum(line.monthly for line in c["logs"])
        per_m = sum(line.monthly for line in c["per_million"])
        rows.append(f"| {env} | {_usd(fixed)} | {_usd(logs)} | {_usd(per_m)} |")
    parts = ["\n".join(rows)]
    for env, c in costs.items():
        parts.append(f"\n### {env} (`{c['tfvars']}`, {c['region']})\n")
        table = ["| item | quantity | unit | unit price | monthly | counted from |", "|---|---:|---|---:|---:|---|"]
        for section, lines in (("fixed", c["fixed"]), ("logs", c["logs"]), ("per 1M requests", c["per_million"])):
            for line in lines:
                table.append(
                    f"| {line.item} ({section}) | {_qty(line.quantity)} | {line.unit} | {_usd(line.unit_price)} "
                    f"| {_usd(line.monthly)} | `{line.source}` |"
                )
        if not c["fixed"]:
            table.append("| no fixed-cost resources in this environment | | | | $0.00 | |")
        parts.append("\n".join(table))
    pricing = next(iter(costs.values()))["pricing"] if costs else {}
    if pricing:
        parts.append(
            f"\nPrices: `docs/pricing/{pricing['region']}.json` (checked {pricing['checked']}, "
            f"{pricing['hours_per_month']} hours per month; free tiers not deducted)."
        )
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if docs/cost.md differs from the code")
    parser.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    table = markdown(environment_costs(repo))
    doc = repo / "docs" / "cost.md"
    old = doc.read_text(encoding="utf-8")
    new = replace_section(old, "cost", table, COMMAND)
    if args.check:
        if new != old:
            print("DRIFT: docs/cost.md is stale; run `make cost` and commit it:", file=sys.stderr)
            print(diff(old, new, "cost.md"), file=sys.stderr)
            return 1
        print("ok: docs/cost.md matches the code")
        return 0
    print(table)
    if new != old:
        doc.write_text(new, encoding="utf-8")
        print(f"updated {doc.relative_to(repo)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
