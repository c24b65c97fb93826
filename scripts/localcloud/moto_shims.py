"""Server-side patches for gaps in moto that the project depends on, and the entry point that serves moto with them.

Run as ``python -m localcloud.moto_shims --host 127.0.0.1 --port PORT`` (this is what
:func:`localcloud.emulator.start` launches): it applies every shim in :data:`SHIMS`, then hands over to
``moto.server.main``. Each shim is small, names the moto gap it closes and is unit-tested in
``tests/unit/test_moto_shims.py``; delete a shim once the pinned moto release fixes its gap.
"""

from __future__ import annotations

import copy
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


_tx_state = threading.local()  # .active: this thread is inside a shimmed transaction
_tx_lock = threading.RLock()  # one transaction at a time; stream appends and reads wait behind it


def patch_transaction_rollback_in_place() -> None:
    """Make TransactWriteItems snapshot and roll back only the items it names, in place (moto 5.2.x gap).

    moto deep-copies every touched Table before each transaction (150-400 ms once a table holds a few thousand
    rows) and, when the transaction is cancelled, *replaces* ``self.tables[name]`` with that copy: shard
    iterators handed out before keep reading the discarded Table's stream shard, so a stream consumer silently
    stops seeing new writes. The shim saves a deep copy of each named item (or None) and each touched stream's
    length, makes moto's whole-table deepcopy return the table itself while the transaction runs, and on any
    error restores those items in the table's own storage and truncates the stream back. Other writers' stream
    appends and all stream reads wait on the lock, so the truncated tail only ever holds this transaction's
    records and no reader has seen them.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import StreamShard, Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_in_place_shim", False):  # idempotent: patching twice must not nest
        return

    def table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
        if getattr(_tx_state, "active", False):
            return self
        clone = Table.__new__(type(self))  # elsewhere (backups...): the default deep copy, as before
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    def snapshot(backend: DynamoDBBackend, op: dict[str, Any]) -> tuple[Table, Any, Any, Any] | None:
        table = backend.tables.get(op.get("TableName", ""))
        attrs = op.get("Item") or op.get("Key") or {}
        if table is None or table.hash_key_attr not in attrs:
            return None  # moto rejects this op before it writes anything
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
        if table.has_range_key and range_key is None:
            return None
        return table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))

    def restore(table: Table, hash_key: Any, range_key: Any, prior: Any) -> None:
        # moto's storage: {hash: Item} for hash-only tables, {hash: {range: Item}} with a range key.
        storage, key = (table.items[hash_key], range_key) if table.has_range_key else (table.items, hash_key)
        if prior is None:
            storage.pop(key, None)
        else:
            storage[key] = prior
        if table.has_range_key and not storage:
            del table.items[hash_key]  # as if the partition had never been touched

    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with _tx_lock:
            ops = [next(iter(item.values()), {}) for item in transact_items if isinstance(item, dict)]
            saved = [s for s in (snapshot(self, op) for op in ops if isinstance(op, dict)) if s is not None]
            tables = {id(s[0]): s[0] for s in saved}.values()
            streams = [(t.stream_shard, len(t.stream_shard.items)) for t in tables if t.stream_shard is not None]
            _tx_state.active = True
            try:
                return original(self, transact_items)
            except BaseException:
                for table, hash_key, range_key, prior in reversed(saved):
                    restore(table, hash_key, range_key, prior)
                for shard, length in streams:
                    del shard.items[length:]
                raise
            finally:
                _tx_state.active = False

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: StreamShard, *args: Any, **kwargs: Any) -> Any:
            with _tx_lock:
                return method(self, *args, **kwargs)

        return wrapper

    transact_write_items._in_place_shim = True  # type: ignore[attr-defined]
    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    for name in ("add", "get"):  # appends and reads wait for a transaction in flight, which may yet be undone
        setattr(StreamShard, name, locked(getattr(StreamShard, name)))
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


SHIMS: tuple[Callable[[], None], ...] = (patch_stream_resource_policy, patch_transaction_rollback_in_place)


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
