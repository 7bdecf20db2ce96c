"""fastio.dask.fetch_all with 1 and 2 worker processes (LocalCluster) beside
plain fastio.fetch_all in one process, all against nginx (1 worker) on
127.0.0.1, in the same run.

    python bench/dask_bench.py [--requests 200000] [--markdown FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py sits in this folder: keep the folder off the import path, so
# `import http` finds the standard library here and in the worker
# processes (which import this file again); the neighbours are imported in
# main() with the folder put back for a moment.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]

import argparse
import importlib
import asyncio
import datetime
import time

from distributed import Client, LocalCluster

import fastio
import fastio.dask

PARTITION = 10_000
CONCURRENCY = 100


def one_process(urls: list[str]) -> float:
    async def run() -> int:
        responses = await fastio.fetch_all(urls, concurrency=CONCURRENCY)
        return len(responses)

    started = time.perf_counter()
    assert asyncio.run(run()) == len(urls)
    return time.perf_counter() - started


def on_cluster(urls: list[str], workers: int) -> float:
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # Warm-up: workers import fastio and start their runtimes.
        fastio.dask.fetch_all(urls[:100], partition_size=50, dask_client=client).compute()
        started = time.perf_counter()
        frame = fastio.dask.fetch_all(
            urls, partition_size=PARTITION, concurrency=CONCURRENCY, dask_client=client
        ).compute()
        seconds = time.perf_counter() - started
    assert len(frame) == len(urls)
    assert frame["error"].isna().all()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    machine = importlib.import_module("machine")
    serving = importlib.import_module("nginx").serving
    runs = importlib.import_module("runs")
    sys.path.remove(str(BENCH))
    with serving() as base:
        urls = [base + "/small"] * args.requests
        measured = {
            "fastio.fetch_all, one process": one_process(urls),
            "fastio.dask.fetch_all, 1 worker process": on_cluster(urls, 1),
            "fastio.dask.fetch_all, 2 worker processes": on_cluster(urls, 2),
        }
    reference = args.requests / measured["fastio.fetch_all, one process"]
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine.machine_line()}; "
        f"{args.requests:,} GETs of a 12-byte body from nginx (1 worker) on 127.0.0.1; "
        f"partitions of {PARTITION:,}, concurrency {CONCURRENCY} per partition.",
        "",
        "| run | seconds | req/s | × one process |",
        "|---|---|---|---|",
    ]
    for name, seconds in measured.items():
        rate = args.requests / seconds
        lines.append(f"| {name} | {seconds:.2f} | {rate:,.0f} | {rate / reference:.2f} |")
    runs.publish(lines, args.markdown)


if __name__ == "__main__":
    main()
