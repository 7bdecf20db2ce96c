"""``python -m fastio demo``: what fastio does, timed, in a few seconds."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import fastio
import fastio.testing

CONCURRENT_SLEEPS = 100_000
SLEEP_SECONDS = 0.01
HTTP_REQUESTS = 10_000
HTTP_CONCURRENCY = 100


async def timed(label: str, run: Callable[[], Awaitable[Any]]) -> float:
    # Each run starts without the previous run's garbage to collect.
    gc.collect()
    started = time.perf_counter()
    await run()
    elapsed = time.perf_counter() - started
    print(f"  {label:<52} {elapsed:8.3f} s")
    return elapsed


async def demo() -> None:
    print(f"fastio {fastio.__version__}: asyncio HTTP and primitives, run in Rust on tokio\n")
    milliseconds = SLEEP_SECONDS * 1000
    print(f"{CONCURRENT_SLEEPS:,} concurrent sleeps of {milliseconds:.0f} ms, created and awaited:")
    slow = await timed(
        "asyncio.gather(asyncio.sleep(...) ...)",
        lambda: asyncio.gather(*[asyncio.sleep(SLEEP_SECONDS) for _ in range(CONCURRENT_SLEEPS)]),
    )
    mixed = await timed(
        "asyncio.gather(fastio.sleep(...) ...)",
        lambda: asyncio.gather(*[fastio.sleep(SLEEP_SECONDS) for _ in range(CONCURRENT_SLEEPS)]),
    )
    joined = await timed(
        "fastio.gather(fastio.sleep(...) ...)",
        lambda: fastio.gather(*[fastio.sleep(SLEEP_SECONDS) for _ in range(CONCURRENT_SLEEPS)]),
    )
    print(
        f"  fastio.sleep is {slow / mixed:.1f}x faster under asyncio.gather, "
        f"{slow / joined:.1f}x faster joined by fastio.gather\n"
    )

    print("Cancellation stops the Rust timer at once:")
    task = asyncio.ensure_future(fastio.sleep(3600))
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"  a one-hour sleep was cancelled in {(time.perf_counter() - started) * 1e6:.0f} µs")

    result = await asyncio.wait_for(fastio.sleep(0.05, "on time"), timeout=1)
    print(f"  asyncio.wait_for(fastio.sleep(0.05, 'on time'), 1) -> {result!r}\n")

    with fastio.testing.serve() as server:
        print(f"HTTP: fetch_all against the embedded test server at {server.url}")
        urls = [f"{server.url}/bytes/{size % 1024}" for size in range(HTTP_REQUESTS)]
        gc.collect()
        started = time.perf_counter()
        responses = await fastio.fetch_all(urls, concurrency=HTTP_CONCURRENCY)
        elapsed = time.perf_counter() - started
        size = sum(len(response.content) for response in responses)
        statuses = {response.status for response in responses}
        print(
            f"  {len(responses):,} GETs at concurrency {HTTP_CONCURRENCY}: {elapsed:.3f} s "
            f"({len(responses) / elapsed:,.0f} req/s), {size:,} bytes, statuses {sorted(statuses)}"
        )
        failures = await fastio.fetch_all(
            [server.url + "/json", server.fault_url + "/reset", "not a url"],
            return_exceptions=True,
        )
        for outcome in failures:
            shown = outcome if isinstance(outcome, fastio.Response) else type(outcome).__name__
            print(f"  return_exceptions=True -> {shown}")


def main() -> None:
    asyncio.run(demo())


if __name__ == "__main__":
    main()
