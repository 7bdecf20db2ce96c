"""Benchmarks of fastio's asyncio primitives against asyncio, uvloop, the
naive pyo3-async-runtimes bridge and a C eventfd ping-pong, in one run.

Every case runs in its own process so memory peaks and warm caches do not
leak between them. Run with ``make bench`` (which builds fastio with the
``dist`` profile and the ``bench-baseline`` feature) or directly:

    python bench/primitives.py [--quick] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import runs
from machine import machine_line

HERE = Path(__file__).resolve().parent
PINGPONG_SOURCE = HERE / "pingpong.c"
PINGPONG_BINARY = HERE / "pingpong"


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_on(kind: str, main: Callable[[], Awaitable[Any]]) -> Any:
    async def wrapper() -> Any:
        return await main()

    with asyncio.Runner(loop_factory=lambda: new_loop(kind)) as runner:
        return runner.run(wrapper())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- cases: each returns a dict of measurements -------------------------------


def sequential_round_trip(make: Callable[[], Awaitable[Any]], rounds: int) -> dict[str, float]:
    """Mean µs per `await make()`, the best of five runs of `rounds` awaits."""

    async def main() -> float:
        for _ in range(min(rounds, 1000)):
            await make()
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(rounds):
                await make()
            best = min(best, (time.perf_counter() - started) / rounds * 1e6)
        return best

    return {"us": run_on(LOOP_KIND, main)}


def case_asyncio_sleep0(rounds: int) -> dict[str, float]:
    return sequential_round_trip(lambda: asyncio.sleep(0), rounds)


def case_fastio_completed(rounds: int) -> dict[str, float]:
    from fastio import _fastio

    return sequential_round_trip(lambda: _fastio._completed(None), rounds)


def case_fastio_worker(rounds: int) -> dict[str, float]:
    from fastio import _fastio

    return sequential_round_trip(lambda: _fastio._on_worker(None), rounds)


def case_naive_worker(rounds: int) -> dict[str, float]:
    from fastio import _fastio

    naive = getattr(_fastio, "_naive_on_worker", None)
    if naive is None:
        raise SystemExit("fastio was built without the bench-baseline feature")
    return sequential_round_trip(lambda: naive(None), rounds)


def case_pingpong(rounds: int) -> dict[str, float]:
    output = subprocess.run(
        [str(PINGPONG_BINARY), str(rounds)], capture_output=True, text=True, check=True
    )
    return {"us": float(output.stdout)}


def many_sleeps(
    make: Callable[[float], Awaitable[Any]],
    count: int,
    gather: Callable[..., Awaitable[Any]] = asyncio.gather,
) -> dict[str, float]:
    """Wall time and peak RSS of `count` concurrent sleeps of 10 ms, created
    by the caller and awaited through `gather`; creation included."""

    async def main() -> float:
        started = time.perf_counter()
        await gather(*[make(0.01) for _ in range(count)])
        return time.perf_counter() - started

    seconds = run_on(LOOP_KIND, main)
    return {"s": seconds, "rss_mib": peak_rss_mib()}


def case_gather_asyncio_sleep(count: int) -> dict[str, float]:
    return many_sleeps(asyncio.sleep, count)


def case_gather_fastio_sleep(count: int) -> dict[str, float]:
    import fastio

    return many_sleeps(fastio.sleep, count)


def case_fastio_gather_fastio_sleep(count: int) -> dict[str, float]:
    import fastio

    return many_sleeps(fastio.sleep, count, fastio.gather)


def completion_cost(fastio_awaitables: bool, count: int) -> dict[str, float]:
    """Loop-thread cost per completion, done callback included: `count`
    awaitables finish while the loop thread is held up, then the loop works
    through them all. The reference resolves as many asyncio futures."""
    import fastio

    async def main() -> float:
        loop = asyncio.get_running_loop()
        finished = 0

        def on_done(_: object) -> None:
            nonlocal finished
            finished += 1

        if fastio_awaitables:
            futures: list[Any] = [fastio.sleep(0.02) for _ in range(count)]
            for future in futures:
                future.add_done_callback(on_done)
            # Blocks the loop on purpose: everything completes meanwhile.
            time.sleep(0.5)  # noqa: ASYNC251
        else:
            futures = [loop.create_future() for _ in range(count)]
            for future in futures:
                future.add_done_callback(on_done)
        started = time.perf_counter()
        if not fastio_awaitables:
            for future in futures:
                future.set_result(None)
        while finished < count:  # noqa: ASYNC110 - counts loop iterations on purpose
            await asyncio.sleep(0)
        return (time.perf_counter() - started) / count * 1e6

    return {"us": run_on(LOOP_KIND, main)}


def case_drain_cost_fastio(count: int) -> dict[str, float]:
    """Loop-thread cost of the drain alone: `count` awaitables with no done
    callbacks finish while the loop is held up; one sentinel that finishes
    after them all (its timer is longer) tells when the drain is through."""
    import fastio

    async def main() -> float:
        loop = asyncio.get_running_loop()
        sentinel_done = loop.create_future()
        futures = [fastio.sleep(0.02) for _ in range(count)]
        for future in futures:
            # One coroutine step starts it, with no done callback.
            assert future.send(None) is future
        sentinel = fastio.sleep(0.2)
        sentinel.add_done_callback(lambda _: sentinel_done.set_result(None))
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
        started = time.perf_counter()
        await sentinel_done
        elapsed = time.perf_counter() - started
        assert all(future.done() for future in futures)
        return elapsed / count * 1e6

    return {"us": run_on(LOOP_KIND, main)}


def case_completion_cost_fastio(count: int) -> dict[str, float]:
    return completion_cost(True, count)


def case_completion_cost_asyncio_future(count: int) -> dict[str, float]:
    return completion_cost(False, count)


CASES: dict[str, Callable[[int], dict[str, float]]] = {
    name.removeprefix("case_"): function
    for name, function in globals().items()
    if name.startswith("case_")
}
LOOP_KIND = "asyncio"


def run_case(name: str, size: int, loop: str) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--case", name, "--size", str(size), "--loop", loop],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"case {name} on {loop} failed:\n{completed.stderr}")
    result: dict[str, float] = json.loads(completed.stdout)
    return result


def build_pingpong() -> bool:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not PINGPONG_SOURCE.exists():
        return False
    subprocess.run(
        [compiler, "-O2", "-pthread", "-o", str(PINGPONG_BINARY), str(PINGPONG_SOURCE)],
        check=True,
    )
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    if args.case:
        global LOOP_KIND
        LOOP_KIND = args.loop
        print(json.dumps(CASES[args.case](args.size)))
        return

    rounds = 2_000 if args.quick else 20_000
    many = 10_000 if args.quick else 100_000
    have_floor = build_pingpong()

    def us(name: str, loop: str = "asyncio", size: int = rounds) -> float:
        return run_case(name, size, loop)["us"]

    rows: list[tuple[str, str, str]] = []
    sleep0 = us("asyncio_sleep0")
    sleep0_uv = us("asyncio_sleep0", "uvloop")
    completed = us("fastio_completed")
    worker = us("fastio_worker")
    worker_uv = us("fastio_worker", "uvloop")
    naive_failure = ""
    try:
        naive: float | None = us("naive_worker")
    except RuntimeError as failure:
        naive = None
        naive_failure = str(failure).strip().splitlines()[-1]
    floor = us("pingpong", size=rounds * 2) if have_floor else None

    rows.append(("`await asyncio.sleep(0)`, asyncio loop", f"{sleep0:.2f} µs", "reference"))
    rows.append(("`await asyncio.sleep(0)`, uvloop", f"{sleep0_uv:.2f} µs", "reference"))
    rows.append(
        (
            "already-complete fastio awaitable",
            f"{completed:.2f} µs",
            f"{completed / sleep0:.2f}× asyncio.sleep(0) (target ≤ 1.5×)",
        )
    )
    floor_note = f"{worker / floor:.2f}× floor (target ≤ 2×)" if floor else "no C compiler"
    rows.append(("fastio awaitable finished on a tokio worker", f"{worker:.2f} µs", floor_note))
    rows.append(
        (
            "the same, uvloop",
            f"{worker_uv:.2f} µs",
            f"{worker_uv / floor:.2f}× floor" if floor else "",
        )
    )
    if naive is None:
        rows.append(("naive `future_into_py` (pyo3-async-runtimes)", "failed", naive_failure))
    else:
        rows.append(
            (
                "naive `future_into_py` (pyo3-async-runtimes)",
                f"{naive:.2f} µs",
                f"fastio is {naive / worker:.1f}× faster",
            )
        )
    if floor is not None:
        rows.append(("C eventfd ping-pong between two threads (floor)", f"{floor:.2f} µs", "floor"))

    asyncio_many = run_case("gather_asyncio_sleep", many, "asyncio")
    asyncio_many_uv = run_case("gather_asyncio_sleep", many, "uvloop")
    fastio_many = run_case("gather_fastio_sleep", many, "asyncio")
    joined_many = run_case("fastio_gather_fastio_sleep", many, "asyncio")
    label = f"{many // 1000}k"

    def versus_asyncio(measured: dict[str, float], target: str) -> str:
        return (
            f"{asyncio_many['s'] / measured['s']:.1f}× faster, "
            f"{measured['rss_mib'] / asyncio_many['rss_mib']:.2f}× the memory ({target})"
        )

    def seconds_and_memory(measured: dict[str, float]) -> str:
        return f"{measured['s']:.3f} s, {measured['rss_mib']:.0f} MiB"

    rows.append(
        (
            f"{label} × `asyncio.sleep(0.01)` via `asyncio.gather`",
            seconds_and_memory(asyncio_many),
            "reference",
        )
    )
    rows.append(
        (
            f"{label} × `asyncio.sleep(0.01)` via `asyncio.gather`, uvloop",
            seconds_and_memory(asyncio_many_uv),
            versus_asyncio(asyncio_many_uv, "peer"),
        )
    )
    rows.append(
        (
            f"{label} × `fastio.sleep(0.01)` via `asyncio.gather`",
            seconds_and_memory(fastio_many),
            versus_asyncio(fastio_many, "a task each, as for any coroutine: docs/primitives.md"),
        )
    )
    rows.append(
        (
            f"{label} × `fastio.sleep(0.01)` via `fastio.gather`",
            seconds_and_memory(joined_many),
            versus_asyncio(joined_many, "target ≥ 15×, < 0.5× memory"),
        )
    )
    cost = run_case("completion_cost_fastio", many, "asyncio")["us"]
    reference_cost = run_case("completion_cost_asyncio_future", many, "asyncio")["us"]
    drain = run_case("drain_cost_fastio", many, "asyncio")["us"]
    rows.append(
        (
            "loop-thread cost per completion: fastio drain alone (no callbacks)",
            f"{drain:.2f} µs",
            "target ≤ 1 µs",
        )
    )
    rows.append(
        (
            "loop-thread cost per completion: `asyncio.Future.set_result` + callback",
            f"{reference_cost:.2f} µs",
            "reference",
        )
    )
    rows.append(
        (
            "loop-thread cost per completion: fastio batched drain + callback",
            f"{cost:.2f} µs",
            f"{cost / reference_cost:.2f}× asyncio's own futures",
        )
    )

    stamp = datetime.date.today().isoformat()
    sizes = "quick sizes" if args.quick else f"{rounds} sequential awaits, {many} concurrent sleeps"
    lines = [
        f"Measured {stamp} on {machine_line()}; fastio {fastio_version()}, {sizes}.",
        "",
        "| case | result | ratio |",
        "|---|---|---|",
        *(f"| {name} | {result} | {ratio} |" for name, result, ratio in rows),
    ]
    runs.publish(lines, args.markdown)


def fastio_version() -> str:
    import fastio

    return fastio.__version__


if __name__ == "__main__":
    main()
