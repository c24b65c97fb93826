"""The app's table on a moto server (localcloud.emulator), seeded with the sample item the events use."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "sam" / "events"
REGION = "ap-northeast-1"
TABLE = "tfsam-bench-data"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def sample_item() -> dict[str, Any]:
    """The NewImage of sam/events/stream-insert.json: the item api-get-item.json asks for."""
    return dict(event("stream-insert")["Records"][0]["dynamodb"]["NewImage"])


@dataclass(frozen=True)
class Table:
    endpoint: str
    name: str = TABLE

    def client(self, service: str = "dynamodb") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def streams_client(self) -> Any:
        return self.client("dynamodbstreams")

    def get_item_args(self) -> dict[str, Any]:
        """The GetItem the API's GET /items/{id} performs (consistent read of the item key)."""
        item = sample_item()
        return {"TableName": self.name, "Key": {"PK": item["PK"], "SK": item["SK"]}, "ConsistentRead": True}


def create(client: Any, name: str = TABLE, *, seed: bool = True) -> None:
    """The contract's single table: PK/SK, EntityTypeIndex, GSI1, NEW_AND_OLD_IMAGES stream."""
    attributes = {"PK": "S", "SK": "S", "EntityType": "S", "CreatedAt": "N", "GSI1PK": "S", "GSI1SK": "S"}
    gsis = [("EntityTypeIndex", "EntityType", "CreatedAt"), ("GSI1", "GSI1PK", "GSI1SK")]
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}, {"AttributeName": r, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, h, r in gsis
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    if seed:
        client.put_item(TableName=name, Item=sample_item())


@contextmanager
def moto_table(state_dir: Path, *, seed: bool = True) -> Iterator[Table]:
    """The local cloud's emulator (``localcloud.emulator``: moto + its shims) on a free loopback port with the
    app's table; stopped (only it) on exit."""
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from localcloud import emulator

    server = emulator.start(state_dir)
    try:
        table = Table(endpoint=f"http://127.0.0.1:{server.port}")
        client = table.client()
        create(client, seed=seed)
        # A service's first request loads its botocore model in the emulator (DynamoDB Streams: ~25 ms): pay
        # that here, not inside a measurement.
        stream_arn = client.describe_table(TableName=table.name)["Table"]["LatestStreamArn"]
        table.streams_client().describe_stream(StreamArn=stream_arn)
        yield table
    finally:
        server.stop()
