"""The moto shims close the gaps they name, and leave everything else to moto.

In-process (moto's mock_aws) so it runs in the fast tier; the shim patches moto's backend class, which the
moto server uses too. Patching is process-wide but only changes how *stream* ARNs are handled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localcloud import moto_shims
from moto import mock_aws

POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_shims.apply_all()
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="ap-northeast-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        client.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def _stream_arn(client: Any) -> str:
    return str(client.describe_table(TableName="orders")["Table"]["LatestStreamArn"])


def test_resource_policy_round_trips_on_stream_arn(dynamodb: Any) -> None:
    arn = _stream_arn(dynamodb)
    revision = dynamodb.put_resource_policy(ResourceArn=arn, Policy=POLICY)["RevisionId"]
    got = dynamodb.get_resource_policy(ResourceArn=arn)
    assert json.loads(got["Policy"]) == json.loads(POLICY)
    assert got["RevisionId"] == revision
    dynamodb.delete_resource_policy(ResourceArn=arn)
    with pytest.raises(ClientError) as err:
        dynamodb.get_resource_policy(ResourceArn=arn)
    assert err.value.response["Error"]["Code"] == "PolicyNotFoundException"


def test_stream_policy_is_stored_apart_from_table_policy(dynamodb: Any) -> None:
    table_arn = dynamodb.describe_table(TableName="orders")["Table"]["TableArn"]
    dynamodb.put_resource_policy(ResourceArn=_stream_arn(dynamodb), Policy=POLICY)
    with pytest.raises(ClientError) as err:
        dynamodb.get_resource_policy(ResourceArn=table_arn)
    assert err.value.response["Error"]["Code"] == "PolicyNotFoundException"


@pytest.mark.parametrize("label", ["2000-01-01T00:00:00.000", None])
def test_stale_or_foreign_stream_arn_is_not_found(dynamodb: Any, label: str | None) -> None:
    arn = _stream_arn(dynamodb)
    # None: the current label under a table that does not exist; else an old label of the existing table.
    arn = arn.replace("table/orders/", "table/missing/") if label is None else f"{arn.rsplit('/', 1)[0]}/{label}"
    with pytest.raises(ClientError) as err:
        dynamodb.put_resource_policy(ResourceArn=arn, Policy=POLICY)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_alias_is_gone_after_the_call(dynamodb: Any) -> None:
    dynamodb.put_resource_policy(ResourceArn=_stream_arn(dynamodb), Policy=POLICY)
    assert dynamodb.list_tables()["TableNames"] == ["orders"]


def test_patching_twice_does_not_nest() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    moto_shims.apply_all()
    first = DynamoDBBackend.put_resource_policy
    moto_shims.apply_all()
    assert DynamoDBBackend.put_resource_policy is first
