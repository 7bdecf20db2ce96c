"""HTTP benchmarks: fastio against its peers, all in one run.

Starts nginx (1 worker; installed with apt-get if missing) on 127.0.0.1 and
runs every client against it, each case in its own process: fastio
``fetch_all``; fastio ``fetch_iter``; fastio ``Client.get`` awaited from C asyncio tasks; aiohttp;
aiohttp on uvloop; httpx and its fork httpx2; pyreqwest; wreq (was
rnet); pyqwest; eggfetch; requestx; niquests; and ``bench/reqwest_ceiling``,
pure Rust reqwest, as the ceiling (curl for the 100 MB body; for 1 MB bodies
also pure Rust keeping every body, as a ``fetch_all`` list does). Prints a
table of req/s (or GB/s), ratios and peak RSS, plus JSON POSTs (each item its
own 1 KB document; httpx with the semaphore pattern), JSON POSTs to a route
that answers 429 + Retry-After under fastio's ``rate_limit`` (fastio's test
server in its own process), the event-loop lag case and fastio with idle
workers on a busy machine.

    python bench/http.py [--quick] [--markdown FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/http.py: take its folder off the import path after
# importing its neighbour, so `import http` still finds the standard library.
import machine
import runs
from nginx import serving
from runs import Run, cpu_per_request, cpu_ratio, in_rounds, raise_file_limit, rate, ratio

sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

import argparse
import asyncio
import datetime
import functools
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

machine_line = machine.machine_line


# --- the clients: each GETs `url` `count` times, at most `concurrency` at once,
# reads every body and returns the number of body bytes ------------------------


async def workers(count: int, concurrency: int, one: Callable[[], Awaitable[int]]) -> int:
    """`concurrency` asyncio tasks sharing `count` requests, as a user would write it."""
    remaining = count
    total = 0

    async def worker() -> None:
        nonlocal remaining, total
        while remaining > 0:
            remaining -= 1
            size = await one()  # not `total += await ...`: that reads total first
            total += size

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


# When the requests of the run were done and every body read: what comes
# after (a fetch_all list of 20,000 Responses being freed) is timed apart.
REQUESTS_DONE: list[float] = []


async def client_fastio_fetch_all(url: str, count: int, concurrency: int) -> int:
    import fastio

    # As many connections as the concurrency, as every client here has (a
    # plain fastio.fetch_all opens at most 100).
    async with fastio.Client(max_connections=concurrency) as client:
        responses = await client.fetch_all([url] * count, concurrency=concurrency)
    total = sum(len(response.content) for response in responses)
    REQUESTS_DONE.append(time.perf_counter())
    return total


async def client_fastio_fetch_iter(url: str, count: int, concurrency: int) -> int:
    import fastio

    total = 0
    async with fastio.Client(max_connections=concurrency) as client:
        async for response in client.fetch_iter([url] * count, concurrency=concurrency):
            total += len(response.content)
    return total


async def client_fastio_client(url: str, count: int, concurrency: int) -> int:
    import fastio

    async with fastio.Client(max_connections=concurrency) as client:

        async def one() -> int:
            return len((await client.get(url)).content)

        return await workers(count, concurrency, one)


async def client_fastio_stream(url: str, count: int, concurrency: int) -> int:
    """Bodies read piece by piece with Client.stream (the 100 MB case)."""
    import fastio

    async with fastio.Client(max_connections=concurrency) as client:

        async def one() -> int:
            size = 0
            async with client.stream("GET", url) as response:
                async for piece in response.aiter_bytes():
                    size += len(piece)
            return size

        return await workers(count, concurrency, one)


async def client_aiohttp(url: str, count: int, concurrency: int) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with session.get(url) as response:
                return len(await response.read())

        return await workers(count, concurrency, one)


async def client_pyreqwest(url: str, count: int, concurrency: int) -> int:
    from pyreqwest.client import ClientBuilder

    async with ClientBuilder().max_connections(concurrency).build() as client:

        async def one() -> int:
            response = await client.get(url).build().send()
            return len(await response.bytes())

        return await workers(count, concurrency, one)


async def client_wreq(url: str, count: int, concurrency: int) -> int:
    import wreq

    client = wreq.Client()

    async def one() -> int:
        response = await client.get(url)
        return len(await response.bytes())

    return await workers(count, concurrency, one)


async def client_pyqwest(url: str, count: int, concurrency: int) -> int:
    import pyqwest

    client = pyqwest.Client()

    async def one() -> int:
        response = await client.get(url)
        return len(response.content)

    return await workers(count, concurrency, one)


async def client_eggfetch(url: str, count: int, concurrency: int) -> int:
    import eggfetch

    async with eggfetch.AsyncClient() as client:

        async def one() -> int:
            return len((await client.get(url)).content)

        total = await workers(count, concurrency, one)
    return total


async def client_httpx(module: str, url: str, count: int, concurrency: int) -> int:
    """httpx, or its API under another module: its fork httpx2, and requestx."""
    httpx_like = importlib.import_module(module)
    limits = httpx_like.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx_like.AsyncClient(limits=limits, timeout=60) as client:

        async def one() -> int:
            return len((await client.get(url)).content)

        return await workers(count, concurrency, one)


async def client_httpx_over(transport_name: str, url: str, count: int, concurrency: int) -> int:
    """httpx with another transport: fastio's (fastio.httpx), pyreqwest's, or
    one that answers at once without a network (httpx's own floor)."""
    import httpx

    transport: httpx.AsyncBaseTransport
    if transport_name == "instant":
        transport = await instant_transport(url)
    elif transport_name == "fastio":
        from fastio.httpx import AsyncHTTPTransport

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        transport = AsyncHTTPTransport(limits=limits)
    else:
        from pyreqwest.client import ClientBuilder
        from pyreqwest.compatibility.httpx import HttpxTransport

        transport = HttpxTransport(ClientBuilder().max_connections(concurrency).build())
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:

        async def one() -> int:
            return len((await client.get(url)).content)

        return await workers(count, concurrency, one)


async def instant_transport(url: str) -> Any:
    """httpx's own floor: a transport that costs nothing, answering every
    request with the head and body the server gave once (so httpx handles
    the same headers), streamed, after one turn of the loop (where a real
    transport waits for the network)."""
    import urllib.request

    import httpx

    def answer_once() -> tuple[list[tuple[str, str]], bytes]:
        with urllib.request.urlopen(url) as answer:
            return list(answer.getheaders()), answer.read()

    head, body = await asyncio.to_thread(answer_once)

    class Once(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield body

    class Instant(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0)
            return httpx.Response(200, headers=head, stream=Once())

    return Instant()


async def client_niquests(url: str, count: int, concurrency: int) -> int:
    import niquests

    async with niquests.AsyncSession(pool_maxsize=concurrency) as session:

        async def one() -> int:
            response = await session.get(url)
            return len(response.content or b"")

        return await workers(count, concurrency, one)


# --- JSON POSTs: each item POSTs its own 1 KB document, built before timing --------


def payload(index: int) -> dict[str, Any]:
    """Item `index`'s document (the ceiling sends the same one)."""
    return {"id": index, "payload": (str(index) * 1000)[:1000]}


PAYLOADS: list[dict[str, Any]] = []

# The 429 case: the API's first answers are 429 with this Retry-After, and
# fastio is told the API's rate.
RATE_LIMIT = 1000
RETRY_AFTER = 1


async def post_fastio_fetch_all(url: str, count: int, concurrency: int) -> int:
    import fastio

    async with fastio.Client(max_connections=concurrency) as client:
        requests = (fastio.Request("POST", url, json=document) for document in PAYLOADS[:count])
        responses = await client.fetch_all(requests, concurrency=concurrency)
    return sum(len(response.content) for response in responses)


async def post_fastio_rate_limited(url: str, count: int, concurrency: int) -> int:
    """fetch_all under the API's rate limit, on a route whose first
    `concurrency` answers are 429 + Retry-After (a fresh route per run)."""
    import uuid

    import fastio

    route = f"{url}/{uuid.uuid4().hex}?fail={concurrency}&status=429&retry_after={RETRY_AFTER}"
    async with fastio.Client(
        max_connections=concurrency, rate_limit=RATE_LIMIT, retries=3, retry_methods={"POST"}
    ) as client:
        requests = (fastio.Request("POST", route, json=document) for document in PAYLOADS[:count])
        responses = await client.fetch_all(requests, concurrency=concurrency)
    assert all(response.status == 200 for response in responses)
    return sum(len(response.content) for response in responses)


async def post_fastio_client(url: str, count: int, concurrency: int) -> int:
    import fastio

    documents = iter(PAYLOADS[:count])
    async with fastio.Client(max_connections=concurrency) as client:

        async def one() -> int:
            return len((await client.post(url, json=next(documents))).content)

        return await workers(count, concurrency, one)


async def post_aiohttp(url: str, count: int, concurrency: int) -> int:
    import aiohttp

    documents = iter(PAYLOADS[:count])
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with session.post(url, json=next(documents)) as response:
                return len(await response.read())

        return await workers(count, concurrency, one)


async def post_httpx(url: str, count: int, concurrency: int) -> int:
    """The pattern httpx's users write: gather everything behind a semaphore."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(document: dict[str, Any]) -> int:
            async with gate:
                return len((await client.post(url, json=document)).content)

        return sum(await asyncio.gather(*(one(document) for document in PAYLOADS[:count])))


async def post_pyreqwest(url: str, count: int, concurrency: int) -> int:
    from pyreqwest.client import ClientBuilder

    documents = iter(PAYLOADS[:count])
    async with ClientBuilder().max_connections(concurrency).build() as client:

        async def one() -> int:
            response = await client.post(url).body_json(next(documents)).build().send()
            return len(await response.bytes())

        return await workers(count, concurrency, one)


POST_CLIENTS: dict[str, Callable[[str, int, int], Awaitable[int]]] = {
    "fastio fetch_all of Requests": post_fastio_fetch_all,
    "fastio Client.post from tasks": post_fastio_client,
    "aiohttp": post_aiohttp,
    "aiohttp + uvloop": post_aiohttp,
    "httpx (semaphore)": post_httpx,
    "pyreqwest": post_pyreqwest,
}
RATE_LIMITED = "fastio fetch_all of Requests, rate_limit"
POST_CLIENTS[RATE_LIMITED] = post_fastio_rate_limited


# fastio with `configure_runtime(worker_priority="idle")`: its threads yield
# a busy CPU to the event loop's thread (and to nginx) at once.
IDLE_WORKERS = ", idle workers"

# The module each client needs, imported before timing starts (an import
# inside the timed run shows up as event-loop lag).
MODULES = {
    "fastio fetch_all": "fastio",
    "fastio fetch_all" + IDLE_WORKERS: "fastio",
    "fastio Client.get from tasks" + IDLE_WORKERS: "fastio",
    "fastio fetch_iter": "fastio",
    "fastio Client.get from tasks": "fastio",
    "fastio Client.stream, aiter_bytes": "fastio",
    "aiohttp": "aiohttp",
    "aiohttp + uvloop": "aiohttp",
    "httpx": "httpx",
    "pyreqwest": "pyreqwest.client",
    "wreq": "wreq",
    "pyqwest": "pyqwest",
    "eggfetch": "eggfetch",
    "requestx": "requestx",
    "niquests": "niquests",
    "httpx2": "httpx2",
    "fastio fetch_all of Requests": "fastio",
    RATE_LIMITED: "fastio",
    "fastio Client.post from tasks": "fastio",
    "httpx (semaphore)": "httpx",
    "fastio transport under httpx": "fastio.httpx",
    "pyreqwest transport under httpx": "pyreqwest.compatibility.httpx",
    "instant transport under httpx": "httpx",
}

CLIENTS: dict[str, Callable[[str, int, int], Awaitable[int]]] = {
    "fastio fetch_all": client_fastio_fetch_all,
    "fastio fetch_all" + IDLE_WORKERS: client_fastio_fetch_all,
    "fastio fetch_iter": client_fastio_fetch_iter,
    "fastio Client.get from tasks": client_fastio_client,
    "fastio Client.get from tasks" + IDLE_WORKERS: client_fastio_client,
    "fastio Client.stream, aiter_bytes": client_fastio_stream,
    "aiohttp": client_aiohttp,
    "aiohttp + uvloop": client_aiohttp,
    "httpx": functools.partial(client_httpx, "httpx"),
    "pyreqwest": client_pyreqwest,
    "wreq": client_wreq,
    "pyqwest": client_pyqwest,
    "eggfetch": client_eggfetch,
    "requestx": functools.partial(client_httpx, "requestx"),
    "niquests": client_niquests,
    "httpx2": functools.partial(client_httpx, "httpx2"),
}

# httpx over other transports (bench/httpx_transport.py), not in the tables above.
TRANSPORT_CLIENTS: dict[str, Callable[[str, int, int], Awaitable[int]]] = {
    "fastio transport under httpx": functools.partial(client_httpx_over, "fastio"),
    "pyreqwest transport under httpx": functools.partial(client_httpx_over, "pyreqwest"),
    "instant transport under httpx": functools.partial(client_httpx_over, "instant"),
}


# Every client but the streaming one, which only the 100 MB case runs.
WHOLE_BODY_CLIENTS = [name for name in CLIENTS if "stream" not in name]
# The request-rate tables add fastio with idle workers; the body cases,
# where the loop's lag is not the question, leave it out.
BODY_CLIENTS = [name for name in CLIENTS if IDLE_WORKERS not in name]


async def ticker(lags: list[tuple[float, float]], keep_going: Callable[[], bool]) -> None:
    """A 1 ms asyncio ticker: while `keep_going()`, sleeps 1 ms and appends
    (how late it woke, in seconds; when) to `lags`."""
    while keep_going():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        ended = time.perf_counter()
        lags.append((ended - started - 0.001, ended))


def worst_and_p99(lags: Iterable[float]) -> dict[str, float]:
    """The worst and the 99th-percentile lag, in ms."""
    ordered = sorted(lags)
    return {
        "lag_worst_ms": ordered[-1] * 1000,
        "lag_p99_ms": ordered[int(len(ordered) * 0.99)] * 1000,
    }


def run_client(
    name: str, url: str, count: int, concurrency: int, with_lag: bool, post: bool = False
) -> dict[str, Any]:
    """Runs in the child process: one client, one case (`post`: its JSON-POST form)."""
    raise_file_limit()
    clients = POST_CLIENTS if post else {**CLIENTS, **TRANSPORT_CLIENTS}
    if post:
        PAYLOADS[:] = [payload(index) for index in range(count)]
    importlib.import_module(MODULES[name])
    if name.endswith(IDLE_WORKERS):
        import fastio

        fastio.configure_runtime(worker_priority="idle")
    if name.endswith("uvloop"):
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop

    async def main() -> dict[str, Any]:
        lags: list[tuple[float, float]] = []
        running = True

        # Warm up (imports, runtimes, TLS configuration), untimed: the lag
        # case is about the steady state, not one-time start-up.
        await clients[name](url, min(count, 10), 1)
        tick = asyncio.ensure_future(ticker(lags, lambda: running)) if with_lag else None
        REQUESTS_DONE.clear()
        cpu_started = time.process_time()
        started = time.perf_counter()
        total = await clients[name](url, count, concurrency)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        running = False
        if tick is not None:
            await tick
        # CPU of the whole process (every thread) over the timed part.
        result: dict[str, Any] = {"s": seconds, "bytes": total, "cpu_s": cpu_seconds}
        if lags:
            done = REQUESTS_DONE[-1] if REQUESTS_DONE else float("inf")
            result.update(worst_and_p99(lag for lag, ended in lags if ended <= done))
            result["lag_after_ms"] = max(lag for lag, _ in lags) * 1000
        return result

    with asyncio.Runner(loop_factory=factory) as runner:
        measured = runner.run(main())
    measured["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return measured


def child(
    name: str, url: str, count: int, concurrency: int, with_lag: bool = False, post: bool = False
) -> Run:
    """One run of a client in a fresh process."""
    return lambda: one_child_run(name, url, count, concurrency, with_lag, post)


def one_child_run(
    name: str, url: str, count: int, concurrency: int, with_lag: bool, post: bool
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--client",
        name,
        "--url",
        url,
        "--count",
        str(count),
        "--concurrency",
        str(concurrency),
    ]
    if with_lag:
        command.append("--lag")
    if post:
        command.append("--post")
    return runs.child_run(command)


def ceiling(url: str, count: int, concurrency: int, mode: str = "") -> Run:
    """One run of the pure Rust binary, built (or brought up to date) first."""
    runs.build_ceiling()
    return lambda: ceiling_run(url, count, concurrency, mode)


def ceiling_run(url: str, count: int, concurrency: int, mode: str = "") -> dict[str, Any]:
    """`mode`: "post" (JSON POSTs), "keep" (every body kept to the end) or ""."""
    return runs.measured_process(
        [str(runs.CEILING), url, str(count), str(concurrency)] + ([mode] if mode else [])
    )


def ticker_beside_ceiling(url: str, count: int, concurrency: int) -> dict[str, Any]:
    """One run of the lag floor of this machine: a bare asyncio ticker in a
    process of its own while the pure Rust ceiling and nginx keep the CPUs
    busy."""
    with subprocess.Popen(
        [sys.executable, __file__, "--ticker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as ticker:
        assert ticker.stdin is not None
        assert ticker.stdout is not None
        ticker.stdout.readline()  # "ticking"
        rust = ceiling_run(url, count, concurrency)
        ticker.stdin.close()
        lags: dict[str, Any] = json.loads(ticker.stdout.read())
    return {**lags, "s": rust["s"]}


def bare_ticker() -> None:
    """Runs in the child: ticks every 1 ms until stdin closes, then prints
    the worst and p99 lag."""

    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        stop = loop.run_in_executor(None, sys.stdin.read)
        lags: list[tuple[float, float]] = []
        print("ticking", flush=True)
        await ticker(lags, lambda: not stop.done())
        return worst_and_p99(lag for lag, _ in lags)

    print(json.dumps(asyncio.run(main())))


def curl_run(url: str) -> dict[str, Any]:
    done = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"s": float(done.stdout)}


# --- the run ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client")
    parser.add_argument("--url")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--lag", action="store_true")
    parser.add_argument("--post", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ticker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--rounds", type=int, default=runs.ROUNDS, help="rounds per case")
    args = parser.parse_args()
    if args.ticker:
        bare_ticker()
        return
    if args.client:
        measured = run_client(
            args.client, args.url, args.count, args.concurrency, args.lag, args.post
        )
        print(json.dumps(measured))
        return

    runs.ROUNDS = max(1, args.rounds)
    raise_file_limit()
    requests = 2_000 if args.quick else 20_000
    slow_cap = 500 if args.quick else 2_000  # the slow peers: fewer requests, same req/s
    bodies = 100 if args.quick else 1_000
    with serving() as base:
        lines = run_all(base, requests, slow_cap, bodies)
    stamp = datetime.date.today().isoformat()
    header = [
        f"Measured {stamp} on {machine_line()}; nginx 1 worker on 127.0.0.1, 12-byte body "
        f"unless said; {requests:,} GETs per case (httpx, httpx2, niquests: {slow_cap:,}); "
        f"{runs.ROUNDS} rounds, "
        "each running every client once in a fresh process (the slow peers only in the first), "
        'the fastest run shown (lag: the run with the median worst lag); "medians": '
        "the ratio of the median runs. CPU µs/req: the process's CPU time, every thread, "
        "over the timed part of the median run, per request (steadier than wall time here).",
        "",
    ]
    runs.publish(header + lines, args.markdown)


def run_all(base: str, requests: int, slow_cap: int, bodies: int) -> list[str]:
    small = base + "/small"
    lines: list[str] = []
    for concurrency in (64, 1000):
        results = in_rounds(
            {
                CEILING_NAME: ceiling(small, requests, concurrency),
                **{
                    name: child(
                        name, small, slow_cap if runs.is_slow(name) else requests, concurrency
                    )
                    for name in WHOLE_BODY_CLIENTS
                },
            }
        )
        title = f"**{requests:,} GETs, concurrency {concurrency}**"
        lines += request_rate_rows(title, results, requests, slow_cap)

    api = base + "/api"
    results = in_rounds(
        {
            CEILING_NAME: ceiling(api, requests, 64, mode="post"),
            **{
                name: child(name, api, slow_cap if runs.is_slow(name) else requests, 64, post=True)
                for name in POST_CLIENTS
                if name != RATE_LIMITED
            },
        }
    )
    title = (
        f"**{requests:,} JSON POSTs of 1 KB (each item its own document), concurrency 64, "
        "nginx answering a small JSON document**"
    )
    lines += request_rate_rows(title, results, requests, slow_cap)

    body_url = base + "/1mb"
    body_clients = [name for name in WHOLE_BODY_CLIENTS if name in BODY_CLIENTS]
    results = in_rounds(
        {
            CEILING_NAME: ceiling(body_url, bodies, 64),
            KEPT_NAME: ceiling(body_url, bodies, 64, mode="keep"),
            **{
                name: child(
                    name, body_url, max(bodies // 10, 10) if runs.is_slow(name) else bodies, 64
                )
                for name in body_clients
            },
        }
    )
    rust_mbps = speed(results.pop(CEILING_NAME), 1e6)
    kept = results.pop(KEPT_NAME)
    kept_mbps = speed(kept, 1e6)
    lines += [
        f"**{bodies:,} bodies of 1 MB, concurrency 64** (× kept: beside pure Rust keeping "
        "every body until the end, as a `fetch_all` list does; the others drop each body "
        "once read)",
        "",
        "| client | MB/s | × pure Rust | × kept | peak RSS |",
        "|---|---|---|---|---|",
        f"| {CEILING_NAME} | {rust_mbps:,.0f} | 1.00 | {rust_mbps / kept_mbps:.2f} | |",
        f"| {KEPT_NAME} | {kept_mbps:,.0f} | {kept_mbps / rust_mbps:.2f} | 1.00 | "
        f"{kept['rss_mib']:.0f} MiB |",
    ]
    lines += throughput_rows(results, scale=1e6, shown=",.0f", reference=rust_mbps, kept=kept_mbps)
    lines.append("")

    big_url = base + "/100mb"
    results = in_rounds(
        {
            "curl": lambda: curl_run(big_url),
            "pure Rust": ceiling(big_url, 1, 1),
            **{name: child(name, big_url, 1, 1) for name in BODY_CLIENTS},
        }
    )
    curl_gbps = 100 * 1024 * 1024 / results.pop("curl")["s"] / 1e9
    rust_gbps = speed(results.pop("pure Rust"), 1e9)
    lines += [
        "**One 100 MB body, as `content` (fastio Client.stream: piece by piece)**",
        "",
        "| client | GB/s | × curl | peak RSS |",
        "|---|---|---|---|",
        f"| curl to /dev/null (ceiling) | {curl_gbps:.2f} | 1.00 | |",
        f"| pure Rust reqwest `bytes()` | {rust_gbps:.2f} | {rust_gbps / curl_gbps:.2f} | |",
    ]
    lines += throughput_rows(results, scale=1e9, shown=".2f", reference=curl_gbps)
    lines.append("")

    lines += [
        f"**Event-loop lag: a 1 ms asyncio ticker beside {requests:,} GETs at concurrency 1,000**",
        "",
        "| client | worst lag | p99 lag | worst, with the result list freed | req/s |",
        "|---|---|---|---|---|",
    ]
    floor = "no client in the ticker's process: the pure Rust ceiling runs beside it"
    results = in_rounds(
        {
            floor: lambda: ticker_beside_ceiling(small, requests, 1000),
            **{
                name: child(name, small, requests, 1000, with_lag=True)
                for name in (
                    "fastio fetch_all",
                    "fastio fetch_all" + IDLE_WORKERS,
                    "fastio fetch_iter",
                    "fastio Client.get from tasks",
                    "fastio Client.get from tasks" + IDLE_WORKERS,
                    "aiohttp",
                    "pyreqwest",
                    "wreq",
                )
            },
        },
        by_lag=True,
    )
    for name, measured in results.items():
        if "error" in measured:
            lines.append(f"| {name} | failed: {measured['error']} | | | |")
            continue
        # Only fetch_all holds every Response until the end; the others
        # free each one as they go, inside the first two columns.
        holds_all = name.startswith("fastio fetch_all")
        freed = f"{measured['lag_after_ms']:.1f} ms" if holds_all else "same"
        lines.append(
            f"| {name} | {measured['lag_worst_ms']:.1f} ms | {measured['lag_p99_ms']:.1f} ms | "
            f"{freed} | {rate(measured, requests):,.0f} |"
        )
    lines.append("")
    lines += rate_limit_rows(min(requests, 2_000))
    # Idle workers crawl there: fewer requests, the same req/s.
    lines += busy_machine_rows(small, slow_cap)
    return lines


def request_rate_rows(
    title: str, results: dict[str, dict[str, Any]], requests: int, slow_cap: int
) -> list[str]:
    """A request-rate table: each client beside the ceiling and pyreqwest."""
    rust = results.pop(CEILING_NAME)
    rust_rate = rate(rust, requests)
    rust_median_rate = requests / rust["median_s"]
    pyreqwest_rate = rate(results["pyreqwest"], requests)
    lines = [
        title,
        "",
        "| client | req/s | CPU µs/req | × pure Rust | × pure Rust, medians "
        "| × pure Rust CPU | × pyreqwest | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        f"| {CEILING_NAME} | {rust_rate:,.0f} | {cpu_per_request(rust, requests)} | 1.00 | "
        f"1.00 | 1.00 | {ratio(rust_rate, pyreqwest_rate)} | |",
    ]
    for name, measured in results.items():
        count = slow_cap if runs.is_slow(name) else requests
        if "error" in measured:
            lines.append(f"| {name} | failed: {measured['error']} | | | | | | |")
            continue
        req_rate = rate(measured, count)
        median_rate = count / measured["median_s"]
        lines.append(
            f"| {name} | {req_rate:,.0f} | {cpu_per_request(measured, count)} | "
            f"{req_rate / rust_rate:.2f} | {median_rate / rust_median_rate:.2f} | "
            f"{cpu_ratio(measured, count, rust, requests)} | "
            f"{ratio(req_rate, pyreqwest_rate)} | {measured['rss_mib']:.0f} MiB |"
        )
    lines.append("")
    return lines


def rate_limit_rows(requests: int) -> list[str]:
    """JSON POSTs to fastio's test server (its own process) on a route whose
    first answers are 429 + Retry-After, with fastio told the API's rate:
    the wall time beside the least the rate limit and the wait allow."""
    with runs.test_server() as base:
        results = in_rounds(
            {RATE_LIMITED: child(RATE_LIMITED, base + "/flaky", requests, 64, post=True)}
        )
    least = RETRY_AFTER + requests / RATE_LIMIT
    measured = results[RATE_LIMITED]
    lines = [
        f"**{requests:,} JSON POSTs at `rate_limit={RATE_LIMIT}`, concurrency 64, the first 64 "
        f"answered 429 with `Retry-After: {RETRY_AFTER}` (fastio's test server in its own "
        "process)**",
        "",
        "| client | every item 200 | wall time | least possible | × least, fastest | "
        "× least, median |",
        "|---|---|---|---|---|---|",
    ]
    if "error" in measured:
        return [*lines, f"| {RATE_LIMITED} | failed: {measured['error']} | | | | |", ""]
    return [
        *lines,
        f"| {RATE_LIMITED} | yes | {measured['s']:.2f} s | {least:.2f} s | "
        f"{measured['s'] / least:.2f} | {measured['median_s'] / least:.2f} |",
        "",
    ]


# Busy-looping processes, one per core, for the busy-machine case.
CPU_BOUND = "while True: pass"


def busy_machine_rows(url: str, requests: int) -> list[str]:
    """The price of idle workers: `requests` GETs at concurrency 64 while
    other processes keep every core busy."""
    cores = len(os.sched_getaffinity(0))
    busy = [subprocess.Popen([sys.executable, "-c", CPU_BOUND]) for _ in range(cores)]
    try:
        results = in_rounds(
            {
                name: child(name, url, requests, 64)
                for name in ("fastio fetch_all", "fastio fetch_all" + IDLE_WORKERS, "pyreqwest")
            }
        )
    finally:
        for process in busy:
            process.kill()
            process.wait()
    lines = [
        f"**{requests:,} GETs, concurrency 64, beside {cores} CPU-bound processes (one per core)**",
        "",
        "| client | req/s | × pyreqwest |",
        "|---|---|---|",
    ]
    pyreqwest_rate = rate(results["pyreqwest"], requests)
    for name, measured in results.items():
        if "error" in measured:
            lines.append(f"| {name} | failed: {measured['error']} | |")
            continue
        req_rate = rate(measured, requests)
        lines.append(f"| {name} | {req_rate:,.0f} | {ratio(req_rate, pyreqwest_rate)} |")
    return lines


CEILING_NAME = "pure Rust reqwest (ceiling)"
KEPT_NAME = "pure Rust reqwest, bodies kept"


def throughput_rows(
    results: dict[str, dict[str, Any]],
    *,
    scale: float,
    shown: str,
    reference: float,
    kept: float | None = None,
) -> list[str]:
    """A table row per client: body bytes per second divided by `scale`
    (formatted with `shown`), its ratio to `reference` (and to `kept`, when
    given), and peak RSS."""
    rows: list[str] = []
    for name, measured in results.items():
        extra = "" if kept is None else " |"
        if "error" in measured:
            rows.append(f"| {name} | failed: {measured['error']} | |{extra} |")
            continue
        value = speed(measured, scale)
        versus_kept = "" if kept is None else f" {value / kept:.2f} |"
        rows.append(
            f"| {name} | {value:{shown}} | {value / reference:.2f} |{versus_kept} "
            f"{measured['rss_mib']:.0f} MiB |"
        )
    return rows


def speed(measured: dict[str, Any], scale: float) -> float:
    """Body bytes per second, divided by `scale`."""
    if "error" in measured:
        return float("nan")
    return float(measured["bytes"]) / float(measured["s"]) / scale


if __name__ == "__main__":
    main()
