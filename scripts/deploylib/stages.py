"""Stage runner: every step prints `==> [stage] what` and how long it took, and commands fail as one line."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from deploylib.errors import DeployError


def format_command(cmd: Sequence[str], cwd: Path | None = None, root: Path | None = None) -> str:
    """A copy-pasteable shell line; commands run elsewhere than the repo root are wrapped in `(cd DIR && ...)`."""
    line = shlex.join(cmd)
    if cwd is not None and root is not None and cwd.resolve() != root.resolve():
        rel = cwd.resolve().relative_to(root.resolve()) if cwd.resolve().is_relative_to(root.resolve()) else cwd
        line = f"(cd {shlex.quote(str(rel))} && {line})"
    return line


class StageRunner:
    """Runs named stages in order and reports elapsed seconds; `dry_run` prints commands instead of running."""

    def __init__(self, root: Path, env: Mapping[str, str], *, dry_run: bool = False, out: TextIO | None = None):
        self.root = root
        self.env = dict(env)
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.started = time.monotonic()
        self._current = "deploy"

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[None]:
        self._current = name
        self.say(f"==> [{name}] {what}")
        t0 = time.monotonic()
        yield
        self.say(f"<== [{name}] {'printed' if self.dry_run else 'done'} in {time.monotonic() - t0:.1f}s")

    def run(
        self,
        cmd: Sequence[str],
        *,
        cwd: Path | None = None,
        capture: bool = False,
        ok_codes: tuple[int, ...] = (0,),
        always: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run (or, in a dry run, print) one command; a code outside `ok_codes` is a DeployError.

        `always` runs the command even in a dry run (read-only helpers such as `terraform output`).
        """
        cwd = cwd or self.root
        line = format_command(cmd, cwd, self.root)
        if self.dry_run and not always:
            self.say(line)
            return subprocess.CompletedProcess(list(cmd), 0, "", "")
        self.say(f"    $ {line}")
        try:
            result = subprocess.run(
                list(cmd),
                cwd=cwd,
                env=self.env,
                text=True,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.PIPE if capture else None,
                check=False,
            )
        except FileNotFoundError as exc:
            raise DeployError(f"{cmd[0]} not found on PATH: run scripts/bootstrap.sh (or install it)") from exc
        if result.returncode not in ok_codes:
            detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
            raise DeployError(
                f"[{self._current}] `{shlex.join(cmd[:3])} ...` exited {result.returncode}"
                + (f": {detail[0]}" if detail else " (see its output above)")
            )
        return result

    def total(self) -> float:
        return time.monotonic() - self.started
