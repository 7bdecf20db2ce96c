"""Soak: 1,000,000 requests through one fastio.Client in batches of 10,000,
then 100,000 requests cancelled in flight. Reports, as the run goes, this
process's RSS, open file descriptors, threads and fastio's live counts
(awaitables, pieces of Rust work). The server is fastio's test server in
its own process, so its memory is not counted.

    python bench/soak.py [--requests 1000000] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import os
import time
from pathlib import Path

import machine
import runs

import fastio
from fastio.testing import live_counts

BATCH = 10_000


def resident_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def snapshot(done: int, started: float) -> tuple[int, float, float, int, int, tuple[int, int]]:
    gc.collect()
    return (
        done,
        time.monotonic() - started,
        resident_mib(),
        len(os.listdir("/proc/self/fd")),
        len(os.listdir("/proc/self/task")),
        live_counts(),
    )


async def soak(base: str, total: int, cancelled: int) -> list[str]:
    rows: list[tuple[int, float, float, int, int, tuple[int, int]]] = []
    urls = [f"{base}/bytes/{size % 1024}" for size in range(BATCH)]
    started = time.monotonic()
    async with fastio.Client(max_connections=64) as client:
        done = 0
        while done < total:
            responses = await client.fetch_all(urls, concurrency=64)
            assert all(response.status == 200 for response in responses)
            del responses
            done += BATCH
            if done in (BATCH, 2 * BATCH) or done % max(total // 10, BATCH) == 0:
                rows.append(snapshot(done, started))
        left = cancelled
        while left > 0:
            slow = [f"{base}/delay/30"] * min(BATCH, left)
            pending = asyncio.ensure_future(client.fetch_all(slow, concurrency=1000))
            await asyncio.sleep(0.3)
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
            del pending
            left -= len(slow)
        deadline = time.monotonic() + 10
        while live_counts() > rows[0][5] and time.monotonic() < deadline:
            gc.collect()
            await asyncio.sleep(0.05)
        after_cancel = snapshot(done, started)
    warm = rows[1]
    lines = [
        "| requests done | seconds | RSS | open fds | threads | live awaitables, Rust work |",
        "|---|---|---|---|---|---|",
    ]
    for done, seconds, rss, fds, threads, live in rows:
        lines.append(
            f"| {done:,} | {seconds:.1f} | {rss:.1f} MiB ({rss - warm[2]:+.1f}) | {fds} | "
            f"{threads} | {live[0]}, {live[1]} |"
        )
    done, seconds, rss, fds, threads, live = after_cancel
    lines.append(
        f"| + {cancelled:,} cancelled | {seconds:.1f} | {rss:.1f} MiB ({rss - warm[2]:+.1f}) | "
        f"{fds} | {threads} | {live[0]}, {live[1]} |"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--cancelled", type=int, default=100_000)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    with runs.test_server() as base:
        lines = asyncio.run(soak(base, args.requests, args.cancelled))
    header = (
        f"Measured {datetime.date.today().isoformat()} on {machine.machine_line()}; "
        f"one Client, batches of {BATCH:,} GETs (fetch_all, concurrency 64) against the "
        f"test server in another process; RSS change from after the second batch."
    )
    runs.publish([header, "", *lines], args.markdown)


if __name__ == "__main__":
    main()
