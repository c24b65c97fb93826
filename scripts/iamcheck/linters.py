"""parliament and cloudsplaining on rendered policy documents, reduced to comparable finding keys.

A finding key is ``(tool, category, subject)``: e.g. ``("parliament", "RESOURCE_MISMATCH", "ec2:DescribeVpcs")``
or ``("cloudsplaining", "write_actions_without_constraints", "xray:PutTraceSegments")``. Tests compare the set
of keys with an explicit allow-list that gives a reason for each one, so any new finding fails loudly.
"""

from __future__ import annotations

import importlib.resources
import json
import sys
import types
from collections.abc import Mapping
from typing import Any

Finding = tuple[str, str, str]

CLOUDSPLAINING_CHECKS = (
    "allows_privilege_escalation",
    "permissions_management_without_constraints",
    "write_actions_without_constraints",
    "tagging_actions_without_constraints",
    "allows_data_exfiltration_actions",
    "credentials_exposure",
    "service_wildcard",
    "infrastructure_modification",
    "contains_statement_using_not_action",
)


def _import_parliament() -> Any:
    """parliament 1.6.4 imports ``pkg_resources`` (gone from setuptools >= 81) for two data-file paths only.

    Rather than pinning an old setuptools into the shared venv, provide ``resource_filename`` from
    importlib.resources when (and only when) the real module is missing.
    """
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            return str(importlib.resources.files(package) / name)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    import parliament

    return parliament


def parliament_findings(document: Mapping[str, Any]) -> set[Finding]:
    parliament = _import_parliament()
    result = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    found: set[Finding] = set()
    for finding in result.findings:
        location = finding.location or {}
        subject = location.get("actions") or location.get("action") or location.get("string") or finding.detail
        if isinstance(subject, list | tuple):
            for item in subject:
                found.add(("parliament", str(finding.issue), str(item)))
        else:
            found.add(("parliament", str(finding.issue), str(subject)))
    return found


def cloudsplaining_findings(document: Mapping[str, Any]) -> set[Finding]:
    from cloudsplaining.scan.policy_document import PolicyDocument

    policy = PolicyDocument(dict(document))
    found: set[Finding] = set()
    for check in CLOUDSPLAINING_CHECKS:
        for item in getattr(policy, check):
            subject = item.get("type") if isinstance(item, dict) and "type" in item else item
            if isinstance(subject, dict):
                subject = subject.get("Sid") or json.dumps(subject, sort_keys=True)
            found.add(("cloudsplaining", check, str(subject)))
    return found


def findings(document: Mapping[str, Any]) -> set[Finding]:
    return parliament_findings(document) | cloudsplaining_findings(document)
