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
from moto_support import streamed_table

POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with streamed_table("orders") as (client, _streams):
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


# --- TransactWriteItems: snapshot only the named items, roll back in place -------------------------------------

TX_ACCOUNT, TX_REGION = "123456789012", "ap-northeast-1"


@pytest.fixture(params=["hash-only", "hash+range"])
def tx_table(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, str, bool]]:
    """(dynamodb client, streams client, table name, has range key) for a stream-enabled table."""
    moto_shims.apply_all()
    ranged = request.param == "hash+range"
    keys = [("PK", "HASH")] + ([("SK", "RANGE")] if ranged else [])
    with mock_aws():
        kwargs: dict[str, Any] = {"region_name": TX_REGION, "aws_access_key_id": "t", "aws_secret_access_key": "t"}
        client, streams = boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs)
        client.create_table(
            TableName="data",
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client, streams, "data", ranged


def _key(pk: str, ranged: bool) -> dict[str, Any]:
    return {"PK": {"S": pk}, **({"SK": {"S": "X"}} if ranged else {})}


def _put(client: Any, table: str, ranged: bool, pk: str, value: int) -> None:
    client.put_item(TableName=table, Item={**_key(pk, ranged), "v": {"N": str(value)}})


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=table)["Items"], key=lambda item: item["PK"]["S"])


def _latest_iterator(client: Any, streams: Any, table: str) -> str:
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return str(streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"])


def _backend_table(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[TX_ACCOUNT][TX_REGION].tables[name]


def _mixed_ops(table: str, ranged: bool, ledger_condition: bool) -> list[dict[str, Any]]:
    """Update an existing item, create one, delete one, then the processor's ledger Put (maybe conditional)."""
    ledger: dict[str, Any] = {"TableName": table, "Item": _key("LEDGER#e1", ranged)}
    if ledger_condition:
        ledger["ConditionExpression"] = "attribute_not_exists(PK)"
    return [
        {
            "Update": {
                "TableName": table,
                "Key": _key("STATS#Item", ranged),
                "UpdateExpression": "ADD v :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Put": {"TableName": table, "Item": {**_key("ITEM#new", ranged), "v": {"N": "7"}}}},
        {"Delete": {"TableName": table, "Key": _key("ITEM#old", ranged)}},
        {"Put": ledger},
    ]


def test_cancelled_transaction_rolls_back_in_place_and_old_iterators_keep_flowing(
    tx_table: tuple[Any, Any, str, bool],
) -> None:
    client, streams, table, ranged = tx_table
    for pk, value in (("STATS#Item", 1), ("ITEM#old", 2), ("LEDGER#e1", 0)):
        _put(client, table, ranged, pk, value)
    before, table_object = _scan(client, table), _backend_table(table)
    iterator = _latest_iterator(client, streams, table)  # a consumer's chain, obtained BEFORE the cancellation

    with pytest.raises(ClientError) as err:  # the ledger row exists: a duplicate delivery
        client.transact_write_items(TransactItems=_mixed_ops(table, ranged, ledger_condition=True))
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"

    assert _scan(client, table) == before
    assert _backend_table(table) is table_object  # moto used to swap in its deep copy here
    page = streams.get_records(ShardIterator=iterator)
    assert page["Records"] == []  # no stream record of the undone writes
    _put(client, table, ranged, "ITEM#after", 3)
    records = streams.get_records(ShardIterator=page["NextShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in records] == [("INSERT", "ITEM#after")]


def test_a_validation_error_mid_transaction_also_undoes_the_earlier_ops(tx_table: tuple[Any, Any, str, bool]) -> None:
    client, streams, table, ranged = tx_table
    _put(client, table, ranged, "STATS#Item", 1)
    before, iterator = _scan(client, table), _latest_iterator(client, streams, table)
    ops = _mixed_ops(table, ranged, ledger_condition=False)
    ops.append({"Delete": {"TableName": table, "Key": _key("ITEM#new", ranged)}})  # same item twice: rejected
    with pytest.raises(ClientError) as err:
        client.transact_write_items(TransactItems=ops)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert _scan(client, table) == before
    assert streams.get_records(ShardIterator=iterator)["Records"] == []


def test_a_successful_transaction_applies_every_op_and_emits_its_records(
    tx_table: tuple[Any, Any, str, bool],
) -> None:
    client, streams, table, ranged = tx_table
    _put(client, table, ranged, "STATS#Item", 1)
    _put(client, table, ranged, "ITEM#old", 2)
    iterator = _latest_iterator(client, streams, table)
    client.transact_write_items(TransactItems=_mixed_ops(table, ranged, ledger_condition=True))

    assert {item["PK"]["S"]: item.get("v", {}).get("N") for item in _scan(client, table)} == {
        "STATS#Item": "2",
        "ITEM#new": "7",
        "LEDGER#e1": None,
    }
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in records] == [
        ("MODIFY", "STATS#Item"),
        ("INSERT", "ITEM#new"),
        ("REMOVE", "ITEM#old"),
        ("INSERT", "LEDGER#e1"),
    ]


def test_a_transactions_copying_does_not_grow_with_the_table(
    tx_table: tuple[Any, Any, str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    client, _, table, ranged = tx_table
    copies: list[Any] = []
    item_deepcopy = Item.__deepcopy__

    def counting(self: Any, memo: dict[int, Any]) -> Any:
        copies.append(self)
        return item_deepcopy(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting)
    counts: list[int] = []
    for start, size in ((0, 5), (5, 300)):
        for n in range(start, size):
            _put(client, table, ranged, f"ITEM#{n}", n)
        for pk in ("LEDGER#e1", "ITEM#new"):  # the same named items before each round
            client.delete_item(TableName=table, Key=_key(pk, ranged))
        _put(client, table, ranged, "STATS#Item", 1)
        _put(client, table, ranged, "ITEM#old", 2)
        copies.clear()
        for duplicate in (False, True):  # one applied, one cancelled by the ledger condition
            try:
                client.transact_write_items(TransactItems=_mixed_ops(table, ranged, ledger_condition=True))
            except ClientError:
                assert duplicate
            _put(client, table, ranged, "ITEM#old", 0)
        counts.append(len(copies))
    # Only the items the transactions name are copied (each at most twice: the shim's snapshot and moto's own
    # copy in update_item), whatever the table holds; moto alone copied every row twice per transaction.
    assert counts[0] == counts[1] <= 2 * 2 * len(_mixed_ops(table, ranged, ledger_condition=True))


def test_deep_copying_a_table_outside_a_transaction_still_copies_it(tx_table: tuple[Any, Any, str, bool]) -> None:
    import copy

    client, _, table, ranged = tx_table
    _put(client, table, ranged, "ITEM#1", 1)
    original = _backend_table(table)
    clone = copy.deepcopy(original)
    assert clone is not original and clone.items is not original.items
    assert [i.to_json() for i in clone.all_items()] == [i.to_json() for i in original.all_items()]


def test_transaction_shim_patches_once() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    moto_shims.apply_all()
    first, add = DynamoDBBackend.transact_write_items, StreamShard.add
    moto_shims.apply_all()
    assert (DynamoDBBackend.transact_write_items, StreamShard.add) == (first, add)


# --- EC2: a revoke naming an unknown security group rule id ------------------------------------------------


@pytest.fixture
def ec2() -> Iterator[tuple[Any, str]]:
    from moto_support import CLIENT_KWARGS

    moto_shims.apply_all()
    with mock_aws():
        client = boto3.client("ec2", **CLIENT_KWARGS)
        vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = client.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
        https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        client.authorize_security_group_ingress(GroupId=group, IpPermissions=[https])
        yield client, group


def _rule_ids(client: Any, group: str, egress: bool) -> list[str]:
    rules = client.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])[
        "SecurityGroupRules"
    ]
    return [rule["SecurityGroupRuleId"] for rule in rules if rule["IsEgress"] is egress]


@pytest.mark.parametrize("egress", [True, False], ids=["egress", "ingress"])
def test_revoking_a_rule_id_twice_answers_ec2s_rule_id_error(ec2: tuple[Any, str], egress: bool) -> None:
    client, group = ec2
    revoke = client.revoke_security_group_egress if egress else client.revoke_security_group_ingress
    (rule_id,) = _rule_ids(client, group, egress)
    revoke(GroupId=group, SecurityGroupRuleIds=[rule_id])
    assert _rule_ids(client, group, egress) == []
    with pytest.raises(ClientError) as err:  # e.g. a retried request whose first attempt went through
        revoke(GroupId=group, SecurityGroupRuleIds=[rule_id])
    assert err.value.response["Error"]["Code"] == "InvalidSecurityGroupRuleId.NotFound"  # moto: InvalidPermission


def test_an_unknown_id_among_known_ones_revokes_nothing(ec2: tuple[Any, str]) -> None:
    client, group = ec2
    (rule_id,) = _rule_ids(client, group, egress=True)
    with pytest.raises(ClientError) as err:
        client.revoke_security_group_egress(GroupId=group, SecurityGroupRuleIds=[rule_id, "sgr-0123456789abcdef0"])
    assert err.value.response["Error"]["Code"] == "InvalidSecurityGroupRuleId.NotFound"
    assert _rule_ids(client, group, egress=True) == [rule_id]


def test_revokes_by_permission_and_missing_groups_keep_motos_answers(ec2: tuple[Any, str]) -> None:
    client, group = ec2
    missing = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}]
    with pytest.raises(ClientError) as err:
        client.revoke_security_group_ingress(GroupId=group, IpPermissions=missing)
    assert err.value.response["Error"]["Code"] == "InvalidPermission.NotFound"  # as EC2 answers this form
    with pytest.raises(ClientError) as err:
        client.revoke_security_group_egress(GroupId="sg-0123456789abcdef0", SecurityGroupRuleIds=["sgr-0"])
    assert err.value.response["Error"]["Code"] == "InvalidGroup.NotFound"


def test_rule_id_shim_patches_once() -> None:
    from moto.ec2.models.security_groups import SecurityGroupBackend

    moto_shims.apply_all()
    first = (SecurityGroupBackend.revoke_security_group_egress, SecurityGroupBackend.revoke_security_group_ingress)
    moto_shims.apply_all()
    assert (
        SecurityGroupBackend.revoke_security_group_egress,
        SecurityGroupBackend.revoke_security_group_ingress,
    ) == first


# --- EC2: a flow log whose CloudWatch Logs group is named by ARN ------------------------------------------


@pytest.fixture
def flow_logs() -> Iterator[tuple[Any, str, str]]:
    from moto_support import CLIENT_KWARGS

    moto_shims.apply_all()
    with mock_aws():
        client = boto3.client("ec2", **CLIENT_KWARGS)
        logs = boto3.client("logs", **CLIENT_KWARGS)
        vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        logs.create_log_group(logGroupName="/aws/vpc/flow")
        arn = logs.describe_log_groups(logGroupNamePrefix="/aws/vpc/flow")["logGroups"][0]["arn"]
        yield client, vpc, arn


def _create_flow_log(client: Any, vpc: str, **destination: str) -> dict[str, Any]:
    client.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[vpc],
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow",
        **destination,
    )
    (flow_log,) = client.describe_flow_logs()["FlowLogs"]
    return dict(flow_log)


@pytest.mark.parametrize("suffix", ["", ":*"], ids=["group-arn", "group-arn-with-wildcard"])
def test_a_flow_log_to_an_existing_group_named_by_arn_delivers(flow_logs: tuple[Any, str, str], suffix: str) -> None:
    client, vpc, arn = flow_logs
    flow_log = _create_flow_log(client, vpc, LogDestination=arn.removesuffix(":*") + suffix)
    assert flow_log["DeliverLogsStatus"] == "SUCCESS"  # moto: FAILED (it only looks at LogGroupName)
    assert flow_log["LogGroupName"] == "/aws/vpc/flow"


def test_a_flow_log_to_a_missing_group_still_fails_delivery(flow_logs: tuple[Any, str, str]) -> None:
    client, vpc, arn = flow_logs
    missing = arn.replace("/aws/vpc/flow", "/aws/vpc/missing")
    assert _create_flow_log(client, vpc, LogDestination=missing)["DeliverLogsStatus"] == "FAILED"


def test_a_flow_log_named_by_group_name_is_motos(flow_logs: tuple[Any, str, str]) -> None:
    client, vpc, _ = flow_logs
    flow_log = _create_flow_log(client, vpc, LogGroupName="/aws/vpc/flow")
    assert (flow_log["DeliverLogsStatus"], flow_log["LogGroupName"]) == ("SUCCESS", "/aws/vpc/flow")


def test_flow_log_shim_patches_once() -> None:
    from moto.ec2.models.flow_logs import FlowLogsBackend

    moto_shims.apply_all()
    first = FlowLogsBackend.create_flow_logs
    moto_shims.apply_all()
    assert FlowLogsBackend.create_flow_logs is first
