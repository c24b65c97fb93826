"""deploy.sh local: a Terraform failure caused by the emulator dying is reported as that, with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploylib import local
from deploylib.cli import Options
from deploylib.errors import DeployError
from localcloud.state import LocalState

RAW = "terraform apply failed: Error: reading STS Caller Identity (workspace /x/terraform)"


def _fail(*_args: object) -> None:
    raise DeployError(RAW)


@pytest.mark.parametrize("emulator_alive", [True, False])
def test_terraform_failure_names_a_dead_emulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator_alive: bool
) -> None:
    monkeypatch.setattr(local, "_apply_terraform", _fail)
    monkeypatch.setattr(local, "_healthy", lambda _url: emulator_alive)
    state = LocalState.from_env({"TFSAM_LOCAL_DIR": str(tmp_path)})
    with pytest.raises(DeployError) as raised:
        local.apply_terraform(state, "http://localhost:1", False, None, Options(env="local"))  # type: ignore[arg-type]
    message = str(raised.value)
    if emulator_alive:
        # A real Terraform error (bad config, unsupported call) is passed through unchanged.
        assert message == RAW
    else:
        assert message.startswith("the local emulator stopped during terraform apply: run ./scripts/deploy.sh local")
        assert str(tmp_path / "emulator" / "moto.log") in message
