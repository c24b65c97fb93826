"""The suite relies on `--dist loadgroup`: one local cloud per group, one Terraform apply per module.

If a pytest / pytest-xdist pair stops honouring `xdist_group` (pytest 9.2 with xdist 3.8 did), every worker starts
its own local cloud and they race on shared caches. This test fails loudly instead.
"""

from __future__ import annotations

import os

import pytest


@pytest.mark.xdist_group("grouping-probe")
def test_xdist_group_marks_reach_the_scheduler(request: pytest.FixtureRequest) -> None:
    # On a worker, xdist rewrites `dist` to "no" and keeps the choice in `option.loadgroup`.
    if "PYTEST_XDIST_WORKER" not in os.environ or not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only meaningful under pytest-xdist with --dist loadgroup (as `make test` runs it)")
    assert request.node.nodeid.endswith("@grouping-probe"), request.node.nodeid
