"""``fastio demo``: fastio doing its job against a server it starts itself.

Starts the embedded test server on 127.0.0.1, fetches N URLs from it with a
progress bar, and prints what it measured. ``--compare`` runs the same work
with aiohttp and httpx when they are installed (each capped at 2,000
requests or 20 s). The server runs in this process, on the same cores, so
the numbers show the shape, not a benchmark (``make bench`` is that).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.util
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import fastio
import fastio.testing

#: The peers' share of the work, so `--compare` stays quick.
PEER_REQUESTS = 2_000
PEER_SECONDS = 20.0


@dataclass
class Run:
    """What one client did."""

    client: str
    requests: int
    concurrency: int
    seconds: float
    latencies: list[float]
    size: int
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def fastio_run(urls: list[str], concurrency: int, progress: bool) -> Run:
    gc.collect()
    started = time.perf_counter()
    results = await fastio.fetch_all(
        urls, concurrency=concurrency, return_exceptions=True, progress=progress
    )
    seconds = time.perf_counter() - started
    responses = [item for item in results if isinstance(item, fastio.Response)]
    return Run(
        client="fastio fetch_all",
        requests=len(results),
        concurrency=concurrency,
        seconds=seconds,
        latencies=[response.elapsed for response in responses],
        size=sum(len(response.content) for response in responses),
        errors=len(results) - len(responses),
    )


async def peer_run(
    name: str,
    urls: list[str],
    concurrency: int,
    get: Callable[[str], Awaitable[int]],
) -> Run:
    """``concurrency`` tasks sharing ``urls``, as a user of ``name`` would write it."""
    gc.collect()
    pending = iter(urls[:PEER_REQUESTS])
    latencies: list[float] = []
    size = errors = 0
    started = time.perf_counter()
    deadline = started + PEER_SECONDS

    async def worker() -> None:
        nonlocal size, errors
        for url in pending:
            if time.perf_counter() > deadline:
                return
            sent = time.perf_counter()
            try:
                received = await get(url)
            except Exception:  # a failure is counted, as fastio's are
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            size += received

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(
        client=name,
        requests=len(latencies) + errors,
        concurrency=concurrency,
        seconds=time.perf_counter() - started,
        latencies=latencies,
        size=size,
        errors=errors,
    )


async def aiohttp_run(urls: list[str], concurrency: int) -> Run:
    aiohttp: Any = importlib.import_module("aiohttp")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> int:
            async with session.get(url) as response:
                return len(await response.read())

        return await peer_run("aiohttp", urls, concurrency, get)


async def httpx_run(urls: list[str], concurrency: int) -> Run:
    httpx: Any = importlib.import_module("httpx")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get(url: str) -> int:
            return len((await client.get(url)).content)

        return await peer_run("httpx", urls, concurrency, get)


PEERS: dict[str, Callable[[list[str], int], Awaitable[Run]]] = {
    "aiohttp": aiohttp_run,
    "httpx": httpx_run,
}


def table(runs: list[Run]) -> str:
    """The runs as an aligned text table; the speed-up is fastio's req/s over each."""
    reference = runs[0].rate
    header = (
        "client",
        "requests",
        "concurrency",
        "wall time",
        "req/s",
        "p50",
        "p99",
        "bytes",
        "errors",
        "fastio ×",
    )
    rows = [header]
    for run in runs:
        rows.append(
            (
                run.client,
                f"{run.requests:,}",
                f"{run.concurrency}",
                f"{run.seconds:.2f} s",
                f"{run.rate:,.0f}",
                f"{run.percentile(0.5) * 1000:.1f} ms",
                f"{run.percentile(0.99) * 1000:.1f} ms",
                f"{run.size:,}",
                f"{run.errors}",
                f"{reference / run.rate:.1f}" if run.rate else "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


async def primitives() -> None:
    """Timings of fastio.sleep and fastio.gather beside asyncio's own."""
    count, delay = 100_000, 0.01

    async def timed(label: str, run: Callable[[], Awaitable[Any]]) -> float:
        gc.collect()
        started = time.perf_counter()
        await run()
        elapsed = time.perf_counter() - started
        print(f"  {label:<44} {elapsed:7.3f} s")
        return elapsed

    print(f"\n{count:,} concurrent sleeps of {delay * 1000:.0f} ms, created and awaited:")
    slow = await timed(
        "asyncio.gather(asyncio.sleep(...) ...)",
        lambda: asyncio.gather(*[asyncio.sleep(delay) for _ in range(count)]),
    )
    joined = await timed(
        "fastio.gather(fastio.sleep(...) ...)",
        lambda: fastio.gather(*[fastio.sleep(delay) for _ in range(count)]),
    )
    print(f"  fastio is {slow / joined:.1f}x faster")


async def demo(args: argparse.Namespace) -> int:
    print(f"fastio {fastio.__version__}: asyncio HTTP, run in Rust on tokio")
    with fastio.testing.serve() as server:
        urls = [f"{server.url}/bytes/{number % 1024}" for number in range(args.requests)]
        print(
            f"{args.requests:,} GETs (bodies of 0-1023 bytes) from the embedded test server "
            f"at {server.url}, concurrency {args.concurrency}:\n",
            flush=True,
        )
        runs = [await fastio_run(urls, args.concurrency, progress=sys.stderr.isatty())]
        if args.compare:
            for name, run in PEERS.items():
                if importlib.util.find_spec(name) is None:
                    print(f"({name} is not installed: pip install {name} to compare)")
                    continue
                runs.append(await run(urls, args.concurrency))
        print(table(runs))
        print(
            "\nThe server shares this process and its cores: a demonstration, not a "
            "benchmark (see `make bench`)."
        )
        if args.compare and len(runs) > 1:
            print(
                f"The peers fetched at most {PEER_REQUESTS:,} URLs or for {PEER_SECONDS:.0f} s; "
                "req/s compares."
            )
    if args.primitives:
        await primitives()
    return 0


def main(args: argparse.Namespace) -> int:
    return asyncio.run(demo(args))
