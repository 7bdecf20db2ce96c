"""A crawl over many names: what name resolution costs fastio and its peers.

10,000 GETs of nginx's 12-byte body over 2,000 host names (``h0.test`` to
``h1999.test``, request ``i`` to name ``i % 2000``) at concurrency 200,
each name answered by fastio's DNS server (fastio.testing) after 20 ms,
TTL 300 s. Clients, each in a fresh process, in rounds: fastio's
``fetch_all`` on its own resolver (the system's configuration), the same
crawl with every name given in ``resolve=`` (no DNS at all: the baseline),
pure Rust reqwest on its default resolver (the C library's), and aiohttp
(its default resolver and DNS cache). Reported: wall time (median), its
ratio to the baseline, and the DNS queries each run sent.

The system's resolver must ask fastio's DNS server and nothing else, so the
whole run happens in a network and mount namespace of its own
(``unshare -rnm``): loopback only, the DNS server on 127.0.0.1:53, and a
``/etc/resolv.conf`` naming it bound over the real one.

    python bench/dns.py [--quick] [--markdown FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import machine
import runs
from nginx import serving

sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

import argparse
import asyncio
import datetime
import json
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any

NAMES = 2_000
COUNT = 10_000
CONCURRENCY = 200
LATENCY = 0.02
INSIDE = "FASTIO_DNS_BENCH_INSIDE"

FASTIO = "fastio fetch_all, fastio's resolver"
PINNED = "fastio fetch_all, every name in resolve= (no DNS)"
REQWEST = "pure Rust reqwest, its default resolver"
AIOHTTP = "aiohttp, its default resolver and DNS cache"
CLIENTS = [FASTIO, PINNED, REQWEST, AIOHTTP]


def urls(port: int, count: int) -> list[str]:
    return [f"http://h{index % NAMES}.test:{port}/small" for index in range(count)]


async def fetch_fastio(port: int, count: int, pinned: bool) -> int:
    import fastio

    if pinned:
        resolve = {f"h{index}.test": "127.0.0.1" for index in range(NAMES)}
        async with fastio.Client(resolve=resolve, max_connections=None) as client:
            results = await client.fetch_all(urls(port, count), concurrency=CONCURRENCY)
    else:
        async with fastio.Client(max_connections=None) as client:
            results = await client.fetch_all(urls(port, count), concurrency=CONCURRENCY)
    return sum(len(response.content) for response in results)


async def fetch_aiohttp(port: int, count: int) -> int:
    import aiohttp

    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> int:
            async with semaphore, session.get(url) as response:
                return len(await response.read())

        sizes = await asyncio.gather(*(one(url) for url in urls(port, count)))
    return sum(sizes)


def child(name: str, port: int, count: int) -> dict[str, Any]:
    """One client's run, in this (fresh) process."""
    runs.raise_file_limit()
    started = time.perf_counter()
    if name == AIOHTTP:
        total = asyncio.run(fetch_aiohttp(port, count))
    else:
        total = asyncio.run(fetch_fastio(port, count, pinned=name == PINNED))
    return {"s": time.perf_counter() - started, "bytes": total}


def run_once(name: str, port: int, count: int) -> dict[str, Any]:
    if name == REQWEST:
        return runs.measured_process(
            [
                str(runs.CEILING),
                f"http://NAME:{port}/small",
                str(count),
                str(CONCURRENCY),
                f"names={NAMES}",
            ]
        )
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--port",
        str(port),
        "--count",
        str(count),
    ]
    return runs.measured_process(command)


def inside(args: argparse.Namespace) -> None:
    """The measurement, in the namespace where 127.0.0.1:53 is the DNS server."""
    import fastio.testing

    count = COUNT // 5 if args.quick else COUNT
    rounds = 2 if args.quick else 3
    measured: dict[str, list[tuple[float, int, float]]] = {name: [] for name in CLIENTS}
    with serving() as base, fastio.testing.serve_dns(latency=LATENCY, ttl=300, port=53) as dns:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(rounds):
            for name in CLIENTS:
                before = dns.queries
                result = run_once(name, port, count)
                if result.get("bytes") != count * 12:
                    raise SystemExit(f"{name}: {result}")
                measured[name].append((result["s"], dns.queries - before, result["cpu_s"]))
    print(json.dumps({"count": count, "measured": measured}))


def table(count: int, measured: dict[str, list[list[float]]]) -> str:
    medians = {name: statistics.median(run[0] for run in runs_) for name, runs_ in measured.items()}
    baseline = medians[PINNED]
    lines = [
        f"Measured {datetime.date.today()} on {machine.machine_line()}; nginx 1 worker on "
        f"127.0.0.1; {count:,} GETs of a 12-byte body over {NAMES:,} host names at "
        f"concurrency {CONCURRENCY}; every DNS answer after {LATENCY * 1000:.0f} ms, TTL 300 s "
        f"(fastio's DNS server, the only one the system's resolver can ask, in a network "
        f"namespace of the run's own); {len(next(iter(measured.values())))} rounds of fresh "
        "processes, medians.",
        "",
        "CPU s: the client process's, every thread, its start-up included.",
        "",
        "| client | wall s | × every name in resolve= | CPU s | DNS queries per run |",
        "|---|---|---|---|---|",
    ]
    for name, runs_ in measured.items():
        queries = statistics.median(run[1] for run in runs_)
        cpu = statistics.median(run[2] for run in runs_)
        lines.append(
            f"| {name} | {medians[name]:.2f} | {medians[name] / baseline:.2f} | {cpu:.2f} "
            f"| {queries:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = runs.child_arguments(__doc__.split("\n\n")[0])
    if args.child:
        print(json.dumps(child(args.child, args.port, args.count)))
        return
    if os.environ.get(INSIDE):
        inside(args)
        return
    probe = subprocess.run(["unshare", "-rnm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        # Without its own namespace the system's resolver would ask the
        # machine's DNS servers for made-up names: not run at all.
        raise SystemExit("bench/dns.py needs `unshare -rnm` (user, network and mount namespaces)")
    runs.build_ceiling()
    with tempfile.TemporaryDirectory() as folder:
        resolv = Path(folder) / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
        script = f'ip link set lo up && mount --bind {resolv} /etc/resolv.conf && exec "$@"'
        command = [sys.executable, __file__, *sys.argv[1:]]
        done = subprocess.run(
            ["unshare", "-rnm", "sh", "-c", script, "sh", *command],
            env={**os.environ, INSIDE: "1"},
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    text = table(result["count"], result["measured"])
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
