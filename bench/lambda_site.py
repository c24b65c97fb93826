"""A Lambda-like ``sys.path`` for measuring imports: the layer's dependency closure, nothing else.

The dev venv also holds the SAM CLI's dependencies (awscrt, pyOpenSSL, requests...). Measured inside it,
botocore imports awscrt and the X-Ray SDK patches ``requests``: work the deployed function never does. So the
benchmark runs each handler in ``python -I -S`` (no site-packages) with a directory of symlinks to exactly the
distributions ``sam/layers/common/requirements.txt`` resolves to, the same versions the venv pins. Building it
is offline and takes milliseconds.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
LAYER_SRC = REPO / "sam" / "layers" / "common"
REQUIREMENTS = LAYER_SRC / "requirements.txt"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(requirement_lines: list[str]) -> list[md.Distribution]:
    """Installed distributions reachable from the requirement lines (extras followed, markers evaluated)."""
    seen: dict[str, md.Distribution] = {}
    queue: list[tuple[str, frozenset[str]]] = []
    for line in requirement_lines:
        text = line.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            queue.append((req.name, frozenset(req.extras)))
    extras_done: set[tuple[str, str]] = set()
    while queue:
        name, extras = queue.pop()
        key = _canonical(name)
        dist = seen.get(key) or md.distribution(name)
        first_visit = key not in seen
        seen[key] = dist
        wanted = [e for e in ({""} | set(extras)) if (key, e) not in extras_done]
        if not first_visit and wanted == []:
            continue
        for extra in wanted:
            extras_done.add((key, extra))
            for spec in dist.requires or []:
                req = Requirement(spec)
                env = {"extra": extra}
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                if req.marker is None and extra:
                    continue  # unconditional requirements were handled with the "" pass
                queue.append((req.name, frozenset(req.extras)))
    return sorted(seen.values(), key=lambda d: _canonical(d.metadata["Name"]))


def _top_level_entries(dist: md.Distribution) -> set[str]:
    """First path components a distribution installs into site-packages (packages, modules, dist-info)."""
    entries: set[str] = set()
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if not parts or parts[0] in {"..", "__pycache__"} or parts[0].endswith(".data"):
            continue
        entries.add(parts[0])
    return entries


def build(target: Path, requirements: Path = REQUIREMENTS) -> list[str]:
    """Fill ``target`` with symlinks to the closure's files; returns the distribution names it holds."""
    target.mkdir(parents=True, exist_ok=True)
    dists = dependency_closure(requirements.read_text(encoding="utf-8").splitlines())
    for dist in dists:
        root = Path(str(dist.locate_file("")))
        for entry in _top_level_entries(dist):
            source = root / entry
            link = target / entry
            if source.exists() and not link.exists():
                link.symlink_to(source)
    return [d.metadata["Name"] for d in dists]
