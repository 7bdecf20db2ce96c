"""The per-request shape against asyncio's own floor.

Each row awaits one thing many times from asyncio tasks, in two shapes: 64
long-lived worker tasks awaiting in a loop (how the HTTP benchmarks call
``Client.get``), and a task per await, 64 at a time (``asyncio.gather`` of
coroutines, as code that makes a task per request does). The floor is
``asyncio.sleep(0)``: the cheapest suspension asyncio has, one task step
and one loop turn, with no work at all. Beside it: a fastio awaitable whose
work runs on a tokio worker and comes back (the bridge alone), and
``fastio.Client.get`` against nginx (the whole request). Measured as CPU
time of the loop thread per await (``time.thread_time``: what the event
loop itself spends) and of the whole process, on asyncio's loop, on uvloop
and on the newest CPython here (3.12+) without and with
``asyncio.eager_task_factory``; each case in a fresh process, the median of
the rounds.

    python bench/floor.py [--quick] [--markdown FILE] [--eager-python PATH]

``--eager-python``: a CPython 3.12+ with fastio installed, for the eager
column when this interpreter is older (``make bench`` makes one).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nginx
from machine import machine_line

CONCURRENCY = 64
AWAITED = [
    "asyncio.sleep(0)",
    "an asyncio future the loop resolves",
    "fastio round trip to a tokio worker",
    "fastio Client.get",
    "wreq Client.get",
    "fastio fetch_all, no task per request",
]
FLOOR, RESOLVED, ROUND_TRIP, CLIENT_GET, WREQ, ENGINE = AWAITED
SHAPES = ["64 worker tasks", "a task per await"]
LOOPS = ["asyncio", "uvloop", "asyncio, newer CPython", "the same, eager tasks"]


def runs_in(awaited: str, shape: str, loop: str) -> bool:
    """The engine has no per-await shape; wreq is installed for this interpreter only."""
    if awaited == ENGINE:
        return shape == SHAPES[0]
    return awaited != WREQ or loop in LOOPS[:2]


async def resolved_by_the_loop() -> None:
    """A result delivered on the loop's next turn: asyncio's own cost of awaiting one."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_soon(future.set_result, None)
    await future


async def in_workers(count: int, one: Callable[[], Awaitable[Any]]) -> None:
    """`CONCURRENCY` tasks sharing `count` awaits."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def all_at_once(count: int, one: Callable[[], Awaitable[Any]]) -> None:
    """`count` awaits as one: `one` is `fetch_all` of that many URLs."""
    await one()


async def task_per_await(count: int, one: Callable[[], Awaitable[Any]]) -> None:
    """A task per await, `CONCURRENCY` at a time."""

    async def single() -> None:
        await one()

    for _ in range(count // CONCURRENCY):
        await asyncio.gather(*(single() for _ in range(CONCURRENCY)))


def measure(awaited: str, shape: str, loop: str, count: int, url: str) -> dict[str, float]:
    """Runs in the child: CPU µs per await, of the loop thread and the process."""
    if loop == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    run = in_workers if shape == SHAPES[0] else task_per_await
    if awaited == ENGINE:
        run = all_at_once

    async def main() -> dict[str, float]:
        if loop == LOOPS[3]:
            asyncio.get_running_loop().set_task_factory(
                asyncio.eager_task_factory  # type: ignore[attr-defined,unused-ignore]
            )
        import fastio
        from fastio import _fastio

        async with fastio.Client(max_connections=CONCURRENCY) as client:

            async def get() -> int:
                return len((await client.get(url)).content)

            if awaited == WREQ:
                import wreq

                peer = wreq.Client()

                async def get_wreq() -> int:
                    response = await peer.get(url)
                    return len(await response.bytes())

            batch: list[str] = []

            async def fetch_batch() -> int:
                done = await client.fetch_all(batch, concurrency=CONCURRENCY)
                return len(done)

            one: Callable[[], Awaitable[Any]] = {
                FLOOR: lambda: asyncio.sleep(0),
                RESOLVED: resolved_by_the_loop,
                ROUND_TRIP: lambda: _fastio._on_worker(None),
                CLIENT_GET: get,
                WREQ: lambda: get_wreq(),
                ENGINE: fetch_batch,
            }[awaited]
            batch[:] = [url] * min(count, 1000)
            await run(min(count, 1000), one)  # warm up
            batch[:] = [url] * count
            thread_started = time.thread_time()
            process_started = time.process_time()
            await run(count, one)
            return {
                "loop_us": (time.thread_time() - thread_started) / count * 1e6,
                "process_us": (time.process_time() - process_started) / count * 1e6,
            }

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def child(python: str, awaited: str, shape: str, loop: str, count: int, url: str) -> dict[str, Any]:
    command = [python, __file__, "--child", json.dumps([awaited, shape, loop, count, url])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{awaited} / {shape} / {loop} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def eager_python(given: str | None) -> str | None:
    """The interpreter for the eager column, if any here can run it."""
    if sys.version_info >= (3, 12):
        return sys.executable
    if given is None:
        return None
    version = subprocess.run(
        [given, "-c", "import sys, fastio; print(sys.version_info >= (3, 12))"],
        capture_output=True,
        text=True,
    )
    return given if version.stdout.strip() == "True" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--eager-python")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        awaited, shape, loop, count, url = json.loads(args.child)
        print(json.dumps(measure(awaited, shape, loop, count, url)))
        return
    count = 2_000 if args.quick else 20_000
    rounds = 1 if args.quick else args.rounds
    eager = eager_python(args.eager_python)
    pythons = {LOOPS[0]: sys.executable, LOOPS[1]: sys.executable, LOOPS[2]: eager, LOOPS[3]: eager}
    measured: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    with nginx.serving() as base:
        url = base + "/small"
        for _ in range(rounds):
            for awaited in AWAITED:
                for shape in SHAPES:
                    for loop, python in pythons.items():
                        if python is None or not runs_in(awaited, shape, loop):
                            continue
                        key = (awaited, shape, loop)
                        run = child(python, awaited, shape, loop, count, url)
                        measured.setdefault(key, []).append(run)
    lines = table(measured, count, pythons)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(text + "\n")


def table(
    measured: dict[tuple[str, str, str], list[dict[str, float]]],
    count: int,
    pythons: dict[str, str | None],
) -> list[str]:
    def median(key: tuple[str, str, str], field: str) -> float | None:
        runs = measured.get(key)
        return statistics.median(run[field] for run in runs) if runs else None

    def version(python: str | None) -> str:
        if python is None:
            return "no CPython 3.12+ here"
        return subprocess.run(
            [python, "-c", "import platform; print('CPython ' + platform.python_version())"],
            capture_output=True,
            text=True,
        ).stdout.strip()

    lines = [
        f"Measured {datetime.date.today()} on {machine_line()}; nginx (1 worker) on 127.0.0.1 "
        f"for Client.get; {count:,} awaits per case, {CONCURRENCY} at a time; the median of the "
        "rounds, each case in a fresh process. The last two columns: "
        f"{version(pythons[LOOPS[2]])}, without and with `asyncio.eager_task_factory`.",
        "",
    ]
    for field, title in (
        (
            "loop_us",
            "CPU µs of the loop thread per await (× the floor: `asyncio.sleep(0)`, "
            "same shape and loop)",
        ),
        ("process_us", "CPU µs of the whole process per await (every thread)"),
    ):
        lines += [f"**{title}**", "", "| awaited | shape | " + " | ".join(LOOPS) + " |"]
        lines.append("|---|---|" + "---|" * len(LOOPS))
        for awaited in AWAITED:
            for shape in SHAPES:
                if not any(median((awaited, shape, loop), field) for loop in LOOPS):
                    continue  # a shape this row does not run in
                cells = []
                for loop in LOOPS:
                    value = median((awaited, shape, loop), field)
                    floor = median((AWAITED[0], shape, loop), field)
                    if value is None:
                        cells.append("n/a")
                    elif field == "loop_us" and floor and awaited != AWAITED[0]:
                        cells.append(f"{value:.2f} ({value / floor:.1f}×)")
                    else:
                        cells.append(f"{value:.2f}")
                lines.append(f"| {awaited} | {shape} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines + split(median)


def split(median: Callable[[tuple[str, str, str], str], float | None]) -> list[str]:
    """`Client.get` from worker tasks as the engine's CPU, asyncio's own and fastio's per call."""
    lines = [
        "**Where `Client.get`'s CPU goes, 64 worker tasks (µs of the whole process per request)**",
        "",
        "The engine: `fetch_all` of the same GETs, no task per request. asyncio's own: awaiting "
        "a future the loop resolves, the least any awaitable that delivers a result later costs. "
        "fastio per call: the rest. The last column is the most `Client.get` could lead wreq by "
        "if fastio's per-call cost were nothing.",
        "",
        "| loop | engine | asyncio's own | fastio per call | Client.get | wreq Client.get "
        "| loop thread: Client.get / wreq | wreq ÷ (engine + asyncio's own) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    shape = SHAPES[0]
    for loop in LOOPS[:2]:
        process = {
            awaited: median((awaited, shape, loop), "process_us")
            for awaited in (ENGINE, RESOLVED, CLIENT_GET, WREQ)
        }
        get_loop = median((CLIENT_GET, shape, loop), "loop_us")
        peer_loop = median((WREQ, shape, loop), "loop_us")
        engine, own, get, peer = (process[a] for a in (ENGINE, RESOLVED, CLIENT_GET, WREQ))
        if not (engine and own and get and peer and get_loop and peer_loop):
            continue
        lines.append(
            f"| {loop} | {engine:.2f} | {own:.2f} | {get - engine - own:.2f} | {get:.2f} "
            f"| {peer:.2f} | {get_loop / peer_loop:.2f} | {peer / (engine + own):.2f} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
