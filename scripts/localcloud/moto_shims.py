"""Server-side patches for gaps in moto that the project depends on, and the entry point that serves moto with them.

Run as ``python -m localcloud.moto_shims --host 127.0.0.1 --port PORT`` (this is what
:func:`localcloud.emulator.start` launches): it applies every shim in :data:`SHIMS`, then hands over to
``moto.server.main``. Each shim is small, names the moto gap it closes and is unit-tested in
``tests/unit/test_moto_shims.py``; delete a shim once the pinned moto release fixes its gap.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_alias_lock = threading.Lock()


def patch_stream_resource_policy() -> None:
    """Let DynamoDB Put/Get/DeleteResourcePolicy accept a *stream* ARN (moto 5.2.x gap).

    moto takes the table name from the ARN's last ``/`` segment, so for
    ``arn:aws:dynamodb:REGION:ACCT:table/NAME/stream/LABEL`` it looks up a table called LABEL and answers
    ResourceNotFoundException, which breaks ``aws_dynamodb_resource_policy`` on a stream (seed 000's
    cross-account consumers). Real DynamoDB accepts the current stream's ARN. The shim checks that NAME exists
    and LABEL is its current stream, then lets moto's own implementation (revision ids, storage keyed by the
    full ARN) run with LABEL briefly aliased to the table.
    """
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(original, "_stream_arn_shim", False):  # idempotent: patching twice must not nest
            return original

        @functools.wraps(original)
        def wrapper(self: DynamoDBBackend, resource_arn: str, *args: Any, **kwargs: Any) -> Any:
            parts = resource_arn.split("/")
            if len(parts) != 4 or parts[2] != "stream":
                return original(self, resource_arn, *args, **kwargs)
            table = self.tables.get(parts[1])
            if table is None or table.latest_stream_label != parts[3]:
                raise ResourceNotFoundException(table_name=parts[1])
            with _alias_lock:  # moto serves requests on threads: one alias at a time, removed at once
                self.tables[parts[3]] = table
                try:
                    return original(self, resource_arn, *args, **kwargs)
                finally:
                    self.tables.pop(parts[3], None)

        wrapper._stream_arn_shim = True  # type: ignore[attr-defined]
        return wrapper

    for name in ("put_resource_policy", "get_resource_policy", "delete_resource_policy"):
        setattr(DynamoDBBackend, name, wrap(getattr(DynamoDBBackend, name)))


SHIMS: tuple[Callable[[], None], ...] = (patch_stream_resource_policy,)


def apply_all() -> None:
    """Apply every shim (safe to call more than once)."""
    for shim in SHIMS:
        shim()


def main(argv: list[str] | None = None) -> None:
    """Patch moto, then run its server with moto's own CLI arguments (``--host``, ``--port``...)."""
    apply_all()
    from moto import server

    server.main(argv)


if __name__ == "__main__":
    main()
