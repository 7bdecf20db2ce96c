"""Reliability II: cancellation of every kind of fastio work drops the Rust
work and the connections; wait_for and asyncio.timeout behave as with
asyncio's own awaitables; interpreter exit, Ctrl-C, fork and loops in
threads; and a short soak in which nothing grows. Each on asyncio and
uvloop."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from conftest import LOOP_FACTORIES
from helpers import cancel_and_time, open_connections_settle, open_fds, run_script

import fastio
from fastio._fastio import Server
from fastio.testing import live_counts

Run = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


async def live_counts_settle(baseline: tuple[int, int], within: float = 5) -> tuple[int, int]:
    """Waits until fastio's live counts are back to ``baseline`` (cancelled
    work is dropped on a tokio thread, just after the cancel)."""
    deadline = time.monotonic() + within
    while True:
        gc.collect()
        counts = live_counts()
        if counts <= baseline or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.02)


def slow_work(server: Server, kind: str) -> Callable[[], Awaitable[Any]]:
    """Something of ``kind`` that would take ten seconds or more."""
    slow = server.url + "/delay/10"

    async def through_stream() -> None:
        async with (
            fastio.Client() as client,
            client.stream("GET", server.url + "/stream/1000?every=1") as response,
        ):
            async for _ in response.aiter_bytes():
                pass

    async def through_iter() -> None:
        async for _ in fastio.fetch_iter([slow] * 20, concurrency=20):
            pass

    async def through_client() -> None:
        async with fastio.Client(max_connections=4) as client:
            await asyncio.gather(*(client.get(slow) for _ in range(8)))

    makers: dict[str, Callable[[], Awaitable[Any]]] = {
        "fetch": lambda: fastio.fetch(slow),
        "fetch_all": lambda: fastio.fetch_all([slow] * 50, concurrency=50),
        "fetch_iter": through_iter,
        "stream": through_stream,
        "client": through_client,
        "sleep": lambda: fastio.sleep(3600),
        "gather": lambda: fastio.gather(fastio.sleep(3600), fastio.fetch(slow), fastio.sleep(5)),
    }
    return makers[kind]


@pytest.mark.parametrize(
    "kind", ["fetch", "fetch_all", "fetch_iter", "stream", "client", "sleep", "gather"]
)
def test_cancelling_returns_at_once_and_drops_everything(
    server: Server, run_on_each_loop: Run, kind: str
) -> None:
    async def main() -> None:
        gc.collect()
        baseline = live_counts()
        make = slow_work(server, kind)

        async def awaits() -> None:
            await make()

        task = asyncio.ensure_future(awaits())
        await asyncio.sleep(0.3)
        assert not task.done()
        assert await cancel_and_time(task) < 1
        del task
        assert await live_counts_settle(baseline) == baseline
        assert await open_connections_settle(server, at_most=0) == 0

    run_on_each_loop(main)


@pytest.mark.parametrize("loop", sorted(LOOP_FACTORIES))
def test_work_still_running_when_its_loop_closes_is_dropped(server: Server, loop: str) -> None:
    """Requests started but never awaited, then the loop closed under them
    (no asyncio.run to cancel them): their work, wherever it runs, stops
    with the loop, and their connections close."""
    gc.collect()
    baseline = live_counts()
    client = fastio.Client()
    event_loop = LOOP_FACTORIES[loop]()

    started: list[Any] = []

    async def start() -> None:
        for _ in range(4):
            started.append(client.get(server.url + "/delay/10"))
            # The stream's own awaitable (its `async with` is a coroutine).
            started.append(client.stream("GET", server.url + "/delay/10")._future)
        for future in started:
            future.add_done_callback(lambda _: None)
        await asyncio.sleep(0.3)
        assert server.open_connections >= 8

    event_loop.run_until_complete(start())
    event_loop.close()
    del event_loop
    # The awaitables are still referenced; their work is not.
    deadline = time.monotonic() + 5
    while (live_counts()[1] > baseline[1] or server.open_connections) and (
        time.monotonic() < deadline
    ):
        gc.collect()
        time.sleep(0.02)
    assert (live_counts()[1], server.open_connections) == (baseline[1], 0)
    started.clear()
    gc.collect()
    assert live_counts() == baseline


@pytest.mark.parametrize("kind", ["fetch", "fetch_all", "stream", "sleep", "gather"])
def test_wait_for_and_timeout_cut_fastio_work_as_they_cut_asyncio_work(
    server: Server, run_on_each_loop: Run, kind: str
) -> None:
    async def main() -> None:
        gc.collect()
        baseline = live_counts()
        make = slow_work(server, kind)

        async def within_timeout() -> None:
            async with asyncio.timeout(0.2):
                await make()

        for cut in (lambda: asyncio.wait_for(make(), 0.2), within_timeout):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await cut()
            assert time.monotonic() - started < 1.5
        # And work that finishes in time is returned as it is.
        assert (await asyncio.wait_for(fastio.fetch(server.url + "/json"), 5)).status == 200
        async with asyncio.timeout(5):
            assert await fastio.sleep(0.01, "done") == "done"
        assert await live_counts_settle(baseline) == baseline
        # The cut requests' connections are closed; the one that finished
        # keeps its connection in the pool.
        assert await open_connections_settle(server, at_most=1) <= 1

    run_on_each_loop(main)


# --- processes: exit, Ctrl-C, fork ---------------------------------------------------

PRELUDE = """
import asyncio, os, sys, time
import fastio, fastio.testing
LOOP = os.environ.get("FASTIO_TEST_LOOP", "asyncio")
if LOOP == "uvloop":
    import uvloop
    run = lambda main: uvloop.run(main)
else:
    run = asyncio.run
"""

NOISE = ("Task was destroyed", "Unclosed", "panicked", "Exception ignored", "Traceback")


def script(source: str, loop: str) -> subprocess.CompletedProcess[str]:
    return run_script(PRELUDE + textwrap.dedent(source), env={"FASTIO_TEST_LOOP": loop}, timeout=60)


@pytest.mark.parametrize("loop", sorted(LOOP_FACTORIES))
def test_exit_with_10000_requests_in_flight_is_clean(loop: str) -> None:
    # The server runs in a process of its own: 10,000 connections need
    # 10,000 descriptors on each side.
    with subprocess.Popen(
        [sys.executable, "-m", "fastio.testing", "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            started = time.monotonic()
            done = script(
                f"""
                import resource
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                in_flight = min(10_000, hard - 200)

                async def main():
                    urls = ["{url}/delay/30"] * in_flight
                    asyncio.ensure_future(fastio.fetch_all(urls, concurrency=in_flight))
                    async with fastio.Client() as client:
                        for _ in range(100):
                            asyncio.ensure_future(client.get("{url}/delay/30"))
                        await asyncio.sleep(1.5)
                    work = fastio.testing.live_counts()[1]
                    print("leaving with", work, "pieces of work", flush=True)
                run(main())
                """,
                loop,
            )
            assert time.monotonic() - started < 30
        finally:
            server.terminate()
            server.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    assert "leaving with" in done.stdout
    # The batch and the hundred requests were still in flight.
    assert int(done.stdout.split()[2]) > 100
    assert not any(noise in done.stderr for noise in NOISE), done.stderr


@pytest.mark.parametrize("loop", sorted(LOOP_FACTORIES))
def test_ctrl_c_during_a_large_fetch_all_stops_promptly(loop: str) -> None:
    source = (
        PRELUDE
        + """
with fastio.testing.serve() as server:
    async def main():
        urls = [server.url + "/delay/30"] * 20_000
        print("started", flush=True)
        await fastio.fetch_all(urls, concurrency=1000)
    run(main())
"""
    )
    with subprocess.Popen(
        [sys.executable, "-c", source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FASTIO_TEST_LOOP": loop},
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        time.sleep(0.5)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
        assert time.monotonic() - sent < 5
    assert process.returncode != 0
    assert "KeyboardInterrupt" in stderr
    for noise in ("Task was destroyed", "Unclosed", "panicked", "Exception ignored"):
        assert noise not in stderr, stderr


@pytest.mark.parametrize("loop", sorted(LOOP_FACTORIES))
def test_a_forked_child_fetches(loop: str) -> None:
    done = script(
        """
        import warnings
        with fastio.testing.serve() as server:
            async def fetch_some():
                async with fastio.Client() as client:
                    one = await client.get(server.url + "/bytes/10")
                    many = await fastio.fetch_all([server.url + "/bytes/5"] * 50)
                    return len(one.content) + sum(len(r.content) for r in many)
            assert run(fetch_some()) == 260
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                child = os.fork()
            if child == 0:
                try:
                    os._exit(0 if run(fetch_some()) == 260 else 1)
                except BaseException:
                    os._exit(2)
            _, status = os.waitpid(child, 0)
            print("child", os.waitstatus_to_exitcode(status))
            assert run(fetch_some()) == 260
        """,
        loop,
    )
    assert done.returncode == 0, done.stderr
    assert "child 0" in done.stdout


def test_four_threads_each_with_its_own_loop(server: Server) -> None:
    results: dict[int, tuple[int, int, int]] = {}
    barrier = threading.Barrier(4)
    factories = [LOOP_FACTORIES["asyncio"], LOOP_FACTORIES["uvloop"]] * 2

    def worker(number: int) -> None:
        async def main() -> tuple[int, int, int]:
            barrier.wait(timeout=10)
            urls = [server.url + f"/bytes/{size}" for size in range(200)]
            responses = await fastio.fetch_all(urls, concurrency=20)
            streamed = 0
            async for response in fastio.fetch_iter(urls[:50]):
                streamed += len(response.content)
            slept = await fastio.gather(*(fastio.sleep(0.01, 1) for _ in range(500)))
            return sum(len(r.content) for r in responses), streamed, sum(slept)

        with asyncio.Runner(loop_factory=factories[number]) as runner:
            results[number] = runner.run(main())

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {number: (sum(range(200)), sum(range(50)), 500) for number in range(4)}


# --- soak, short ---------------------------------------------------------------------------


def resident_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def threads_alive() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc")
def test_short_soak_nothing_grows(server: Server, run_on_each_loop: Run) -> None:
    async def main() -> dict[str, Any]:
        async with fastio.Client(max_connections=64) as client:
            urls = [server.url + f"/bytes/{size % 512}" for size in range(5000)]

            async def batch() -> None:
                responses = await client.fetch_all(urls, concurrency=64)
                assert len(responses) == len(urls)

            for _ in range(3):  # warm-up: pools, runtime, allocator
                await batch()
            gc.collect()
            before = (resident_mib(), open_fds(), threads_alive(), live_counts())
            for _ in range(10):
                await batch()
            # Cancelled requests leak nothing either.
            slow = [server.url + "/delay/10"] * 2000
            for _ in range(3):
                pending = asyncio.ensure_future(client.fetch_all(slow, concurrency=2000))
                await asyncio.sleep(0.3)
                await cancel_and_time(pending)
            del pending
            settled = await live_counts_settle(before[3])
            await open_connections_settle(server, at_most=64)
            gc.collect()
            after = (resident_mib(), open_fds(), threads_alive(), settled)
        return {"before": before, "after": after}

    measured = run_on_each_loop(main)
    (rss_before, fds_before, threads_before, live_before) = measured["before"]
    (rss_after, fds_after, threads_after, live_after) = measured["after"]
    assert live_after <= live_before
    # Fewer is fine: tokio's blocking-pool threads (client builds, DNS
    # lookups) exit after 10 s idle, which can fall inside this test.
    assert threads_after <= threads_before
    assert fds_after <= fds_before + 2
    # 50,000 more requests and 6,000 cancelled ones: RSS stays within noise.
    assert rss_after < rss_before + 24, (rss_before, rss_after)


def test_live_counts_see_work_and_its_end(server: Server) -> None:
    async def main() -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        gc.collect()
        baseline = live_counts()
        pending = [fastio.fetch(server.url + "/delay/0.3") for _ in range(5)]
        gathered = asyncio.gather(*pending)
        await asyncio.sleep(0.1)
        during = live_counts()
        await gathered
        del pending, gathered
        return baseline, during, await live_counts_settle(baseline)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        baseline, during, after = asyncio.run(main())
    assert during[0] >= baseline[0] + 5
    assert during[1] >= baseline[1] + 5
    assert after == baseline
