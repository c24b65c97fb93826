"""The per-environment values an administrator must commit before a real deploy (docs/ci-cd.md, step 2).

The repository ships dev/staging/prod files with sample values so they plan out of the box. Applying them as
they are does harm rather than failing: ``github_repository`` is the OIDC trust of both deploy roles, so the
sample name would let *that* repository's workflows assume them, and CI would be locked out of its own roles.
``deploy.sh <env>`` therefore checks the files before anything touches AWS:

- the backend's ``bucket`` is not the sample name (``...REPLACE_WITH_ACCOUNT_ID``);
- in GitHub Actions, ``github_repository`` is the repository the workflow runs in (``GITHUB_REPOSITORY``);
  elsewhere, it is not the sample repository unless this clone's ``origin`` is that repository;
- ``terraform_state_bucket``, when set, is the backend's bucket (it grants infra-deployer the state).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from deploylib.errors import DeployError

SAMPLE_REPOSITORY = "tfsam-org/tfsam"  # what the shipped tfvars name
SAMPLE_BUCKET_MARKER = "REPLACE_WITH_"  # what the shipped backend files' bucket names contain
SETUP_DOC = "docs/ci-cd.md 'One-time bootstrap'"

_GITHUB_REMOTE = re.compile(r"github\.com[:/](?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def hcl_values(path: Path) -> dict[str, Any]:
    """Top-level attributes of a tfvars/tfbackend file as plain Python values (quotes and comments dropped)."""
    import hcl2

    options = hcl2.SerializationOptions(with_comments=False, strip_string_quotes=True)
    try:
        with path.open(encoding="utf-8") as handle:
            return dict(hcl2.load(handle, serialization_options=options))
    except Exception as exc:  # python-hcl2 raises lark's errors (UnexpectedToken, ...), not one base class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeployError(f"{path.name} is not valid HCL ({first}): fix it and retry") from exc


def origin_repository(root: Path) -> str | None:
    """owner/name of this clone's ``origin`` remote when it is on GitHub, else None."""
    try:
        url = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:  # no git on PATH
        return None
    match = _GITHUB_REMOTE.search(url)
    return match.group("repo") if match else None


def problems(env_name: str, tfvars: Path, backend: Path, root: Path, env: dict[str, str]) -> list[str]:
    """What is still a sample value or inconsistent in the environment's files, one sentence each."""
    found: list[str] = []
    rel_tfvars, rel_backend = tfvars.relative_to(root), backend.relative_to(root)
    variables, backend_values = hcl_values(tfvars), hcl_values(backend)

    bucket = str(backend_values.get("bucket") or "")
    if not bucket or SAMPLE_BUCKET_MARKER in bucket:
        found.append(
            f"{rel_backend} names no real state bucket (bucket = {bucket!r}): create the bucket and set its "
            f"name there ({SETUP_DOC})"
        )

    repository = str(variables.get("github_repository") or "")
    actions_repository = env.get("GITHUB_REPOSITORY") if env.get("GITHUB_ACTIONS") == "true" else None
    if actions_repository:
        if repository != actions_repository:
            found.append(
                f"{rel_tfvars} has github_repository = {repository!r} but this workflow runs in "
                f"{actions_repository!r}: the deploy roles would trust the other repository's workflows and "
                "this one could not assume them again; set it to this repository (same spelling)"
            )
    elif repository == SAMPLE_REPOSITORY and origin_repository(root) != SAMPLE_REPOSITORY:
        found.append(
            f"{rel_tfvars} still has the sample github_repository = {SAMPLE_REPOSITORY!r}: the deploy roles "
            f"would trust that repository's workflows; set it to the owner/name of the repository whose Actions "
            f"deploy {env_name} ({SETUP_DOC})"
        )

    state_bucket = variables.get("terraform_state_bucket")
    if not state_bucket:
        found.append(
            f"{rel_tfvars} sets no terraform_state_bucket: infra-deployer (CI) would get no access to this "
            f"environment's state (its first init would fail with AccessDenied) and infra-planner no lock; set it "
            f"to the bucket named in {rel_backend}"
        )
    elif bucket and state_bucket != bucket:
        found.append(
            f"{rel_tfvars} has terraform_state_bucket = {state_bucket!r} but {rel_backend} keeps the state in "
            f"{bucket!r}: infra-deployer would be granted the wrong bucket; make them the same"
        )
    return found
