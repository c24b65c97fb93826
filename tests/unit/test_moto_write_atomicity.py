"""The emulator serves DynamoDB writes atomically: of many concurrent conditional writers, exactly the accepted
ones take effect (moto_shims.patch_serialised_writes).

Against moto's threaded server (the emulator's, in a thread of this process with every shim applied), so the
requests race on the server's request threads as they do under the local cloud; the thread switch interval is
cut to 1 us so a possible race happens within a few rounds. Without the shim this failed
in most rounds: several writers of one item passed the same condition and all were told they succeeded.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from localcloud import moto_shims
from moto_support import create_streamed_table, threaded_moto_server

WRITERS = 50
ROUNDS = 4
TABLE = "data"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    interval = sys.getswitchinterval()
    with threaded_moto_server() as endpoint_url:
        sys.setswitchinterval(1e-6)  # switch threads often, so a race that can happen does within a few rounds
        try:
            yield _client(endpoint_url)
        finally:
            sys.setswitchinterval(interval)


def _client(endpoint_url: str) -> Any:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="ap-northeast-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
        # No retries: a retried accepted write would come back as ConditionalCheckFailed and hide a loss.
        config=Config(max_pool_connections=WRITERS + 4, retries={"max_attempts": 1, "mode": "standard"}),
    )
    create_streamed_table(dynamodb, TABLE)
    return dynamodb


def _race(write: Callable[[str], None]) -> tuple[list[str], list[str]]:
    """Run ``write(writer)`` for WRITERS writers released together: (accepted writers, rejected writers).
    Anything but success or ConditionalCheckFailedException fails the test."""
    barrier = threading.Barrier(WRITERS)

    def one(writer: str) -> bool:
        barrier.wait(timeout=30)
        try:
            write(writer)
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ConditionalCheckFailedException", err.response
            return False
        return True

    names = [f"w{n:02d}" for n in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(one, names))
    return [n for n, ok in zip(names, results, strict=True) if ok], [
        n for n, ok in zip(names, results, strict=True) if not ok
    ]


def _item(client: Any, pk: str) -> dict[str, Any] | None:
    return client.get_item(TableName=TABLE, Key={"PK": {"S": pk}}, ConsistentRead=True).get("Item")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_conditional_writers_on_one_item_exactly_one_wins_and_survives(client: Any, round_: int) -> None:
    pk = f"ITEM#{round_}"

    def create(writer: str) -> None:  # PutItem, create-once
        item = {"PK": {"S": pk}, "v": {"N": "0"}, "creator": {"S": writer}}
        client.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(PK)")

    accepted, rejected = _race(create)
    assert len(accepted) == 1, f"PutItem round {round_}: {len(accepted)} accepted of {WRITERS}"
    assert _item(client, pk)["creator"]["S"] == accepted[0]  # type: ignore[index]

    def bump(writer: str) -> None:  # UpdateItem, optimistic locking on v as the API does
        client.update_item(
            TableName=TABLE,
            Key={"PK": {"S": pk}},
            UpdateExpression="SET v = :next, last_writer = :me ADD writers :set",
            ConditionExpression="v = :expected",
            ExpressionAttributeValues={
                ":next": {"N": "1"},
                ":expected": {"N": "0"},
                ":me": {"S": writer},
                ":set": {"SS": [writer]},
            },
        )

    accepted, rejected = _race(bump)
    assert len(accepted) == 1, f"UpdateItem round {round_}: {len(accepted)} accepted of {WRITERS}"
    item = _item(client, pk)
    assert item is not None
    assert (item["v"]["N"], item["last_writer"]["S"], item["writers"]["SS"]) == ("1", accepted[0], accepted)

    def delete(writer: str) -> None:  # DeleteItem, conditioned on the version the writer read
        client.delete_item(
            TableName=TABLE,
            Key={"PK": {"S": pk}},
            ConditionExpression="v = :seen",
            ExpressionAttributeValues={":seen": {"N": "1"}},
        )

    accepted, rejected = _race(delete)
    assert len(accepted) == 1, f"DeleteItem round {round_}: {len(accepted)} accepted of {WRITERS}"
    assert _item(client, pk) is None
    assert len(rejected) == WRITERS - 1


def test_concurrent_transactions_and_batches_on_one_item_lose_no_accepted_write(client: Any) -> None:
    """Each transaction increments a counter conditioned on its value; batch writers overwrite a neighbour item
    meanwhile. The counter ends at exactly the number of accepted transactions."""
    pk, other = "COUNTER", "NEIGHBOUR"
    client.put_item(TableName=TABLE, Item={"PK": {"S": pk}, "n": {"N": "0"}})
    accepted_total = 0
    for _ in range(ROUNDS):
        seen = _item(client, pk)["n"]["N"]  # type: ignore[index]

        def increment(writer: str, seen: str = seen) -> None:
            if writer.endswith(("0", "5")):  # a tenth of the writers are batches on another item
                client.batch_write_item(
                    RequestItems={TABLE: [{"PutRequest": {"Item": {"PK": {"S": other}, "by": {"S": writer}}}}]}
                )
                return
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": {"PK": {"S": pk}},
                                "UpdateExpression": "SET n = :next",
                                "ConditionExpression": "n = :seen",
                                "ExpressionAttributeValues": {
                                    ":seen": {"N": seen},
                                    ":next": {"N": str(int(seen) + 1)},
                                },
                            }
                        },
                        {"Put": {"TableName": TABLE, "Item": {"PK": {"S": f"LEDGER#{seen}#{writer}"}}}},
                    ]
                )
            except ClientError as err:
                reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
                assert reasons[:1] == ["ConditionalCheckFailed"], err.response
                raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "TransactWriteItems") from err

        accepted, _ = _race(increment)
        transactions = [w for w in accepted if not w.endswith(("0", "5"))]
        assert len(transactions) == 1, f"TransactWriteItems: {len(transactions)} accepted of {WRITERS * 4 // 5}"
        accepted_total += 1
        assert _item(client, f"LEDGER#{seen}#{transactions[0]}") is not None
    assert _item(client, pk)["n"]["N"] == str(accepted_total)  # type: ignore[index]


def test_serialised_writes_shim_patches_once() -> None:
    from moto.dynamodb.responses import DynamoHandler

    moto_shims.apply_all()
    first = [DynamoHandler.__dict__[name] for name in moto_shims._WRITE_ACTIONS]
    moto_shims.apply_all()
    assert [DynamoHandler.__dict__[name] for name in moto_shims._WRITE_ACTIONS] == first
