"""fastio.gather keeps asyncio.gather's contract.

The cases mirror CPython's own gather tests (Lib/test/test_asyncio/
test_tasks.py: GatherTestsBase, FutureGatherTests, CoroutineGatherTests), in
our own words, plus what is particular to joining fastio children in Rust.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from helpers import cancel_and_time, run_script

import fastio
from fastio import _fastio

T = TypeVar("T")


async def value_after(delay: float, value: T) -> T:
    await asyncio.sleep(delay)
    return value


async def fail_after(delay: float, error: BaseException) -> None:
    await asyncio.sleep(delay)
    raise error


# --- results and order ---------------------------------------------------------


async def test_no_arguments_give_an_empty_list() -> None:
    outer = fastio.gather()
    assert outer.done()
    assert await outer == []


async def test_results_come_in_argument_order() -> None:
    results = await fastio.gather(
        fastio.sleep(0.05, "slow fastio"),
        value_after(0.01, "quick coroutine"),
        fastio.sleep(0, "zero"),
        asyncio.sleep(0.03, "asyncio sleep"),
        fastio.sleep(0.01, "quick fastio"),
    )
    assert results == ["slow fastio", "quick coroutine", "zero", "asyncio sleep", "quick fastio"]


async def test_accepts_any_mix_of_awaitables() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    loop.call_later(0.01, future.set_result, "future")
    task = asyncio.ensure_future(value_after(0.01, "task"))
    started = fastio.sleep(0.01, "started fastio")
    already = _fastio._completed("completed fastio")
    await asyncio.sleep(0)
    results = await fastio.gather(
        future, task, value_after(0, "coroutine"), started, already, _fastio._on_worker("worker")
    )
    assert results == [
        "future",
        "task",
        "coroutine",
        "started fastio",
        "completed fastio",
        "worker",
    ]


async def test_the_same_coroutine_twice_runs_once() -> None:
    runs = 0

    async def counted() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0)
        return "once"

    coroutine = counted()
    assert await fastio.gather(coroutine, coroutine) == ["once", "once"]
    assert runs == 1


async def test_the_same_fastio_awaitable_twice_runs_once() -> None:
    sleeper = fastio.sleep(0.01, "shared")
    other = fastio.sleep(0.01, "other")
    assert await fastio.gather(sleeper, other, sleeper) == ["shared", "other", "shared"]


async def test_a_list_result_stays_one_item() -> None:
    value = [1, 2]
    assert await fastio.gather(fastio.sleep(0, value), _fastio._on_worker(value)) == [value, value]


async def test_gathers_nest() -> None:
    inner = fastio.gather(fastio.sleep(0.01, 1), value_after(0.01, 2))
    assert await fastio.gather(inner, fastio.sleep(0.02, 3)) == [[1, 2], 3]


async def test_a_hundred_thousand_fastio_sleeps_join_in_order() -> None:
    sleepers = [fastio.sleep(0.01, index) for index in range(100_000)]
    assert await fastio.gather(*sleepers) == list(range(100_000))
    assert all(sleeper.done() for sleeper in sleepers[::10_000])


# --- children stay futures of their own ---------------------------------------


async def test_joined_children_finish_as_their_own_futures() -> None:
    child = fastio.sleep(0.02, "child")
    seen: list[object] = []
    child.add_done_callback(seen.append)  # started: watched, not joined
    joined = fastio.sleep(0.02, "joined")
    outer = fastio.gather(child, joined)
    joined_seen: list[object] = []
    joined.add_done_callback(joined_seen.append)
    assert await outer == ["child", "joined"]
    await asyncio.sleep(0)
    assert seen == [child]
    assert joined_seen == [joined]
    assert joined.result() == "joined"
    assert await joined == "joined"


async def test_a_joined_child_can_be_awaited_by_itself_too() -> None:
    child = fastio.sleep(0.02, "both")
    outer = fastio.gather(child)
    assert await child == "both"
    assert await outer == ["both"]


# --- exceptions ----------------------------------------------------------------


async def test_the_first_exception_propagates_without_cancelling_the_rest() -> None:
    slow_fastio = fastio.sleep(1.0, "slow")
    slow_task = asyncio.ensure_future(value_after(1.0, "task"))
    started = time.monotonic()
    with pytest.raises(ValueError, match="first"):
        await fastio.gather(slow_fastio, fail_after(0.01, ValueError("first")), slow_task)
    assert time.monotonic() - started < 0.9
    assert not slow_fastio.cancelled()
    assert not slow_task.cancelled()
    assert await slow_fastio == "slow"
    assert await slow_task == "task"


async def test_a_failing_fastio_child_raises_at_once() -> None:
    slow = fastio.sleep(2.0)
    started = time.monotonic()
    with pytest.raises(fastio.InternalError, match="member failed"):
        await fastio.gather(slow, _fastio._panic_on_worker("member failed"))
    assert time.monotonic() - started < 1.5
    assert not slow.done()
    assert slow.cancel()


async def test_return_exceptions_puts_them_in_place() -> None:
    error = KeyError("coroutine")
    results = await fastio.gather(
        fastio.sleep(0.01, "ok"),
        fail_after(0.01, error),
        _fastio._panic_on_worker("rust"),
        value_after(0.01, "fine"),
        return_exceptions=True,
    )
    assert results[0] == "ok"
    assert results[1] is error
    assert isinstance(results[2], fastio.InternalError)
    assert results[3] == "fine"


async def test_mixed_failures_in_order_at_scale() -> None:
    awaitables: list[Awaitable[Any]] = []
    for index in range(3000):
        if index % 3 == 0:
            awaitables.append(_fastio._panic_on_worker(f"failure {index}"))
        elif index % 3 == 1:
            awaitables.append(fastio.sleep(0.001 * (index % 7), index))
        else:
            awaitables.append(value_after(0, index))
    results = await fastio.gather(*awaitables, return_exceptions=True)
    for index, result in enumerate(results):
        if index % 3 == 0:
            assert isinstance(result, fastio.InternalError)
            assert f"failure {index}" in str(result)
        else:
            assert result == index


async def test_a_non_awaitable_is_a_type_error_and_starts_nothing() -> None:
    sleeper = fastio.sleep(0.01)
    with pytest.raises(TypeError):
        fastio.gather(sleeper, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fastio.gather("not awaitable")  # type: ignore[arg-type]
    assert "not started" in repr(sleeper)
    assert await sleeper is None


def test_gather_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        fastio.gather(fastio.sleep(0))


# --- cancellation --------------------------------------------------------------


async def test_cancelling_the_gather_cancels_every_child() -> None:
    fastio_child = fastio.sleep(10)
    task_child = asyncio.ensure_future(value_after(10, "never"))
    outer = fastio.gather(fastio_child, task_child, value_after(10, "never"))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    assert outer.cancel("stop")
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert time.monotonic() - started < 1.0
    assert fastio_child.cancelled()
    assert task_child.cancelled()
    assert not outer.cancel()


async def test_cancelling_the_task_awaiting_a_gather_returns_promptly() -> None:
    async def waits() -> list[object]:
        return await fastio.gather(fastio.sleep(10), value_after(10, None), fastio.sleep(10))

    task = asyncio.ensure_future(waits())
    await asyncio.sleep(0.05)
    assert await cancel_and_time(task) < 1.0


async def test_a_cancelled_child_cancels_the_result() -> None:
    child = fastio.sleep(10)
    outer = fastio.gather(child, fastio.sleep(0.01, "other"))
    child.cancel("child only")
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert not outer.cancelled()  # as in asyncio: set_exception(CancelledError)


async def test_a_cancelled_child_with_return_exceptions_is_in_place() -> None:
    loop = asyncio.get_running_loop()
    fastio_child = fastio.sleep(10)
    task_child = asyncio.ensure_future(value_after(10, None))
    future_child: asyncio.Future[None] = loop.create_future()
    outer = fastio.gather(
        fastio_child,
        task_child,
        future_child,
        fastio.sleep(0.01, "other"),
        return_exceptions=True,
    )
    await asyncio.sleep(0)
    fastio_child.cancel()
    task_child.cancel("a task's message is not kept, as in asyncio")
    future_child.cancel("kept")
    results = await outer
    assert [type(result) for result in results[:3]] == [asyncio.CancelledError] * 3
    assert [result.args for result in results[:3]] == [("",), ("",), ("kept",)]
    assert results[3] == "other"


async def test_cancelling_with_return_exceptions_still_raises_cancelled() -> None:
    outer = fastio.gather(fastio.sleep(10), value_after(10, None), return_exceptions=True)
    await asyncio.sleep(0)
    assert outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer


async def test_cancelling_a_finished_gather_returns_false() -> None:
    outer = fastio.gather(fastio.sleep(0, 1))
    await outer
    assert not outer.cancel()


# --- loops ---------------------------------------------------------------------


async def test_futures_of_another_loop_are_refused() -> None:
    other_loop = asyncio.new_event_loop()
    try:
        foreign = other_loop.create_future()
        with pytest.raises(ValueError, match="loop"):
            fastio.gather(foreign)
    finally:
        other_loop.close()


def test_works_on_the_default_loop_and_uvloop(run_on_each_loop) -> None:
    async def main() -> list[object]:
        return await fastio.gather(
            fastio.sleep(0.01, "fastio"), value_after(0.01, "coroutine"), _fastio._on_worker("w")
        )

    assert run_on_each_loop(main) == ["fastio", "coroutine", "w"]


async def test_works_under_asyncio_gather_and_wait_for() -> None:
    results = await asyncio.wait_for(
        asyncio.gather(fastio.gather(fastio.sleep(0.01, 1)), fastio.sleep(0.01, 2)), timeout=5
    )
    assert results == [[1], 2]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(fastio.gather(fastio.sleep(10)), timeout=0.1)


async def test_a_task_cancel_message_reaches_the_gather_as_in_asyncio() -> None:
    async def waits_in_a_task() -> None:
        await fastio.gather(value_after(10, None))

    task = asyncio.ensure_future(waits_in_a_task())
    await asyncio.sleep(0.01)
    task.cancel("bye")
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert raised.value.args == ("bye",)


# --- depth ---------------------------------------------------------------------

DEEP = 100_000

NESTED_GATHERS = """
import asyncio, gc, fastio

async def main(mode):
    nested = fastio.sleep(100 if mode == "cancel" else 0.01, "leaf")
    for _ in range({depth}):
        nested = fastio.gather(nested, return_exceptions=mode == "return_exceptions")
    if mode == "cancel":
        task = asyncio.ensure_future(nested)
        await asyncio.sleep(0.01)
        task.cancel("stop")
        try:
            await task
        except asyncio.CancelledError as error:
            print("cancelled", error.args)
        del task
    else:
        result = await nested
        for _ in range({depth}):
            (result,) = result
        print("result", result)
    del nested
    gc.collect()
    print("freed")

asyncio.run(main({mode!r}))
"""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("cancel", "cancelled ('stop',)"),
        ("complete", "result leaf"),
        ("return_exceptions", "result leaf"),
    ],
)
def test_gathers_nested_100_000_deep_cancel_complete_and_free(mode: str, expected: str) -> None:
    # In a child process: a recursion on the native stack ends it with SIGSEGV.
    finished = run_script(NESTED_GATHERS.format(depth=DEEP, mode=mode), timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.splitlines() == [expected, "freed"]


def test_gathers_nested_through_tasks_100_000_deep_cancel_and_free() -> None:
    # Each level a coroutine (so a task) awaiting a gather: cancelling goes
    # task -> gather -> task through Python, which fastio defers past a depth.
    source = """
    import asyncio, gc, fastio

    async def main():
        reached = asyncio.Event()

        async def nest(depth):
            if depth == 0:
                reached.set()
                await asyncio.sleep(100)
            return await fastio.gather(nest(depth - 1))

        task = asyncio.ensure_future(nest({depth}))
        await asyncio.wait_for(reached.wait(), 100)
        task.cancel("stop")
        try:
            await task
        except asyncio.CancelledError as error:
            print("cancelled", error.args)
        del task
        gc.collect()
        print("freed")

    asyncio.run(main())
    """
    finished = run_script(source.format(depth=DEEP), timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.splitlines() == ["cancelled ('stop',)", "freed"]
