"""Bench-only emulator entry: the local cloud's moto (with its shims) plus one transaction fix.

moto 5.2's ``transact_write_items`` deep-copies the *whole table* (items and stream records) once per action
so that it can roll back: a TransactWriteItems costs O(actions x table size), and on a table of a few thousand
rows stream throughput measures moto's deepcopy, not the processor. This shim keeps moto's implementation and
its all-or-nothing semantics but snapshots only what a transaction can change (the prior state of each
touched item and the stream's length) and restores exactly that when moto cancels the transaction.
Run as ``python -m bench.moto_tx_shim --host H --port P``. The fix belongs in
scripts/localcloud/moto_shims.py (the local cloud's); until then the benchmark reports the stream row with
and without it.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

_local = threading.local()


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> tuple[list[Any], dict[int, Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    items: list[tuple[Any, Any, Any, Any]] = []
    streams: dict[int, tuple[Any, int]] = {}
    for action in transact_items:
        op = next(iter(action.values()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        attrs = op.get("Item") or op.get("Key") or {}
        if table.hash_key_attr not in attrs or (table.range_key_attr and table.range_key_attr not in attrs):
            continue  # moto rejects the action before writing anything
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        try:
            prior = table.get_item(hash_key, range_key)
        except Exception:
            prior = None
        items.append((table, hash_key, range_key, copy.deepcopy(prior)))
        if table.stream_shard is not None and id(table) not in streams:
            streams[id(table)] = (table, len(table.stream_shard.items))
    return items, streams


def _restore(items: list[Any], streams: dict[int, Any]) -> None:
    for table, hash_key, range_key, prior in reversed(items):
        if range_key is None:
            if prior is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = prior
        elif prior is None:
            table.items.get(hash_key, {}).pop(range_key, None)
            if hash_key in table.items and not table.items[hash_key]:
                del table.items[hash_key]
        else:
            table.items[hash_key][range_key] = prior
    for table, length in streams.values():
        del table.stream_shard.items[length:]


def patch_transaction_snapshot() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "_bench_tx_shim", False):
        return

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        # Inside a shimmed transaction moto's whole-table "backup" is the table itself (a no-op restore);
        # the shim's own snapshot does the rollback. Everything else is a real deepcopy.
        if getattr(_local, "active", False) and isinstance(obj, Table):
            return obj
        return copy.deepcopy(obj, memo)

    # moto's module reaches deepcopy through its own ``copy`` name; only that module sees this namespace.
    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        items, streams = _snapshot(self, transact_items)
        _local.active = True
        try:
            return original(self, transact_items)
        except Exception:
            _restore(items, streams)
            raise
        finally:
            _local.active = False

    transact_write_items._bench_tx_shim = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from localcloud import moto_shims

    moto_shims.apply_all()
    patch_transaction_snapshot()
    from moto import server

    server.main(argv)


if __name__ == "__main__":
    main()
