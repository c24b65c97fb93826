"""Fixtures of the infra tier: an emulator per module and a Terraform workspace on it.

The expensive shared states (the applied local stack, the three environment plans) are session-scoped
fixtures in their test modules: with ``-n 2`` each worker builds at most one of each, whichever way xdist
spreads the tests. The ``xdist_group`` marks on those modules are meant for ``--dist loadgroup``; in this
repo (xdist 3.8) they did not keep the apply tests on one worker, so do not rely on them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localcloud import emulator, terraform_workspace
from tfhelpers import Workspace


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulator.Emulator]:
    """A moto server of this module's own (free port), stopped by PID afterwards."""
    server = emulator.start(tmp_path_factory.mktemp("emulator"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def workspace(cloud: emulator.Emulator, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    path = terraform_workspace.prepare(tmp_path_factory.mktemp("tf"), cloud.endpoint_url)
    terraform_workspace.init(path)
    return Workspace(path=path, cloud=cloud)
