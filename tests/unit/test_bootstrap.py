"""scripts/bootstrap.sh: idempotent, and a clear message when Python 3.13 is missing."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

BOOTSTRAP = Path("scripts/bootstrap.sh")


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_second_run_changes_nothing(repo_root: Path, tool_env: dict[str, str]) -> None:
    first = _run(repo_root / BOOTSTRAP, tool_env)  # brings the venv up to date if pyproject moved
    assert first.returncode == 0, first.stderr
    stamps = [repo_root / ".venv/.bootstrap-stamp", repo_root / ".venv/tools/checkov/.bootstrap-stamp"]
    before = {p: p.stat().st_mtime_ns for p in stamps}

    started = time.monotonic()
    second = _run(repo_root / BOOTSTRAP, tool_env)
    elapsed = time.monotonic() - started

    assert second.returncode == 0, second.stderr
    assert "venv up to date" in second.stdout
    assert "checkov up to date" in second.stdout
    assert "installing" not in second.stdout, second.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == before
    print(f"second bootstrap run: {elapsed:.2f}s")  # reported, not asserted: machines are shared and noisy


def _isolated_copy(repo_root: Path, tmp_path: Path) -> Path:
    """A repo with only the bootstrap and the pins, so a failed run can be checked for side effects."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(repo_root / BOOTSTRAP, tmp_path / BOOTSTRAP)
    shutil.copy(repo_root / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / BOOTSTRAP


def test_missing_python_313_names_what_to_install(repo_root: Path, tmp_path: Path) -> None:
    # Simulate a machine without 3.13: a PATH with only the system Python and an empty pyenv root.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    result = _run(_isolated_copy(repo_root, tmp_path), env)

    assert result.returncode != 0
    assert "Python 3.13 not found" in result.stderr
    assert "pyenv install 3.13" in result.stderr
    assert not (tmp_path / ".venv").exists(), "a failed bootstrap must leave nothing behind"


def test_wrong_python_version_is_rejected(repo_root: Path, tmp_path: Path) -> None:
    other = shutil.which("python3.11") or "/usr/bin/python3.11"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TFSAM_PYTHON": other}
    result = _run(_isolated_copy(repo_root, tmp_path), env)

    assert result.returncode != 0
    assert "Python 3.13 not found" in result.stderr
    assert not (tmp_path / ".venv").exists()
