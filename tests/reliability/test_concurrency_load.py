"""Concurrent updates of one item (optimistic locking) and a load run, through the local cloud's HTTP API."""

from __future__ import annotations

import concurrent.futures
import statistics
import threading
import time
from typing import Any

import pytest
import requests
from conftest import LocalCloud

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud-reliability")]

WRITERS = 20  # Tags holds at most 20 entries, one per writer
RACERS, ROUNDS = 50, 4  # conditional writers released together on one item, and how many times
LOAD_REQUESTS, LOAD_CONCURRENCY = 2000, 8


def _create(api: str, name: str) -> dict[str, Any]:
    response = requests.post(f"{api}/items", json={"name": name}, timeout=60)
    assert response.status_code == 201, response.text
    return dict(response.json()["item"])


def _race_round(api: str, item_id: str, version: int, label: str) -> list[tuple[int, int, dict[str, Any]]]:
    """RACERS writers released together, each PUTting name `<label>-w<i>` from ``version``: (i, status, body)."""
    barrier = threading.Barrier(RACERS)

    def write(i: int) -> tuple[int, int, dict[str, Any]]:
        session = requests.Session()
        barrier.wait(timeout=60)
        r = session.put(f"{api}/items/{item_id}", json={"name": f"{label}-w{i}", "version": version}, timeout=120)
        return i, r.status_code, r.json() if r.content else {}

    with concurrent.futures.ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(write, range(RACERS)))


def test_simultaneous_updates_from_one_version_exactly_one_wins(local_cloud: LocalCloud) -> None:
    """RACERS writers PUT from the same version, ROUNDS times: each round exactly one gets 200 and its write is
    the item afterwards; every other writer gets 409 version_conflict (the emulator's writes are atomic)."""
    api = local_cloud.api_url
    item = _create(api, "race")
    version = item["version"]
    rejected = 0
    for round_ in range(ROUNDS):
        results = _race_round(api, item["ItemId"], version, f"r{round_}")
        winners = [i for i, status, _ in results if status == 200]
        losers = [(i, status, body) for i, status, body in results if status != 200]
        assert len(winners) == 1, f"round {round_}: {len(winners)} writers were told they won"
        assert all(status == 409 and body["error"]["code"] == "version_conflict" for _, status, body in losers), losers
        final = requests.get(f"{api}/items/{item['ItemId']}", timeout=60).json()
        assert final["Name"] == f"r{round_}-w{winners[0]}", "the accepted write is not the item"
        assert final["version"] == version + 1
        version = final["version"]
        rejected += len(losers)
    print(f"\nrace: {RACERS} writers x {ROUNDS} rounds, {ROUNDS} accepted, {rejected} rejected with 409, lost 0")


def test_retrying_writers_lose_no_update(local_cloud: LocalCloud) -> None:
    """20 writers each add their tag by read-modify-write with retry on 409: every tag must survive."""
    api = local_cloud.api_url
    item = _create(api, "tags")
    conflicts = [0] * WRITERS
    accepted = [0] * WRITERS

    def add_tag(i: int) -> None:
        session = requests.Session()
        for _ in range(200):
            current = session.get(f"{api}/items/{item['ItemId']}", timeout=120).json()
            body = {"tags": [*current["Tags"], f"writer-{i}"], "version": current["version"]}
            r = session.put(f"{api}/items/{item['ItemId']}", json=body, timeout=120)
            if r.status_code == 200:
                accepted[i] += 1
                return
            assert r.status_code == 409, r.text  # the only acceptable rejection
            assert r.json()["error"]["code"] == "version_conflict"
            conflicts[i] += 1
        raise AssertionError(f"writer {i} never got through")

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(add_tag, range(WRITERS)))
    final = requests.get(f"{api}/items/{item['ItemId']}", timeout=60).json()
    print(f"\nconcurrency: {WRITERS} writers, {sum(accepted)} accepted, {sum(conflicts)} rejected with 409")
    assert sorted(final["Tags"]) == sorted(f"writer-{i}" for i in range(WRITERS)), "an accepted update was lost"
    assert final["version"] == item["version"] + sum(accepted)


def test_load_run(local_cloud: LocalCloud) -> None:
    api = local_cloud.api_url
    seeds = [_create(api, f"load {i}") for i in range(5)]
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    local = threading.local()

    def one(n: int) -> None:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        kind = n % 10
        started = time.perf_counter()
        if kind < 4:
            r = local.s.get(f"{api}/items/{seeds[n % len(seeds)]['ItemId']}", timeout=120)
        elif kind < 6:
            r = local.s.get(f"{api}/items", params={"limit": 10}, timeout=120)
        elif kind < 7:
            r = local.s.get(f"{api}/stats", timeout=120)
        elif kind < 8:
            r = local.s.post(f"{api}/items", json={"name": f"load-{n}"}, timeout=120)
        else:
            r = local.s.get(f"{api}/health", timeout=120)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            if r.status_code >= 400:
                errors.append(f"{r.request.method} {r.request.path_url}: {r.status_code} {r.text[:100]}")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(LOAD_CONCURRENCY) as pool:
        list(pool.map(one, range(LOAD_REQUESTS)))
    wall = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"\nload: {len(latencies)} requests at concurrency {LOAD_CONCURRENCY} in {wall:.1f}s "
        f"({len(latencies) / wall:.0f} req/s); p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"errors {len(errors)}"
    )
    assert len(latencies) == LOAD_REQUESTS
    assert not errors, errors[:10]
