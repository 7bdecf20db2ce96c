"""per_host="auto" against fixed per-host limits, on hosts of unknown capacity.

fastio's test server (its own process) stands in for 50 hosts (``h0.test``
to ``h49.test``, mapped to 127.0.0.1 by ``resolve=``), host ``i`` serving
at most K_i requests at once (K from 2 to 32, spread evenly), each after
5 ms, and answering 503 at once to any beyond. Each case, in a fresh
process, fetches 100 URLs per host (5,000, grouped by host) with ``fetch_all``
at concurrency 500: per_host="auto", and fixed per_host limits of 2 to 64.
Beside them, an oracle no crawler has: each host limited to its own K
(every host's requests fetched at concurrency K_i, hosts started in list
order while their K fit in the 500). Reported: good answers (200) per
second, the share of 503s, and each case's good answers per second
against the oracle's and the best fixed limit's.

    python bench/adaptive.py [--quick] [--markdown FILE]
"""

from __future__ import annotations

import asyncio
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import machine
import runs

HOSTS = 50
PER_HOST = 100
CONCURRENCY = 500
DELAY = 0.005
FIXED = [2, 4, 8, 16, 32, 64]
ORACLE = "each host's own K"


def capacity(host: int) -> int:
    return 2 + (30 * host) // (HOSTS - 1)


def urls(port: int, per_host: int) -> list[str]:
    return [
        f"http://h{host}.test:{port}/limited/{capacity(host)}?delay={DELAY}"
        for host in range(HOSTS)
        for _ in range(per_host)
    ]


async def crawl(port: int, per_host: int | str, count: int) -> dict[str, Any]:
    import fastio

    resolve = {f"h{host}.test": "127.0.0.1" for host in range(HOSTS)}
    async with fastio.Client(
        per_host=per_host,  # type: ignore[arg-type]
        resolve=resolve,
        max_connections=None,
    ) as client:
        started = time.perf_counter()
        results = await client.fetch_all(urls(port, count), concurrency=CONCURRENCY)
        seconds = time.perf_counter() - started
    good = sum(response.status == 200 for response in results)
    refused = sum(response.status == 503 for response in results)
    return {"s": seconds, "good": good, "refused": refused, "total": len(results)}


async def crawl_knowing_each_k(port: int, count: int) -> dict[str, Any]:
    """The oracle: each host's requests at its own K, within the 500 slots."""
    import fastio

    resolve = {f"h{host}.test": "127.0.0.1" for host in range(HOSTS)}
    slots = asyncio.Semaphore(CONCURRENCY)
    turn = asyncio.Lock()
    all_urls = urls(port, count)
    async with fastio.Client(resolve=resolve, max_connections=None) as client:

        async def one_host(host: int) -> list[fastio.Response]:
            capacity_ = capacity(host)
            async with turn:  # hosts take their slots in list order
                for _ in range(capacity_):
                    await slots.acquire()
            try:
                mine = all_urls[host * count : (host + 1) * count]
                return await client.fetch_all(mine, concurrency=capacity_)
            finally:
                for _ in range(capacity_):
                    slots.release()

        started = time.perf_counter()
        per_host = await asyncio.gather(*(one_host(host) for host in range(HOSTS)))
        seconds = time.perf_counter() - started
    results = [response for responses in per_host for response in responses]
    good = sum(response.status == 200 for response in results)
    refused = sum(response.status == 503 for response in results)
    return {"s": seconds, "good": good, "refused": refused, "total": len(results)}


def child(port: int, per_host: str, count: int) -> None:
    runs.raise_file_limit()
    if per_host == ORACLE:
        print(json.dumps(asyncio.run(crawl_knowing_each_k(port, count))))
        return
    limit: int | str = per_host if per_host == "auto" else int(per_host)
    print(json.dumps(asyncio.run(crawl(port, limit, count))))


def main() -> None:
    args = runs.child_arguments(__doc__.split("\n\n")[0])
    if args.child:
        child(args.port, args.child, args.count)
        return
    count = PER_HOST // 4 if args.quick else PER_HOST
    rounds = 1 if args.quick else 3
    cases = ["auto", ORACLE, *map(str, FIXED)]
    server = subprocess.Popen(
        [sys.executable, "-m", "fastio.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        measured: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
        for _ in range(rounds):
            for case in cases:
                command = [sys.executable, __file__, "--child", case, "--port", str(port)]
                measured[case].append(runs.child_run([*command, "--count", str(count)]))
    finally:
        server.terminate()
        server.wait()
    text = table(count, rounds, measured)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


def table(count: int, rounds: int, measured: dict[str, list[dict[str, Any]]]) -> str:
    def goodput(runs_: list[dict[str, Any]]) -> float:
        return float(statistics.median(run["good"] / run["s"] for run in runs_))

    def refused(runs_: list[dict[str, Any]]) -> float:
        return float(statistics.median(run["refused"] / run["total"] for run in runs_))

    best_fixed = max(goodput(measured[str(limit)]) for limit in FIXED)
    oracle = goodput(measured[ORACLE])
    # The fairer peer: the best fixed limit that refuses no more than auto.
    auto_refused = refused(measured["auto"])
    as_careful = [
        goodput(measured[str(limit)])
        for limit in FIXED
        if refused(measured[str(limit)]) <= auto_refused
    ]
    lines = [
        f"Measured {datetime.date.today()} on {machine.machine_line()}; fastio's test server "
        f"(its own process) as {HOSTS} hosts, host i serving at most K_i = 2..32 requests at "
        f"once, each after {DELAY * 1000:.0f} ms, 503 beyond; {count * HOSTS:,} GETs "
        f"({count} per host, grouped by host as a site's crawl list is) with fetch_all "
        f"at concurrency {CONCURRENCY}; "
        f"{rounds} round(s) of fresh processes, medians.",
        "",
        f'"{ORACLE}": an oracle, not a fastio setting: each host limited to its own K. '
        "The last column: against the best fixed limit that got no more 503s than "
        '"auto" (n/a: none did).',
        "",
        "| per_host | good answers/s | 503s | × each host's own K | × the best fixed limit "
        "| × the best fixed limit as careful |",
        "|---|---|---|---|---|---|",
    ]
    for case, runs_ in measured.items():
        shown = '"auto"' if case == "auto" else case
        careful = f"{goodput(runs_) / max(as_careful):.2f}" if as_careful else "n/a"
        lines.append(
            f"| {shown} | {goodput(runs_):,.0f} | {refused(runs_):.1%} "
            f"| {goodput(runs_) / oracle:.2f} | {goodput(runs_) / best_fixed:.2f} | {careful} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
