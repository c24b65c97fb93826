"""The stream benchmark's producer, in its own process as an application writing to the table would be.

``python -m bench.stream_writer ENDPOINT TABLE RECORDS``: prepares RECORDS new items as ``BatchWriteItem``
requests (25 items each, the API's maximum), prints ``ready``, waits for a line on stdin, sends them one after
the other and prints one JSON line ``{"seconds": <time spent writing>}``. Like a load generator, it has the SDK
build and sign every request before the clock starts (botocore's ``before-send`` hook hands each prepared
request back instead of sending it), so during the measurement the producer only sends bytes and checks the
answers: in production the writers are other machines, not the 2 cores the local cloud runs on.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def item(index: int, now: int) -> dict[str, Any]:
    """A new item as the API writes it (``service/dal``), so the processor counts it under STATS#Item."""
    item_id = str(uuid.uuid4())
    return {
        "PK": {"S": f"ITEM#{item_id}"},
        "SK": {"S": "METADATA"},
        "EntityType": {"S": "Item"},
        "ItemId": {"S": item_id},
        "Name": {"S": f"bench {index}"},
        "Tags": {"L": []},
        "CreatedAt": {"N": str(now)},
        "UpdatedAt": {"N": str(now)},
        "version": {"N": "1"},
    }


def chunks(records: int, now: int) -> list[list[dict[str, Any]]]:
    return [
        [{"PutRequest": {"Item": item(i, now)}} for i in range(offset, min(records, offset + 25))]
        for offset in range(0, records, 25)
    ]


@contextmanager
def captured_requests(client: Any, event: str) -> Iterator[list[Any]]:
    """Inside the block, the SDK's serialised, signed requests matching ``event`` (``before-send.dynamodb``...)
    are collected in the yielded list instead of sent; each call gets an empty ``{}`` answer."""
    from botocore.awsrequest import AWSResponse

    class _EmptyBody:
        def stream(self) -> Any:
            return iter([b"{}"])

    captured: list[Any] = []

    def capture(request: Any, **_: Any) -> Any:
        captured.append(request)
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register_first(event, capture)
    try:
        yield captured
    finally:
        client.meta.events.unregister(event, capture)


def prepared_requests(client: Any, table: str, records: int) -> list[Any]:
    """The SDK's own serialised, signed BatchWriteItem requests, captured instead of sent."""
    with captured_requests(client, "before-send.dynamodb.BatchWriteItem") as captured:
        for chunk in chunks(records, int(time.time())):
            client.batch_write_item(RequestItems={table: chunk})
    return captured


def main(argv: list[str]) -> int:
    endpoint, table, records = argv[0], argv[1], int(argv[2])
    import urllib3

    from bench.fixture import Table

    requests = prepared_requests(Table(endpoint, table).client(), table, records)
    http = urllib3.PoolManager()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for request in requests:
        answer = http.request(request.method, request.url, body=request.body, headers=dict(request.headers))
        unprocessed = json.loads(answer.data).get("UnprocessedItems") if answer.status == 200 else None
        if unprocessed != {}:
            raise SystemExit(f"BatchWriteItem answered {answer.status}: {answer.data[:300]!r}")
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
