"""Every asyncio helper that takes a future works with fastio's, finished
each way (a result, an exception, cancelled with a message), on asyncio and
on uvloop. Each test has a liveness bound: a helper that trips over a
missing attribute inside a callback hangs instead of failing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

import fastio

Run = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]

# A bound no healthy run comes near; past it the helper has hung.
LIVENESS = 10


def succeeding() -> fastio.FastioFuture[str]:
    return fastio.sleep(0.01, "ok")


def failing(port: int) -> fastio.FastioFuture[fastio.Response]:
    return fastio.fetch(f"http://127.0.0.1:{port}/", timeout=5)


def cancelled(message: str = "bye") -> fastio.FastioFuture[None]:
    future = fastio.sleep(30)
    assert future.cancel(message)
    return future


def test_the_asyncio_attributes_a_future_is_read_for(run_on_each_loop: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        future = cancelled("why")
        assert future._cancel_message == "why"
        assert future._loop is loop
        assert asyncio.futures._get_loop(future) is loop
        assert asyncio.ensure_future(future) is future
        assert asyncio.wrap_future(future) is future
        error = future._make_cancelled_error()
        assert isinstance(error, asyncio.CancelledError)
        assert error.args == ("why",)
        done = succeeding()
        assert done._cancel_message is None
        assert await done == "ok"

    run_on_each_loop(main)


def test_gather_return_exceptions_over_each_ending(run_on_each_loop: Run, closed_port: int) -> None:
    async def main() -> list[Any]:
        async with asyncio.timeout(LIVENESS):
            return await asyncio.gather(
                succeeding(), failing(closed_port), cancelled("bye"), return_exceptions=True
            )

    ok, failure, cancellation = run_on_each_loop(main)
    assert ok == "ok"
    assert isinstance(failure, fastio.ConnectError)
    assert isinstance(cancellation, asyncio.CancelledError)
    assert cancellation.args == ("bye",)


def test_gather_raises_a_cancelled_child(run_on_each_loop: Run) -> None:
    async def main() -> None:
        async with asyncio.timeout(LIVENESS):
            with pytest.raises(asyncio.CancelledError) as raised:
                await asyncio.gather(succeeding(), cancelled("gone"))
        assert raised.value.args == ("gone",)

    run_on_each_loop(main)


def test_a_timeout_around_gather_cancels_fastio_children(
    run_on_each_loop: Run, closed_port: int
) -> None:
    async def main() -> tuple[fastio.FastioFuture[None], float]:
        slow = fastio.sleep(30)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await asyncio.gather(slow, succeeding(), return_exceptions=True)
        return slow, asyncio.get_running_loop().time() - started

    slow, took = run_on_each_loop(main)
    assert slow.cancelled()
    assert took < LIVENESS


def test_wait_for_times_out_passes_results_and_errors(
    run_on_each_loop: Run, closed_port: int
) -> None:
    async def main() -> fastio.FastioFuture[None]:
        slow = fastio.sleep(30)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow, 0.05)
        assert await asyncio.wait_for(succeeding(), LIVENESS) == "ok"
        with pytest.raises(fastio.ConnectError):
            await asyncio.wait_for(failing(closed_port), LIVENESS)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(cancelled(), LIVENESS)
        return slow

    assert run_on_each_loop(main).cancelled()


def test_wait_sorts_each_ending_of_tasks_and_refuses_bare_awaitables(
    run_on_each_loop: Run, closed_port: int
) -> None:
    async def main() -> None:
        # A fastio awaitable is also a coroutine, and asyncio.wait refuses
        # coroutines: tasks are what it takes, as for any coroutine.
        bare = fastio.sleep(0.01)
        with pytest.raises(TypeError, match="coroutines is forbidden"):
            await asyncio.wait({bare})
        bare.close()
        # What ensure_future makes of one, as of an httpx request, wait takes.
        wrapped = asyncio.ensure_future(fastio.sleep(0.01, "wrapped"))
        gathered = asyncio.ensure_future(fastio.gather(fastio.sleep(0.01, 1), succeeding()))
        done, _ = await asyncio.wait([wrapped, gathered], timeout=LIVENESS)
        assert done == {wrapped, gathered}
        assert wrapped.result() == "wrapped"
        assert gathered.result() == [1, "ok"]
        ok = asyncio.create_task(succeeding())
        failure = asyncio.create_task(failing(closed_port))
        gone = asyncio.create_task(fastio.sleep(30))
        slow = asyncio.create_task(fastio.sleep(30))
        await asyncio.sleep(0)
        gone.cancel("x")
        done, pending = await asyncio.wait({ok, failure, gone, slow}, timeout=LIVENESS / 2)
        assert done == {ok, failure, gone}
        assert pending == {slow}
        assert ok.result() == "ok"
        assert isinstance(failure.exception(), fastio.ConnectError)
        assert gone.cancelled()
        first, _ = await asyncio.wait(
            {asyncio.create_task(fastio.sleep(0.01, 1)), slow},
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert [future.result() for future in first] == [1]
        slow.cancel()

    run_on_each_loop(main)


def test_shield_keeps_the_work_running(run_on_each_loop: Run) -> None:
    async def main() -> None:
        inner = fastio.sleep(0.2, "kept")
        outer = asyncio.shield(inner)
        await asyncio.sleep(0.01)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        assert await asyncio.wait_for(inner, LIVENESS) == "kept"
        assert await asyncio.shield(succeeding()) == "ok"
        with pytest.raises(asyncio.CancelledError):
            await asyncio.shield(cancelled())

    run_on_each_loop(main)


def test_as_completed_in_finishing_order(run_on_each_loop: Run, closed_port: int) -> None:
    async def main() -> list[Any]:
        seen: list[Any] = []
        futures = [fastio.sleep(0.3, "late"), fastio.sleep(0.01, "early"), failing(closed_port)]
        for next_done in asyncio.as_completed(futures, timeout=LIVENESS):
            try:
                seen.append(await next_done)
            except fastio.ConnectError as error:
                seen.append(type(error))
        return seen

    seen = run_on_each_loop(main)
    assert seen[-1] == "late"
    assert sorted(map(str, seen[:2])) == sorted(["early", str(fastio.ConnectError)])


def test_as_completed_times_out(run_on_each_loop: Run) -> None:
    async def main() -> None:
        slow = fastio.sleep(30)
        [next_done] = asyncio.as_completed([slow], timeout=0.05)
        with pytest.raises(TimeoutError):
            await next_done
        slow.cancel()

    run_on_each_loop(main)


def test_a_task_group_cancels_fastio_work_on_failure(
    run_on_each_loop: Run, closed_port: int
) -> None:
    async def main() -> fastio.FastioFuture[None]:
        slow = fastio.sleep(30)

        async def wait_long() -> None:
            await slow

        async def fail() -> None:
            await failing(closed_port)

        async def run_group() -> None:
            async with asyncio.timeout(LIVENESS), asyncio.TaskGroup() as group:
                group.create_task(wait_long())
                group.create_task(fail())

        with pytest.raises(ExceptionGroup) as raised:
            await run_group()
        assert [type(error) for error in raised.value.exceptions] == [fastio.ConnectError]
        return slow

    assert run_on_each_loop(main).cancelled()


def test_cancelling_a_task_passes_its_message_through(run_on_each_loop: Run) -> None:
    async def main() -> fastio.FastioFuture[None]:
        inner = fastio.sleep(30)

        async def waiting() -> None:
            await inner

        task = asyncio.create_task(waiting())
        await asyncio.sleep(0.01)
        task.cancel("stop now")
        with pytest.raises(asyncio.CancelledError) as raised:
            await task
        assert raised.value.args == ("stop now",)
        return inner

    inner = run_on_each_loop(main)
    assert inner.cancelled()
    assert inner._cancel_message == "stop now"


def test_create_task_task_groups_and_run_until_complete_take_it(
    run_on_each_loop: Run, server: Any
) -> None:
    urls = [server.url + "/bytes/3"] * 5

    async def main() -> tuple[Any, ...]:
        task = asyncio.create_task(fastio.fetch(server.url + "/bytes/4"))
        async with asyncio.TaskGroup() as group:
            grouped = group.create_task(fastio.fetch_all(urls))
            slept = group.create_task(fastio.sleep(0.01, "slept"))
        return (await task).content, len(grouped.result()), slept.result()

    assert run_on_each_loop(main) == (b"0123", 5, "slept")
    assert len(asyncio.run(fastio.fetch_all(urls))) == 5
    for factory in (asyncio.new_event_loop, uvloop.new_event_loop):
        loop = factory()
        try:
            response = loop.run_until_complete(fastio.fetch(server.url + "/bytes/2"))
        finally:
            loop.close()
        assert response.content == b"01"


def test_a_task_over_it_cancels_its_work(run_on_each_loop: Run) -> None:
    async def main() -> fastio.FastioFuture[None]:
        work = fastio.sleep(30)
        task = asyncio.create_task(work)
        await asyncio.sleep(0.01)
        task.cancel("enough")
        with pytest.raises(asyncio.CancelledError) as raised:
            await task
        assert raised.value.args == ("enough",)
        return work

    assert run_on_each_loop(main).cancelled()
