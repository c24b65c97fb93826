"""In-process moto for the unit tests of the local cloud's moto shims and stream poller (imported by name: this
folder is on sys.path under pytest)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CLIENT_KWARGS = {"region_name": "ap-northeast-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}


@contextmanager
def streamed_table(name: str) -> Iterator[tuple[Any, Any]]:
    """moto with the local cloud's shims applied and one table ``name`` (hash key ``PK``, NEW_AND_OLD_IMAGES
    stream): yields (dynamodb client, dynamodbstreams client)."""
    import boto3
    from localcloud import moto_shims
    from moto import mock_aws

    moto_shims.apply_all()
    with mock_aws():
        client = boto3.client("dynamodb", **CLIENT_KWARGS)
        create_streamed_table(client, name)
        yield client, boto3.client("dynamodbstreams", **CLIENT_KWARGS)


def create_streamed_table(client: Any, name: str) -> None:
    """Table ``name``: hash key ``PK``, on demand, NEW_AND_OLD_IMAGES stream."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


@contextmanager
def threaded_moto_server() -> Iterator[str]:
    """moto's threaded server (the emulator's, with every shim applied) in this process: yields its endpoint URL."""
    from localcloud import emulator, moto_shims
    from moto.server import ThreadedMotoServer

    moto_shims.apply_all()
    port = emulator.free_port()
    server = ThreadedMotoServer(ip_address=emulator.HOST, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{emulator.HOST}:{port}"
    finally:
        server.stop()
