"""Server-side patches for gaps in moto that the project depends on, and the entry point that serves moto with them.

Run as ``python -m localcloud.moto_shims --host 127.0.0.1 --port PORT`` (this is what
:func:`localcloud.emulator.start` launches): it applies every shim in :data:`SHIMS`, freezes the startup heap
(:func:`freeze_startup_heap`), then hands over to ``moto.server.main``. Each shim is small and names the moto
gap it closes: behaviour gaps (stream-ARN resource policies, in-place transaction rollback, atomic writes, the EC2
error for an unknown security group rule id) are tested in
``tests/unit/test_moto_shims.py``; speed gaps (GetRecords serialisation, expression re-parsing, quadratic item
sizing, the per-request package listing, DynamoDB request parsing) in ``tests/unit/test_moto_speed_shims.py``
against moto's own answers.
Delete a shim once the pinned moto release fixes its gap.
"""

from __future__ import annotations

import base64
import calendar
import copy
import datetime
import functools
import gc
import json
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


_WRITE_ACTIONS = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")


def patch_serialised_writes() -> None:
    """Serve DynamoDB writes one at a time: each is atomic with respect to every other write (moto 5.2.x gap).

    DynamoDB applies a conditional write atomically per item; moto's server runs each request on its own thread
    with no lock, so two ``UpdateItem``s conditioned on ``#v = :expected`` can both pass the check and both write
    (a lost update the caller was told succeeded; seen in CI through the API's optimistic locking). The shim runs
    the five write handlers (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems: the condition
    check, the write, the stream record and the ALL_OLD/UPDATED_* read) under :data:`_tx_lock`, the transaction
    shim's re-entrant lock. One lock for all tables: a batch or transaction spans tables with no lock ordering to
    get wrong, and moto's Python work is serialised by the GIL anyway. Reads (GetItem, Query, Scan) do not wait.
    """
    from moto.dynamodb.responses import DynamoHandler

    for name in _WRITE_ACTIONS:
        original = DynamoHandler.__dict__[name]
        if getattr(original, "_serialised_shim", False):  # idempotent: patching twice must not nest
            continue

        def serialised(self: DynamoHandler, _original: Any = original) -> Any:
            with _tx_lock:
                return _original(self)

        functools.update_wrapper(serialised, original)
        serialised._serialised_shim = True  # type: ignore[attr-defined]
        setattr(DynamoHandler, name, serialised)


def patch_stream_get_records_json() -> None:
    """Serve DynamoDB Streams GetRecords with ``json.dumps`` instead of moto's model-driven serializer (moto 5.2.x).

    moto's response serializer walks each record through botocore's output shapes attribute by attribute, about
    0.6 ms per record on this machine: under a stream load it was 60% of the emulator's CPU and held the local
    cloud's stream processing to a few hundred records/s. moto's stream records are already wire-shaped dicts;
    the only values JSON cannot take are ``ApproximateCreationDateTime`` (a naive UTC datetime: epoch seconds,
    truncated to milliseconds as moto's serializer does) and B/BS bytes (base64). The unit test checks the body
    equals moto's own serializer's for every attribute type and for INSERT/MODIFY/REMOVE records.
    """
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    original = DynamoDBStreamsHandler.get_records
    if getattr(original, "_json_shim", False):  # idempotent: patching twice must not nest
        return

    def wire(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            seconds = calendar.timegm(value.timetuple())
            return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        raise TypeError(f"GetRecords shim cannot serialise {type(value).__name__}")

    @functools.wraps(original)
    def get_records(self: DynamoDBStreamsHandler) -> tuple[str, dict[str, str]]:
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return json.dumps(result, default=wire), {"Content-Type": "application/x-amz-json-1.0"}

    get_records._json_shim = True  # type: ignore[attr-defined]
    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign,assignment]


_PARSE_CACHE_SIZE = 512
_ITEM_SIZE_LIMIT = 405000  # moto's LimitedSizeDict bound (DynamoDB's 400 KB, measured by moto at 409-410 KB)


def patch_condition_expression_memo() -> None:
    """Parse each distinct DynamoDB condition/filter expression once, not once per item (moto 5.2.x cost).

    moto lexes and parses an expression from its string every time it is used: three times per item of a
    TransactWriteItems (once to validate names, twice to evaluate), about 0.1 ms each, which made parsing
    ``attribute_not_exists(PK)`` half the cost of the stream processor's ledger transactions. The shim keys
    :meth:`ConditionExpressionParser.parse` on (expression, names, values) and hands back the same syntax tree
    (moto's ``Op``/``Func`` nodes are built once and only read by ``expr(item)``) together with the names and
    values the parse found, which moto's validation reads off the parser. Errors are never cached: an invalid
    expression is re-parsed and raises every time. Bounded: the cache is emptied when it reaches 512 entries.
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    if getattr(original, "_memo_shim", False):  # idempotent: patching twice must not nest
        return
    cache: dict[str | tuple[str], tuple[Any, tuple[str, ...], tuple[str, ...]]] = {}

    @functools.wraps(original)
    def parse(self: ConditionExpressionParser) -> Any:
        if not self.condition_expression:  # moto answers "no condition" at once: nothing to remember
            return original(self)
        # The ledger's attribute_not_exists(PK) has no names or values: its key needs no JSON dump.
        key: str | tuple[str] = (self.condition_expression,)
        if self.expression_attribute_names or self.expression_attribute_values:
            key = json.dumps(
                [self.condition_expression, self.expression_attribute_names, self.expression_attribute_values],
                sort_keys=True,
                default=repr,
            )
        hit = cache.get(key)
        if hit is None:
            tree = original(self)
            hit = (tree, tuple(self.expr_attr_names_found), tuple(self.expr_attr_values_found))
            if len(cache) >= _PARSE_CACHE_SIZE:
                cache.clear()
            cache[key] = hit
        else:
            self.expr_attr_names_found.extend(hit[1])
            self.expr_attr_values_found.extend(hit[2])
        return hit[0]

    parse._memo_shim = True  # type: ignore[attr-defined]
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


def patch_item_size_check_linear() -> None:
    """Check a new item's 400 KB limit once, not once per attribute (moto 5.2.x: quadratic in attributes).

    moto's ``Item.__init__`` stores attributes one by one into a ``LimitedSizeDict`` whose ``__setitem__`` sums
    the size of every attribute already stored, so building an item costs O(n^2) size computations; it was the
    largest single cost of ``PutItem``/``BatchWriteItem`` under the stream benchmark. Sizes are non-negative,
    so checking the finished item's total once is the same test (moto's own formula: each name's UTF-8 bytes
    plus ``DynamoType.size()``) and raises the same ``ItemSizeTooLarge``. Later updates to a stored item still
    go through moto's ``__setitem__``.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original = Item.__init__
    if getattr(original, "_linear_size_shim", False):  # idempotent: patching twice must not nest
        return

    @functools.wraps(original)
    def item_init(self: Item, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        converted = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > _ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.update(self.attrs, converted)  # LimitedSizeDict.update is dict's: no per-key re-summing

    item_init._linear_size_shim = True  # type: ignore[attr-defined]
    Item.__init__ = item_init  # type: ignore[method-assign]


def patch_module_list_once() -> None:
    """List moto's backend packages once, not on every request (moto 5.2.x cost).

    The server's dispatcher resolves each request's backend with ``host in list_of_moto_modules()``, a fresh
    ``os.listdir`` + ``isdir`` over moto's ~200 package directories (about 0.6 ms), under the dispatcher's lock.
    The installed packages cannot change while the server runs, so the shim lists them once.
    """
    from moto import backends

    original = backends.list_of_moto_modules
    if getattr(original, "_listed_once_shim", False):  # idempotent: patching twice must not nest
        return
    listed: list[tuple[str, ...]] = []

    @functools.wraps(original)
    def list_of_moto_modules() -> tuple[str, ...]:
        if not listed:
            listed.append(tuple(original()))
        return listed[0]

    list_of_moto_modules._listed_once_shim = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


_BLOB_AND_NUMBER_PARSERS: dict[str, Callable[[Any], Any]] = {
    "blob": base64.b64decode,
    "integer": int,
    "long": int,
    "short": int,
    "byte": int,
    "float": float,
    "double": float,
}


def _compile_json_shape(shape: Any, compiled: dict[str, Any]) -> Callable[[Any], Any] | None:
    """A function that turns the ``json.loads`` value of ``shape`` into what moto's ``JSONParser`` makes of it,
    or None where moto keeps the value as it is (strings, booleans, documents). Compiled once per shape name;
    recursive shapes (AttributeValue's ``M`` and ``L``) reach themselves through ``compiled``."""
    from moto.core.parse import default_timestamp_parser

    name = shape.name
    if name in compiled:
        return compiled[name]
    kind = shape.type_name
    if kind == "timestamp":
        compiled[name] = default_timestamp_parser
        return default_timestamp_parser
    if kind in _BLOB_AND_NUMBER_PARSERS:
        compiled[name] = _BLOB_AND_NUMBER_PARSERS[kind]
        return compiled[name]
    if kind not in ("structure", "list", "map") or (kind == "structure" and shape.is_document_type):
        compiled[name] = None
        return None
    cell: list[Callable[[Any], Any]] = []

    def recurse(value: Any) -> Any:  # a recursive shape's parser, used before it is finished
        return cell[0](value)

    compiled[name] = recurse
    parse: Callable[[Any], Any]
    if kind == "structure":
        # JSON name -> (member name, its parser); moto keeps modelled, non-null members, in the shape's order.
        members = {
            member_shape.serialization.get("name", member): (member, _compile_json_shape(member_shape, compiled))
            for member, member_shape in shape.members.items()
        }
        order = tuple(member for member, _ in members.values())

        def parse(value: Any) -> Any:
            if value is None:
                return None
            out = {}
            for key, raw in value.items():
                spec = members.get(key)
                if spec is not None and raw is not None:
                    out[spec[0]] = raw if spec[1] is None else spec[1](raw)
            if len(out) > 1:
                out = {member: out[member] for member in order if member in out}
            return out

    elif kind == "list":
        item = _compile_json_shape(shape.member, compiled)
        parse = list if item is None else (lambda value: [item(x) for x in value])
    else:
        key_parser = _compile_json_shape(shape.key, compiled)
        value_parser = _compile_json_shape(shape.value, compiled)

        def parse(value: Any) -> Any:
            return {
                key if key_parser is None else key_parser(key): raw if value_parser is None else value_parser(raw)
                for key, raw in value.items()
            }

    cell.append(parse)
    compiled[name] = parse
    return parse


def patch_dynamodb_request_parser_compiled() -> None:
    """Parse DynamoDB requests with a parser compiled once per operation (moto 5.2.x cost).

    For every request moto builds a new service model and parser, then walks the JSON body through botocore's
    input shapes one node at a time, visiting all ten members of every AttributeValue to find the one that is
    there: ~0.5 ms per 25-item BatchWriteItem, ~20% of the emulator's CPU under the stream benchmark. The shim
    compiles each operation's input shape once into functions that do the same conversions (structures keep
    their modelled, non-null members in the shape's order; blobs are base64-decoded, numbers and timestamps
    converted; everything else is kept as sent) and walk only the keys that are present. A body that is not a
    JSON object, or that the compiled parser cannot take, goes to moto's own parser, errors included. The unit
    test checks the result equals moto's parser's for every operation the project sends, blobs included.
    """
    from moto.core.responses import BaseResponse
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.__dict__.get("parse_parameters"), "_compiled_shim", False):  # idempotent
        return
    model = get_service_model("dynamodb")
    compiled_shapes: dict[str, Any] = {}
    parsers: dict[str, Callable[[Any], Any] | None] = {}
    compiling = threading.Lock()  # the server runs a thread per request; a shape is compiled by one of them

    def parse_parameters(self: DynamoHandler, request: Any) -> None:
        action = self._get_action()
        try:
            if action not in parsers:
                with compiling:
                    input_shape = model.operation_model(action).input_shape
                    parsers[action] = _compile_json_shape(input_shape, compiled_shapes)
            body = json.loads(request.data) if request.data else {}
            parser = parsers[action]
            if not isinstance(body, dict) or parser is None:
                raise ValueError("not a JSON object")
            self.params = parser(body)
        except Exception:  # moto's own parser decides, and raises its own errors
            BaseResponse.parse_parameters(self, request)

    parse_parameters._compiled_shim = True  # type: ignore[attr-defined]
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]


def patch_security_group_rule_id_not_found() -> None:
    """Answer a revoke naming an unknown security group rule id as EC2 does (moto 5.2.x gap).

    ``RevokeSecurityGroupIngress``/``Egress`` with ``SecurityGroupRuleIds``: EC2 rejects an id the group does not
    hold with ``InvalidSecurityGroupRuleId.NotFound`` (and revokes none of the ids); moto answers
    ``InvalidPermission.NotFound``, the code for rules named by their permissions. The AWS provider's
    ``aws_default_security_group`` (which revokes the VPC default group's rules by id) tolerates the first and
    fails on the second, so a revoke whose rule was already gone (seen once in CI, under load) failed
    ``terraform apply``. The shim checks the ids first and raises EC2's error; revokes by permission are moto's.
    """
    from moto.ec2.exceptions import InvalidSecurityGroupRuleIdNotFoundError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    for name, rules in (
        ("revoke_security_group_ingress", "ingress_rules"),
        ("revoke_security_group_egress", "egress_rules"),
    ):
        original = getattr(SecurityGroupBackend, name)
        if getattr(original, "_rule_id_shim", False):  # idempotent: patching twice must not nest
            continue

        def revoke(self: Any, *args: Any, _original: Any = original, _rules: str = rules, **kwargs: Any) -> Any:
            rule_ids = kwargs.get("security_rule_ids") or []
            group = self.get_security_group_by_name_or_id(kwargs.get("group_name_or_id"), kwargs.get("vpc_id"))
            if rule_ids and group is not None:  # no group: moto's own InvalidGroup.NotFound
                held = {rule.id for rule in getattr(group, _rules)}
                for rule_id in rule_ids:
                    if rule_id not in held:
                        raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
            return _original(self, *args, **kwargs)

        functools.update_wrapper(revoke, original)
        revoke._rule_id_shim = True  # type: ignore[attr-defined]
        setattr(SecurityGroupBackend, name, revoke)


def patch_flow_log_destination_arn() -> None:
    """Check a flow log's CloudWatch Logs group when it is named by ARN (moto 5.2.x gap).

    ``CreateFlowLogs`` names the group either by ``LogGroupName`` or by ``LogDestination`` (the group's ARN, which
    is what the AWS provider's ``aws_flow_log`` sends). moto only looks at the name, so a flow log to a group that
    exists reports ``DeliverLogsStatus: FAILED``, as if the group were missing. The shim fills in the name from
    the ARN; whether the group exists is still moto's check.
    """
    from moto.ec2.models.flow_logs import FlowLogsBackend

    original = FlowLogsBackend.create_flow_logs
    if getattr(original, "_destination_arn_shim", False):  # idempotent: patching twice must not nest
        return

    def create_flow_logs(self: Any, *args: Any, **kwargs: Any) -> Any:
        destination = kwargs.get("log_destination") or ""
        if (
            kwargs.get("log_destination_type") in (None, "cloud-watch-logs")
            and not kwargs.get("log_group_name")
            and ":log-group:" in destination
        ):
            name = destination.split(":log-group:", 1)[1]
            kwargs["log_group_name"] = name.removesuffix(":*")
        return original(self, *args, **kwargs)

    functools.update_wrapper(create_flow_logs, original)
    create_flow_logs._destination_arn_shim = True  # type: ignore[attr-defined]
    FlowLogsBackend.create_flow_logs = create_flow_logs  # type: ignore[method-assign]


SHIMS: tuple[Callable[[], None], ...] = (
    patch_stream_resource_policy,
    patch_transaction_rollback_in_place,
    patch_serialised_writes,
    patch_security_group_rule_id_not_found,
    patch_flow_log_destination_arn,
    patch_stream_get_records_json,
    patch_condition_expression_memo,
    patch_item_size_check_linear,
    patch_module_list_once,
    patch_dynamodb_request_parser_compiled,
)


def apply_all() -> None:
    """Apply every shim (safe to call more than once)."""
    for shim in SHIMS:
        shim()


def freeze_startup_heap() -> None:
    """Build what every request needs first, then take it out of the garbage collector's sight.

    With ``MOTO_IAM_LOAD_MANAGED_POLICIES`` moto builds, on the first requests, one IAM backend per partition,
    each holding AWS's ~1,300 managed policies; with moto's modules and botocore's models that is a heap whose
    every full collection took 40-60 ms, about a tenth of the emulator's CPU under a stream load. Building it
    here and ``gc.freeze()``-ing it (objects that live as long as the process) leaves the collector only what
    requests create: tables, items, stream records.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.utilities.utils import PARTITION_NAMES

    for partition in PARTITION_NAMES:
        iam_backends[DEFAULT_ACCOUNT_ID][partition]  # moto builds a backend on first access
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    """Patch moto, then run its server with moto's own CLI arguments (``--host``, ``--port``...)."""
    apply_all()
    freeze_startup_heap()
    from moto import server

    server.main(argv)


if __name__ == "__main__":
    main()
