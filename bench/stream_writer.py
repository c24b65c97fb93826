"""The stream benchmark's producer, in its own process as an application writing to the table would be.

``python -m bench.stream_writer ENDPOINT TABLE RECORDS``: creates its client and the items, prints ``ready``,
waits for a line on stdin, then writes RECORDS new items with ``BatchWriteItem`` (25 per call, the API's
maximum) and prints one JSON line ``{"seconds": <time spent writing>}``. Keeping it out of the measuring
process means the producer's SDK work does not share a GIL with the local cloud's stream poller.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

REGION = "ap-northeast-1"


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


def main(argv: list[str]) -> int:
    endpoint, table, records = argv[0], argv[1], int(argv[2])
    import boto3

    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )
    requests = chunks(records, int(time.time()))
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for chunk in requests:
        unprocessed = client.batch_write_item(RequestItems={table: chunk}).get("UnprocessedItems") or {}
        if unprocessed:
            raise SystemExit(f"BatchWriteItem left items unprocessed: {len(unprocessed.get(table, []))}")
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
