"""The cost table follows the code: counts come from the tfvars, prices from the price file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cost
import pytest


@pytest.fixture
def repo_copy(repo_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(repo_root / "terraform", tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform"))
    shutil.copytree(repo_root / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("*.png"))
    (tmp_path / "sam").mkdir()
    shutil.copy(repo_root / "sam" / "template.yaml", tmp_path / "sam" / "template.yaml")
    return tmp_path


def _line(costs: dict, env: str, item: str) -> float:
    return sum(line.monthly for line in costs[env]["fixed"] if line.item == item)


def _prices(repo: Path) -> dict[str, float]:
    data = json.loads((repo / "docs" / "pricing" / "ap-northeast-1.json").read_text())
    return {k: v["usd"] for k, v in data["prices"].items()} | {"hours": data["hours_per_month"]}


def test_every_price_has_a_source_and_the_tokyo_nat_rate(repo_root: Path) -> None:
    data = json.loads((repo_root / "docs" / "pricing" / "ap-northeast-1.json").read_text())
    assert data["region"] == "ap-northeast-1"
    for name, price in data["prices"].items():
        assert price["source"].startswith("https://"), name
        assert price["confidence"], name
    # The seed priced NAT at us-east-1's $0.045/h; Tokyo's is higher.
    assert data["prices"]["nat_gateway_hour"]["usd"] > 0.045


def test_dev_without_nat_pays_no_nat(repo_root: Path) -> None:
    costs = cost.environment_costs(repo_root)
    tfvars = (repo_root / costs["dev"]["tfvars"]).read_text()
    assert re.search(r"^enable_nat_gateway\s*=\s*false", tfvars, re.M)
    assert _line(costs, "dev", "NAT gateway") == 0
    assert _line(costs, "dev", "Public IPv4 (NAT EIP)") == 0


@pytest.mark.parametrize(("single", "expected_gateways"), [("true", 1), ("false", 2)])
def test_enabling_nat_adds_hours_times_price_times_count(repo_copy: Path, single: str, expected_gateways: int) -> None:
    before = cost.environment_costs(repo_copy)
    dev = repo_copy / before["dev"]["tfvars"]
    text = re.sub(r"^enable_nat_gateway\s*=.*$", "enable_nat_gateway = true", dev.read_text(), flags=re.M)
    text = re.sub(r"^az_count\s*=.*$", "az_count = 2", text, flags=re.M)
    dev.write_text(text + f"\nsingle_nat_gateway = {single}\n")
    after = cost.environment_costs(repo_copy)
    p = _prices(repo_copy)
    delta = _line(after, "dev", "NAT gateway") - _line(before, "dev", "NAT gateway")
    assert delta == pytest.approx(p["hours"] * p["nat_gateway_hour"] * expected_gateways)
    eip = _line(after, "dev", "Public IPv4 (NAT EIP)")
    assert eip == pytest.approx(p["hours"] * p["public_ipv4_hour"] * expected_gateways)
    # Nothing else moved.
    others = [line for line in after["dev"]["fixed"] if "NAT" not in line.item]
    assert others == [line for line in before["dev"]["fixed"] if "NAT" not in line.item]


def test_alarms_are_counted_from_the_code(repo_copy: Path) -> None:
    before = _line(cost.environment_costs(repo_copy), "dev", "CloudWatch alarms")
    (repo_copy / "terraform" / "zz_extra_alarm.tf").write_text(
        'resource "aws_cloudwatch_metric_alarm" "extra" {\n  for_each = toset(["a", "b"])\n'
        '  alarm_name = "extra-${each.key}"\n  metric_name = "Errors"\n}\n'
    )
    after = _line(cost.environment_costs(repo_copy), "dev", "CloudWatch alarms")
    assert after - before == pytest.approx(2 * _prices(repo_copy)["alarm_metric_month"])


def test_interface_endpoints_cost_per_az(repo_copy: Path) -> None:
    before = cost.environment_costs(repo_copy)
    assert _line(before, "dev", "Interface VPC endpoints") == 0
    (repo_copy / "terraform" / "zz_endpoint.tf").write_text(
        'resource "aws_vpc_endpoint" "extra" {\n  vpc_endpoint_type = "Interface"\n'
        '  service_name = "com.amazonaws.ap-northeast-1.sts"\n'
        "  subnet_ids = [for s in aws_subnet.private : s.id]\n}\n"
    )
    after = cost.environment_costs(repo_copy)
    p = _prices(repo_copy)
    azs = 2  # dev.tfvars az_count
    assert _line(after, "dev", "Interface VPC endpoints") == pytest.approx(
        azs * p["hours"] * p["interface_endpoint_hour"]
    )


def test_cost_md_check(repo_root: Path, repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--check"]) == 0, capsys.readouterr().err
    dev = repo_copy / "terraform" / "environments" / "dev.tfvars"
    dev.write_text(re.sub(r"^enable_nat_gateway\s*=.*$", "enable_nat_gateway = true", dev.read_text(), flags=re.M))
    assert cost.main(["--repo", str(repo_copy), "--check"]) == 1
    assert "make cost" in capsys.readouterr().err
