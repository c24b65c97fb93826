"""Helpers shared by the app tests (imported by name: this folder is on sys.path under pytest)."""

from __future__ import annotations

from typing import Any

TABLE_NAME = "tfsam-test-data"
REGION = "ap-northeast-1"


def stream_records(client: Any) -> list[dict[str, Any]]:
    """Every record of the table's stream so far (moto), shaped like a Lambda DynamoDB event record."""
    import boto3

    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = client.describe_table(TableName=TABLE_NAME)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    for record in records:
        record["eventSourceARN"] = arn
        record["dynamodb"].pop("ApproximateCreationDateTime", None)  # datetime from boto3; not needed
    return records


def api_error(result: Any, status: int, code: str) -> dict[str, Any]:
    """The documented error body of an API answer: status, {"error": {"code", "message"}} and nothing else."""
    assert result.status == status, result.body
    assert set(result.body) == {"error"}
    assert result.body["error"]["code"] == code
    assert isinstance(result.body["error"]["message"], str)
    return result.body["error"]


def table_rows(client: Any) -> list[dict[str, Any]]:
    """Every row of the test table (to show a refused request stored nothing)."""
    return client.scan(TableName=TABLE_NAME)["Items"]
