"""Fixtures of the infra tier: emulators, Terraform workspaces pointed at them, and helpers on rendered state.

Applying the module takes about a minute, so it happens once per module (module-scoped fixtures). Tests that
share an applied workspace carry ``xdist_group`` marks; ``pytest_configure`` below makes
``pytest tests/infra -n 2`` honour them (the apply module on one worker, the env plans on the other). Without
group scheduling the tests are still correct, only slower (each worker applies its own copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localcloud import emulator, terraform_workspace
from tfhelpers import Workspace


def pytest_configure(config: pytest.Config) -> None:
    """Turn ``-n N`` (dist=load) into dist=loadgroup so xdist_group marks hold (the apply must run once).

    Effective when tests/infra is given on the command line (this conftest then loads before the workers
    start); for whole-suite runs pass ``--dist loadgroup`` explicitly. Ungrouped tests still load-balance.
    """
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"


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
