"""The moto speed shims give the same answers as moto, only faster.

In-process (moto's mock_aws): requests go through the same handlers the moto server runs. Each test compares a
shimmed path with moto's own (reached through ``__wrapped__``) or pins the cost that made the shim necessary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localcloud import moto_shims
from moto_support import streamed_table

RICH_ITEM = {
    "PK": {"S": "ITEM#1"},
    "bin": {"B": b"\x00\xff binary \x80"},
    "bins": {"BS": [b"\x01", b"\x02\x03"]},
    "num": {"N": "1.50"},
    "nums": {"NS": ["1", "2.5"]},
    "strs": {"SS": ["a", "b"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {"deep": {"B": b"\x10"}}}]}}},
}


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with streamed_table("data") as clients:
        yield clients


def _trim_horizon(client: Any, streams: Any) -> str:
    arn = client.describe_table(TableName="data")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return str(
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    )


def _get_records_raw(client: Any, streams: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the JSON body GetRecords answered, what boto3 parsed from it), from the start of the stream."""
    bodies: list[bytes] = []
    streams.meta.events.register(
        "before-parse.dynamodb-streams.GetRecords", lambda response_dict, **_: bodies.append(response_dict["body"])
    )
    try:
        parsed = streams.get_records(ShardIterator=_trim_horizon(client, streams))
    finally:
        streams.meta.events.unregister("before-parse.dynamodb-streams.GetRecords")
    return json.loads(bodies[-1]), parsed


# --- GetRecords answered with json.dumps --------------------------------------------------------------------


def test_get_records_body_equals_motos_serializer_for_every_attribute_type(
    clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    client, streams = clients
    client.put_item(TableName="data", Item=RICH_ITEM)  # INSERT
    client.update_item(  # MODIFY: old and new images
        TableName="data",
        Key={"PK": {"S": "ITEM#1"}},
        UpdateExpression="SET num = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    client.delete_item(TableName="data", Key={"PK": {"S": "ITEM#1"}})  # REMOVE

    shim_body, shim_parsed = _get_records_raw(client, streams)
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", DynamoDBStreamsHandler.get_records.__wrapped__)
    moto_body, moto_parsed = _get_records_raw(client, streams)

    assert [r["eventName"] for r in shim_body["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    assert shim_body["Records"] == moto_body["Records"]  # byte-for-byte the same JSON values
    assert shim_parsed["Records"] == moto_parsed["Records"]
    assert shim_parsed["Records"][0]["dynamodb"]["NewImage"]["bin"] == {"B": RICH_ITEM["bin"]["B"]}
    assert isinstance(shim_body["Records"][0]["dynamodb"]["ApproximateCreationDateTime"], int | float)


def test_get_records_limit_and_paging_stay_motos(clients: tuple[Any, Any]) -> None:
    client, streams = clients
    for n in range(3):
        client.put_item(TableName="data", Item={"PK": {"S": f"ITEM#{n}"}})
    page = streams.get_records(ShardIterator=_trim_horizon(client, streams), Limit=2)
    assert len(page["Records"]) == 2
    rest = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in rest["Records"]] == ["ITEM#2"]


# --- condition expressions parsed once ----------------------------------------------------------------------


def _lex_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    calls: list[str] = []
    original = ConditionExpressionParser._lex_condition_expression

    def counting(self: Any) -> Any:
        calls.append(self.condition_expression)
        return original(self)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counting)
    return calls


def test_the_same_condition_is_lexed_once_whatever_the_item_count(
    clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = clients
    calls = _lex_calls(monkeypatch)
    expression = "attribute_not_exists(PK) AND #n <> :zero"
    for n in range(30):
        client.put_item(
            TableName="data",
            Item={"PK": {"S": f"LEDGER#{n}"}, "n": {"N": "1"}},
            ConditionExpression=expression,
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )
    assert calls.count(expression) == 1  # moto alone: twice per PutItem
    with pytest.raises(ClientError) as err:  # the cached tree still evaluates against each item
        client.put_item(
            TableName="data",
            Item={"PK": {"S": "LEDGER#3"}},
            ConditionExpression=expression,
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_a_condition_without_names_or_values_is_cached_apart_from_one_with_them(
    clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = clients
    calls = _lex_calls(monkeypatch)
    condition = "attribute_not_exists(SpeedShimMarker)"  # shaped like the ledger's; text unique to this test
    for n in range(30):  # the memo is per process: other tests in this worker must not have parsed it
        client.put_item(TableName="data", Item={"PK": {"S": f"L#{n}"}, "SpeedShimMarker": {"BOOL": True}},
                        ConditionExpression=condition)  # fmt: skip
    assert calls.count(condition) == 1
    with pytest.raises(ClientError) as err:  # same text, now with a name it does not use: moto's own error
        client.put_item(
            TableName="data",
            Item={"PK": {"S": "L#new"}},
            ConditionExpression=condition,
            ExpressionAttributeNames={"#unused": "x"},
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:  # the cached tree still evaluates against the stored item
        client.put_item(TableName="data", Item={"PK": {"S": "L#3"}}, ConditionExpression=condition)
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_values_are_part_of_the_key(clients: tuple[Any, Any]) -> None:
    client, _ = clients
    client.put_item(TableName="data", Item={"PK": {"S": "ITEM#1"}, "v": {"N": "1"}})

    def put_if_v_is(value: str) -> None:
        client.put_item(
            TableName="data",
            Item={"PK": {"S": "ITEM#1"}, "v": {"N": "1"}},
            ConditionExpression="v = :x",
            ExpressionAttributeValues={":x": {"N": value}},
        )

    put_if_v_is("1")
    with pytest.raises(ClientError) as err:
        put_if_v_is("2")
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    put_if_v_is("1")


def test_failed_parses_are_not_cached_and_unused_names_fail_every_time(
    clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = clients
    calls = _lex_calls(monkeypatch)
    for _ in range(2):
        with pytest.raises(KeyError):  # moto's own answer to an undefined value (in-process: the raw KeyError)
            client.put_item(TableName="data", Item={"PK": {"S": "A"}}, ConditionExpression="v = :missing")
    assert calls.count("v = :missing") == 2
    for _ in range(2):  # errors are never cached, and a cached parse still reports the names it used
        with pytest.raises(ClientError) as err:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "data",
                            "Item": {"PK": {"S": "B"}},
                            "ConditionExpression": "attribute_not_exists(PK)",
                            "ExpressionAttributeNames": {"#unused": "x"},
                        }
                    }
                ]
            )
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "unused" in err.value.response["Error"]["Message"]


# --- item size checked once ---------------------------------------------------------------------------------


def test_new_items_are_built_like_motos_and_sized_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    moto_shims.apply_all()
    attrs = {**RICH_ITEM, **{f"a{i}": {"S": "x" * 10} for i in range(200)}}
    key = DynamoType(attrs["PK"])
    shimmed = Item(key, None, attrs)
    original = Item.__new__(Item)
    Item.__init__.__wrapped__(original, key, None, attrs)  # type: ignore[attr-defined]
    assert shimmed.to_json() == original.to_json()

    sized: list[int] = []
    size = DynamoType.size
    monkeypatch.setattr(DynamoType, "size", lambda self: sized.append(1) or size(self))
    Item(key, None, attrs)
    assert len(sized) <= 2 * len(attrs)  # moto alone: one size() per attribute already stored, n^2 / 2


def test_the_item_size_limit_still_holds(clients: tuple[Any, Any]) -> None:
    client, _ = clients
    client.put_item(TableName="data", Item={"PK": {"S": "small"}, "blob": {"S": "x" * 300_000}})
    with pytest.raises(ClientError) as err:
        client.put_item(
            TableName="data", Item={"PK": {"S": "big"}, "a": {"S": "x" * 300_000}, "b": {"S": "y" * 150_000}}
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "size" in err.value.response["Error"]["Message"].lower()
    assert "Item" not in client.get_item(TableName="data", Key={"PK": {"S": "big"}})


# --- DynamoDB requests parsed by a compiled parser ----------------------------------------------------------


def _sdk_bodies() -> list[tuple[str, bytes]]:
    """(operation, JSON body) of the requests the project's code and tools send, serialised by the real SDK."""
    import boto3

    from bench.stream_writer import captured_requests

    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s",
        endpoint_url="http://127.0.0.1:9",
    )  # fmt: skip
    with captured_requests(client, "before-send.dynamodb") as sent:  # nothing leaves the process
        _send_every_operation(client)
    return [(request.headers["X-Amz-Target"].decode().split(".")[1], request.body) for request in sent]


def _send_every_operation(client: Any) -> None:
    key = {"PK": {"S": "ITEM#1"}, "SK": {"S": "PROFILE"}}
    names, values = {"#c": "Count", "#s": "Status"}, {":d": {"N": "1"}, ":s": {"S": "PENDING"}, ":b": {"B": b"\x00"}}
    client.batch_write_item(
        RequestItems={
            "data": [{"PutRequest": {"Item": {**RICH_ITEM, "PK": {"S": f"ITEM#{i}"}}}} for i in range(25)]
            + [{"DeleteRequest": {"Key": key}}]
        }
    )
    client.put_item(TableName="data", Item=RICH_ITEM, ConditionExpression="attribute_not_exists(PK)",
                    ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD")  # fmt: skip
    client.get_item(TableName="data", Key=key, ConsistentRead=True, ProjectionExpression="#s",
                    ExpressionAttributeNames={"#s": "Status"})  # fmt: skip
    client.update_item(TableName="data", Key=key, UpdateExpression="ADD #c :d SET #s = :s",
                       ConditionExpression="#s <> :b", ExpressionAttributeNames=names,
                       ExpressionAttributeValues=values, ReturnValues="ALL_NEW")  # fmt: skip
    client.delete_item(TableName="data", Key=key, ConditionExpression="attribute_exists(PK)")
    client.query(TableName="data", IndexName="GSI1", KeyConditionExpression="#s = :s", Limit=5,
                 ScanIndexForward=False, ExpressionAttributeNames={"#s": "Status"},
                 ExpressionAttributeValues={":s": {"S": "PENDING"}},
                 ExclusiveStartKey={**key, "GSI1SK": {"B": b"\x01cursor"}})  # fmt: skip
    client.scan(TableName="data", Segment=0, TotalSegments=2, Limit=3, Select="COUNT")
    client.transact_write_items(
        TransactItems=[
            {"Update": {"TableName": "data", "Key": key, "UpdateExpression": "ADD #c :d",
                        "ExpressionAttributeNames": {"#c": "Count"}, "ExpressionAttributeValues": {":d": {"N": "2"}}}},
            {"Put": {"TableName": "data", "Item": RICH_ITEM, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"ConditionCheck": {"TableName": "data", "Key": key, "ConditionExpression": "attribute_exists(PK)"}},
            {"Delete": {"TableName": "data", "Key": key}},
        ],
        ClientRequestToken="token-1",
    )  # fmt: skip
    client.create_table(
        TableName="other", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "team", "Value": "infra"}],
    )  # fmt: skip
    client.update_time_to_live(TableName="data", TimeToLiveSpecification={"Enabled": True, "AttributeName": "Ttl"})
    client.export_table_to_point_in_time(
        TableArn="arn:aws:dynamodb:us-east-1:123456789012:table/data", S3Bucket="b", ExportTime=1763700000
    )
    client.describe_table(TableName="data")
    client.list_tables(Limit=3)


def _parsed_by_server(action: str, body: bytes) -> Any:
    """What moto's DynamoDB handler, shims applied, makes of a request body (the server's own code path)."""
    from moto.core.request import Request
    from moto.dynamodb.responses import DynamoHandler

    moto_shims.apply_all()
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{action}", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": "AWS4-HMAC-SHA256 Credential=k/20261121/us-east-1/dynamodb/aws4_request"}  # fmt: skip
    request = Request.from_primitives("POST", "http://localhost:5000/", headers, body)
    handler = DynamoHandler()
    handler.setup_class(request, request.url, request.headers)
    return handler.params


def _parsed_by_moto(action: str, body: bytes) -> Any:
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    parser = JSONParser(get_service_model("dynamodb").operation_model(action))
    request = {"body": body, "method": "POST", "headers": {}, "values": {}, "url_path": "/", "url_params": {}}
    return parser.parse(request)  # type: ignore[arg-type]


def test_dynamodb_requests_parse_exactly_as_motos_parser_does() -> None:
    bodies = _sdk_bodies()
    assert len({action for action, _ in bodies}) == 13
    for action, body in bodies:
        ours, motos = _parsed_by_server(action, body), _parsed_by_moto(action, body)
        assert ours == motos, action
        assert repr(ours) == repr(motos), action  # key order too (structures follow the shape's member order)
    parsed_put = _parsed_by_server("PutItem", dict(bodies)["PutItem"])
    assert parsed_put["Item"]["bin"] == {"B": b"\x00\xff binary \x80"}  # blobs arrive decoded, as from moto
    assert parsed_put["Item"]["nested"]["M"]["list"]["L"][2] == {"M": {"deep": {"B": b"\x10"}}}
    assert (
        _parsed_by_server("ExportTableToPointInTime", dict(bodies)["ExportTableToPointInTime"])["ExportTime"]
        == _parsed_by_moto("ExportTableToPointInTime", dict(bodies)["ExportTableToPointInTime"])["ExportTime"]
    )


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("GetItem", b"not json"),  # moto keeps what its parser makes of it (an empty request here)
        ("ListTables", b'{"Limit": "5", "Unknown": 1, "ExclusiveStartTableName": null}'),
        ("GetItem", b""),
        ("DescribeEndpoints", b"{}"),
    ],
)
def test_odd_bodies_get_motos_answer(action: str, body: bytes) -> None:
    assert repr(_parsed_by_server(action, body)) == repr(_parsed_by_moto(action, body))


def test_a_body_the_compiled_parser_cannot_take_gets_motos_error() -> None:
    with pytest.raises(AttributeError):  # moto's parser calls .get on the list
        _parsed_by_moto("GetItem", b"[1, 2]")
    with pytest.raises(AttributeError):
        _parsed_by_server("GetItem", b"[1, 2]")


def test_the_compiled_parser_is_the_faster_one() -> None:
    """Not a timing: the cost that made the shim necessary is the per-node walk of moto's parser, so count the
    shape nodes each one visits for a 25-item BatchWriteItem."""
    from moto.core.parse import RequestParser

    action, body = next((a, b) for a, b in _sdk_bodies() if a == "BatchWriteItem")
    _parsed_by_server(action, body)  # compiled once
    visits: list[str] = []
    original = RequestParser._parse_shape

    def counting(self: Any, shape: Any, node: Any) -> Any:
        visits.append(shape.name)
        return original(self, shape, node)

    RequestParser._parse_shape = counting  # type: ignore[method-assign]
    try:
        _parsed_by_server(action, body)
        assert visits == []  # the server path no longer walks the shapes
        _parsed_by_moto(action, body)
        assert len(visits) > 25 * len(RICH_ITEM)  # moto's walks every attribute value of every item
    finally:
        RequestParser._parse_shape = original  # type: ignore[method-assign]


def test_speed_shims_patch_once() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    moto_shims.apply_all()
    first = (DynamoDBStreamsHandler.get_records, ConditionExpressionParser.parse, Item.__init__)
    parse_parameters = DynamoHandler.parse_parameters
    moto_shims.apply_all()
    assert (DynamoDBStreamsHandler.get_records, ConditionExpressionParser.parse, Item.__init__) == first
    assert DynamoHandler.parse_parameters is parse_parameters


# --- moto's package list read once --------------------------------------------------------------------------


def test_backend_packages_are_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from moto import backends

    moto_shims.apply_all()
    listed = backends.list_of_moto_modules()
    assert {"dynamodb", "dynamodbstreams", "iam", "s3"} <= set(listed)
    assert set(listed) == set(backends.list_of_moto_modules.__wrapped__())  # type: ignore[attr-defined]
    monkeypatch.setattr(os, "listdir", lambda *_: pytest.fail("moto's packages were listed again"))
    assert "dynamodb" in backends.list_of_moto_modules()


# --- the emulator's startup heap frozen ---------------------------------------------------------------------


def test_the_emulator_builds_iam_up_front_and_freezes_it() -> None:
    import subprocess
    import sys

    import tooling

    probe = (
        "import gc; from localcloud.moto_shims import freeze_startup_heap; freeze_startup_heap(); "
        "from moto.iam.models import iam_backends; from moto.utilities.utils import PARTITION_NAMES; "
        "account = iam_backends['123456789012']; "
        "print(gc.get_freeze_count(), sorted(account) == sorted(PARTITION_NAMES), "
        "'arn:aws:iam::aws:policy/ReadOnlyAccess' in account['aws'].managed_policies)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(tooling.REPO_ROOT / "scripts"),
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    frozen, every_partition, managed = out.stdout.split()
    assert int(frozen) > 50_000  # moto, botocore's models and the managed policies: out of the collector's sight
    assert (every_partition, managed) == ("True", "True")
