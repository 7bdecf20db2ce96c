"""per_host="auto": each host's concurrency adapts to its answers. Against
the test server's /limited/{k} (k requests at once per Host header, 503
beyond), with several host names mapped to it by resolve=."""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import pytest

import fastio
from fastio._fastio import Server

CAPACITIES = {"small.test": 2, "medium.test": 6, "large.test": 16}


def urls(server: Server, per_host: int) -> list[str]:
    return [
        f"http://{host}:{server.port}/limited/{capacity}?delay=0.01"
        for _ in range(per_host)
        for host, capacity in CAPACITIES.items()
    ]


async def crawl(server: Server, per_host: int | str) -> list[fastio.Response]:
    resolve = dict.fromkeys(CAPACITIES, "127.0.0.1")
    async with fastio.Client(per_host=per_host, resolve=resolve, max_connections=None) as client:  # type: ignore[arg-type]
        return await client.fetch_all(urls(server, 120), concurrency=200)


async def test_auto_finds_each_hosts_capacity_where_a_fixed_limit_overloads_it(
    server: Server,
) -> None:
    adapted = await crawl(server, "auto")
    refused = sum(response.status == 503 for response in adapted) / len(adapted)
    assert refused <= 0.15, refused
    # The limit grew past its start where the host could take more.
    busiest: dict[str, int] = collections.defaultdict(int)
    for response in adapted:
        host = response.url.split("/")[2].split(":")[0]
        busiest[host] = max(busiest[host], int(response.headers["x-in-flight"]))
    assert busiest["large.test"] >= 6, busiest
    fixed = await crawl(server, 64)
    overloaded = sum(response.status == 503 for response in fixed) / len(fixed)
    assert overloaded >= 0.4, overloaded


async def test_auto_stops_piling_on_a_host_whose_answers_slow_down(server: Server) -> None:
    # A host that never refuses but queues: past 4 at once each answer
    # takes longer. Without a latency signal nothing would stop the growth.
    async def busiest(per_host: int | str) -> int:
        async with fastio.Client(
            per_host=per_host,  # type: ignore[arg-type]
            resolve={"queue.test": "127.0.0.1"},
            max_connections=None,
        ) as client:
            url = f"http://queue.test:{server.port}/queued/4?delay=0.01"
            results = await client.fetch_all([url] * 400, concurrency=100)
        assert all(response.status == 200 for response in results)
        return max(int(response.headers["x-in-flight"]) for response in results)

    assert await busiest("auto") <= 24
    assert await busiest(64) >= 32


@pytest.mark.parametrize("given", ["automatic", "", "0"])
def test_per_host_takes_a_number_or_auto(given: str) -> None:
    with pytest.raises(ValueError, match="per_host"):
        fastio.Client(per_host=given)  # type: ignore[arg-type]


def test_the_cli_takes_per_host_auto(server: Server) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fastio", "fetch", "--per-host", "auto", "-q"]
        + [server.url + "/limited/2?delay=0.01" for _ in range(20)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    statuses = [json.loads(line)["status"] for line in done.stdout.splitlines()]
    assert len(statuses) == 20
    assert statuses.count(503) <= 4, statuses
    assert "auto" not in done.stderr
