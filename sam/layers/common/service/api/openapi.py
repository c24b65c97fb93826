"""Write or check the committed OpenAPI document: ``python -m service.api.openapi [--check] [PATH]``.

The document is generated from the code; ``--check`` exits 1 when the committed copy drifted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def render() -> str:
    # Importing the routes needs no AWS access; settings are only read by route bodies.
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    from service.api.app import openapi_document

    return json.dumps(json.loads(openapi_document()), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default=str(Path("sam") / "openapi.json"))
    parser.add_argument("--check", action="store_true", help="fail if the file differs from the code")
    args = parser.parse_args(argv)
    target = Path(args.path)
    document = render()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != document:
            print(f"{target} is out of date: run python -m service.api.openapi {target}", file=sys.stderr)
            return 1
        return 0
    target.write_text(document, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
