"""scripts/validate.sh: one summary line per check, the tool's output on failure, every check run, honest exit code.

The failure cases run against a scratch copy of the repository (its files as git sees them) with a defect planted,
through TFSAM_VALIDATE_ROOT, so the shared work tree is never touched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tooling

VALIDATE = tooling.REPO_ROOT / "scripts" / "validate.sh"
SUMMARY = re.compile(r"^(PASS|FAIL|SKIP) ([a-z-]+)(?: \((.*)\))?$")


def run_validate(*args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = tooling.tool_env()
    if root is not None:
        env["TFSAM_VALIDATE_ROOT"] = str(root)
    return subprocess.run(["bash", str(VALIDATE), *args], env=env, capture_output=True, text=True, timeout=600)


def summaries(stdout: str) -> dict[str, tuple[str, str]]:
    """check name -> (status, detail); fails if a check printed more than one summary line."""
    found: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        m = SUMMARY.match(line)
        if m:
            assert m.group(2) not in found, f"two summary lines for {m.group(2)}"
            found[m.group(2)] = (m.group(1), m.group(3) or "")
    return found


def all_checks() -> list[str]:
    return run_validate("--list").stdout.split()


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repository's files as git sees them (tracked plus untracked-not-ignored), without .venv or state."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=tooling.REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    dest = tmp_path / "repo"
    for raw in filter(None, files):
        src = tooling.REPO_ROOT / raw.decode()
        if src.is_file():  # deleted-but-tracked files are listed too
            target = dest / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def test_list_names_every_check() -> None:
    assert all_checks() == [
        "ruff",
        "ruff-format",
        "terraform-fmt",
        "terraform-validate",
        "checkov-terraform",
        "checkov-sam",
        "sam-validate",
        "cfn-lint",
        "actionlint",
        "diagrams",
        "generated-docs",
    ]


def test_unknown_check_is_a_usage_error() -> None:
    result = run_validate("--no-bootstrap", "rufff")
    assert result.returncode == 2
    assert "unknown check 'rufff'" in result.stderr


def test_failures_are_reported_and_later_checks_still_run(repo_copy: Path) -> None:
    # A ruff violation (unused import) and a Terraform file `terraform fmt` would rewrite.
    (repo_copy / "scripts" / "zz_planted.py").write_text("import os\n")
    (repo_copy / "terraform").mkdir(exist_ok=True)
    (repo_copy / "terraform" / "zz_planted.tf").write_text('locals {\n  a="x"\n    bb = "y"\n}\n')

    result = run_validate("--no-bootstrap", "ruff", "terraform-fmt", "actionlint", root=repo_copy)
    found = summaries(result.stdout)

    assert result.returncode != 0
    assert found["ruff"][0] == "FAIL"
    assert found["terraform-fmt"][0] == "FAIL"
    # The failing tools' own output follows their FAIL line, naming the planted files.
    ruff_block = result.stdout.split("FAIL ruff", 1)[1].split("FAIL terraform-fmt", 1)[0]
    assert "zz_planted.py" in ruff_block and "F401" in ruff_block
    assert "zz_planted.tf" in result.stdout.split("FAIL terraform-fmt", 1)[1]
    # Checks after a failure still run, and a passing check prints only its summary line.
    assert found["actionlint"][0] == "PASS"
    assert "Checking" not in result.stdout  # actionlint's own chatter is shown only on failure
    assert result.stdout.rstrip().endswith("checks failed: ruff terraform-fmt")


def test_missing_input_fails_instead_of_passing_silently(repo_copy: Path) -> None:
    shutil.rmtree(repo_copy / ".github")
    result = run_validate("--no-bootstrap", "actionlint", root=repo_copy)
    assert result.returncode == 1
    assert summaries(result.stdout)["actionlint"] == ("FAIL", ".github/workflows has no workflow")


def test_a_workflow_defect_fails_actionlint_with_a_count(repo_copy: Path) -> None:
    broken = repo_copy / ".github" / "workflows" / "zz_planted.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ nope.x }}\n")
    result = run_validate("--no-bootstrap", "actionlint", root=repo_copy)
    status, detail = summaries(result.stdout)["actionlint"]
    assert (status, result.returncode) == ("FAIL", 1)
    assert detail.startswith("1 finding,")
    assert 'undefined variable "nope"' in result.stdout


@pytest.mark.slow
def test_real_repo_passes_every_check_that_applies() -> None:
    # The same run `make lint` and the CI validate job do, bootstrap included.
    result = run_validate()
    found = summaries(result.stdout)
    assert set(found) == set(all_checks()), result.stdout
    failed = {name: detail for name, (status, detail) in found.items() if status == "FAIL"}
    assert not failed, result.stdout
    assert result.returncode == 0
    skipped = {name for name, (status, _) in found.items() if status == "SKIP"}
    # Only the diagram drift check may be skipped, and only while its generator does not exist.
    assert skipped <= ({"diagrams"} if not (tooling.REPO_ROOT / "scripts/generate_diagrams.py").exists() else set())
