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


def test_speed_shims_patch_once() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    moto_shims.apply_all()
    first = (DynamoDBStreamsHandler.get_records, ConditionExpressionParser.parse, Item.__init__)
    moto_shims.apply_all()
    assert (DynamoDBStreamsHandler.get_records, ConditionExpressionParser.parse, Item.__init__) == first


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
