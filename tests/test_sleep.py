"""fastio.sleep keeps asyncio.sleep's contract."""

from __future__ import annotations

import asyncio
import math
import time
from decimal import Decimal

import pytest
from helpers import cancel_and_time

import fastio


async def test_returns_the_result_it_was_given() -> None:
    marker = object()
    assert await fastio.sleep(0.01, marker) is marker
    assert await fastio.sleep(0.01) is None


@pytest.mark.parametrize("delay", [0, 0.0, -1, -0.5, -math.inf])
async def test_zero_or_negative_delay_returns_the_result(delay: float) -> None:
    assert await fastio.sleep(delay, "done") == "done"


async def test_waits_at_least_the_delay() -> None:
    started = time.monotonic()
    await fastio.sleep(0.1)
    elapsed = time.monotonic() - started
    # Liveness, not speed: the timer never fires early and does fire.
    assert 0.095 <= elapsed < 2.0


async def test_accepts_ints_and_objects_with_float() -> None:
    assert await fastio.sleep(0, 1) == 1
    assert await fastio.sleep(Decimal("0.001"), 2) == 2
    assert await fastio.sleep(False, 3) == 3


@pytest.mark.parametrize("delay", [0, -2])
async def test_sleep_zero_yields_to_the_loop_exactly_once(delay: float) -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        loop.call_soon(ran.append, "second")

    loop.call_soon(first)
    await fastio.sleep(delay)
    # One loop iteration passed: what was queued ran, what it queued did not.
    assert ran == ["first"]
    await asyncio.sleep(0)
    assert ran == ["first", "second"]


async def test_sleep_zero_interleaves_like_asyncio_sleep_zero() -> None:
    events: list[str] = []

    async def with_fastio() -> None:
        events.append("fastio-1")
        await fastio.sleep(0)
        events.append("fastio-2")

    async def with_asyncio() -> None:
        events.append("asyncio-1")
        await asyncio.sleep(0)
        events.append("asyncio-2")

    await asyncio.gather(with_fastio(), with_asyncio())
    assert events == ["fastio-1", "asyncio-1", "fastio-2", "asyncio-2"]


async def test_the_timer_starts_at_first_await_not_at_creation() -> None:
    pending = fastio.sleep(0.3)
    await asyncio.sleep(0.35)
    started = time.monotonic()
    await pending
    assert time.monotonic() - started >= 0.25


async def test_the_timer_starts_when_handed_to_ensure_future() -> None:
    pending = fastio.sleep(0.2, "r")
    # A task, as for a coroutine; its first step (at once) starts the timer.
    future = asyncio.ensure_future(pending)
    assert isinstance(future, asyncio.Task)
    started = time.monotonic()
    await asyncio.sleep(0.25)
    assert future.done()
    assert await future == "r"
    assert time.monotonic() - started < 2.0


async def test_sleeps_fifty_ms_apart_finish_in_order() -> None:
    finished: list[int] = []

    async def sleeper(index: int) -> None:
        await fastio.sleep(0.05 * index)
        finished.append(index)

    order = [5, 1, 4, 2, 6, 3]
    await asyncio.gather(*(sleeper(index) for index in order))
    assert finished == sorted(order)


async def test_infinite_sleep_runs_until_cancelled() -> None:
    task = asyncio.ensure_future(fastio.sleep(math.inf))
    await asyncio.sleep(0.1)
    assert not task.done()
    assert await cancel_and_time(task) < 1.0


async def test_huge_finite_delay_behaves_like_infinity() -> None:
    task = asyncio.ensure_future(fastio.sleep(1e300))
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_awaiting_task_stops_the_sleep_promptly() -> None:
    task = asyncio.ensure_future(fastio.sleep(10))
    await asyncio.sleep(0.05)
    assert await cancel_and_time(task, "stop now") < 1.0


async def test_cancelling_a_coroutine_awaiting_a_sleep() -> None:
    async def waits() -> str:
        await fastio.sleep(10)
        return "never"

    task = asyncio.create_task(waits())
    await asyncio.sleep(0.05)
    assert await cancel_and_time(task) < 1.0


def test_nan_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        fastio.sleep(math.nan)


@pytest.mark.parametrize("delay", ["1", None, b"1", [1], object()])
def test_a_non_number_is_a_type_error(delay: object) -> None:
    with pytest.raises(TypeError):
        fastio.sleep(delay)


async def test_mixes_with_asyncio_tasks() -> None:
    async def doubled(value: int) -> int:
        await fastio.sleep(0.01)
        await asyncio.sleep(0.01)
        return value * 2

    results = await asyncio.gather(
        *(asyncio.create_task(doubled(value)) for value in range(50)),
        fastio.sleep(0.02, "plain"),
        asyncio.sleep(0.02, "asyncio"),
    )
    assert results == [value * 2 for value in range(50)] + ["plain", "asyncio"]


async def test_wait_for_times_out_a_long_sleep() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(fastio.sleep(10), timeout=0.2)
    assert time.monotonic() - started < 1.5


async def test_wait_for_returns_a_short_sleep() -> None:
    assert await asyncio.wait_for(fastio.sleep(0.01, "ok"), timeout=5) == "ok"


async def test_asyncio_timeout_cancels_a_sleep() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await fastio.sleep(10)
    assert time.monotonic() - started < 1.5


async def test_asyncio_wait_first_completed() -> None:
    # asyncio.wait takes tasks, not coroutines (which fastio awaitables also are).
    quick = asyncio.create_task(fastio.sleep(0.05, "quick"))
    slow = asyncio.create_task(fastio.sleep(10, "slow"))
    done, pending = await asyncio.wait({quick, slow}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {quick}
    assert pending == {slow}
    assert slow.cancel()
    assert quick.result() == "quick"


async def test_runs_beside_to_thread_without_blocking() -> None:
    started = time.monotonic()
    in_thread, slept = await asyncio.gather(
        asyncio.to_thread(time.sleep, 0.2), fastio.sleep(0.2, "slept")
    )
    assert in_thread is None
    assert slept == "slept"
    assert time.monotonic() - started < 1.5


async def test_ten_thousand_concurrent_sleeps_all_finish_with_their_results() -> None:
    results = await asyncio.gather(*(fastio.sleep(0.01, index) for index in range(10_000)))
    assert results == list(range(10_000))


def test_works_on_the_default_loop_and_uvloop(run_on_each_loop) -> None:
    async def main() -> list[object]:
        return list(
            await asyncio.gather(fastio.sleep(0.02, "a"), fastio.sleep(0, "b"), fastio.sleep(0.01))
        )

    assert run_on_each_loop(main) == ["a", "b", None]


def test_cancellation_under_each_loop(run_on_each_loop) -> None:
    async def main() -> float:
        task = asyncio.ensure_future(fastio.sleep(10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert run_on_each_loop(main) < 1.0
