"""Artifact sizes as they are uploaded: each function's code zip (code only) and the layer zip."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from bench import lambda_site

REPO = lambda_site.REPO
SKIP_DIRS = {"__pycache__"}


def zipped_size(root: Path, prefix: str = "") -> tuple[int, int]:
    """(zip bytes, file bytes) of ``root``'s tree deflated into an in-memory zip, as SAM packages a CodeUri."""
    buffer = io.BytesIO()
    raw = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder, dirs, files in os.walk(root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                if name.endswith(".pyc"):
                    continue
                path = Path(folder) / name
                arcname = prefix + str(path.relative_to(root))
                archive.write(path, arcname)
                raw += path.stat().st_size
    return buffer.getbuffer().nbytes, raw


def function_sizes() -> dict[str, tuple[int, int]]:
    return {fn: zipped_size(REPO / "sam" / "functions" / fn) for fn in ("api", "processor", "scheduled")}


def layer_size(site: Path) -> tuple[int, int]:
    """The layer as ``sam build`` lays it out (``python/``: service package + requirements closure)."""
    service = zipped_size(lambda_site.LAYER_SRC / "service", "python/service/")
    deps = zipped_size(site, "python/")
    return service[0] + deps[0], service[1] + deps[1]
