"""Fixtures shared by every tier. Tier-specific fixtures live in tests/<tier>/conftest.py."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tooling


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return tooling.REPO_ROOT


@pytest.fixture(scope="session")
def tool_env() -> dict[str, str]:
    """Environment for subprocesses: the bootstrapped venv and Terraform's offline provider config."""
    return tooling.tool_env()


def free_port() -> int:
    """A loopback port nothing listens on right now (tests run in parallel: never hard-code ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
