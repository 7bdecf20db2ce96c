"""Amdahl's bound on the worker threads, read with
``fastio.testing.busiest_task_share()``: the largest share of the workers'
CPU time one tokio task took while fastio ran 50,000 small GETs against
nginx at concurrency 64, for ``fetch_all``, ``fetch_iter`` and
``Client.get`` from 64 tasks. A share ``s`` caps the speed-up more worker
threads can give that work at ``1/s``; this machine has too few cores to
show the speed-up itself. Timing every poll slows the run, so the rates
here are not comparable with bench/http.py's.

    python bench/task_share.py [--requests 50000] [--rounds 3] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import machine
import runs
from nginx import serving

import fastio
import fastio.testing

CONCURRENCY = 64

Shape = Callable[[fastio.Client, list[str]], Awaitable[None]]


async def through_fetch_all(client: fastio.Client, urls: list[str]) -> None:
    await client.fetch_all(urls, concurrency=CONCURRENCY)


async def through_fetch_iter(client: fastio.Client, urls: list[str]) -> None:
    async for _ in client.fetch_iter(urls, concurrency=CONCURRENCY):
        pass


async def through_tasks(client: fastio.Client, urls: list[str]) -> None:
    async def worker(share: list[str]) -> None:
        for url in share:
            await client.get(url)

    await asyncio.gather(*(worker(urls[n::CONCURRENCY]) for n in range(CONCURRENCY)))


SHAPES: dict[str, Shape] = {
    "fetch_all": through_fetch_all,
    "fetch_iter": through_fetch_iter,
    f"Client.get from {CONCURRENCY} tasks": through_tasks,
}


async def measure(url: str, count: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """(share, req/s) of each shape, `rounds` times, the shapes alternating."""
    urls = [url] * count
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in SHAPES}
    async with fastio.Client(max_connections=CONCURRENCY) as client:
        await client.fetch_all(urls[:1000])
        for _ in range(rounds):
            for name, shape in SHAPES.items():
                fastio.testing.busiest_task_share()
                started = time.perf_counter()
                await shape(client, urls)
                elapsed = time.perf_counter() - started
                measured[name].append((fastio.testing.busiest_task_share(), count / elapsed))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    with serving() as base:
        measured = asyncio.run(measure(base + "/small", args.requests, args.rounds))
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine.machine_line()}; nginx "
        f"1 worker on 127.0.0.1, {args.requests:,} GETs of a 12-byte body at concurrency "
        f"{CONCURRENCY}, {args.rounds} rounds in one process; the busiest tokio task's share "
        "of the worker threads' CPU time (each poll timed in the thread's CPU clock), and the "
        "speed-up bound it sets on more worker threads (1 / share).",
        "",
        "| shape | busiest task's share (median) | all rounds | speed-up bound | req/s while "
        "timed |",
        "|---|---|---|---|---|",
    ]
    for name, results in measured.items():
        shares = [share for share, _ in results]
        share = statistics.median(shares)
        rates = statistics.median(req_rate for _, req_rate in results)
        lines.append(
            f"| {name} | {share:.1%} | {', '.join(f'{s:.1%}' for s in shares)} | "
            f"{1 / share:.0f}× | {rates:,.0f} |"
        )
    lines.append("")
    runs.publish(lines, args.markdown)


if __name__ == "__main__":
    main()
