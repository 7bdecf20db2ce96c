"""The awaitable fastio hands to asyncio: the future protocol, callbacks,
contexts, loops in threads, fork, garbage collection and shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

import pytest
from helpers import open_fds, run_script

import fastio
from fastio import _fastio

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
Run = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


async def awaited(awaitable: Awaitable[T]) -> T:
    """asyncio.run wants a coroutine; fastio awaitables are futures."""
    return await awaitable


def test_asyncio_run_takes_it_as_a_coroutine() -> None:
    assert asyncio.run(fastio.sleep(0, "direct")) == "direct"
    assert asyncio.run(fastio.sleep(0.01, "timed")) == "timed"
    assert asyncio.run(awaited(fastio.sleep(0, "wrapped"))) == "wrapped"


async def test_asyncio_sees_a_coroutine_until_it_is_used_as_a_future() -> None:
    # As an httpx request: ensure_future and create_task make a task of it.
    pending = fastio.sleep(0.01, "ok")
    assert asyncio.iscoroutine(pending)
    assert not asyncio.isfuture(pending)
    task = asyncio.ensure_future(pending)
    assert isinstance(task, asyncio.Task)
    assert await task == "ok"
    # Awaited (or given a callback, or cancelled), it is the future itself.
    assert asyncio.isfuture(pending)
    assert asyncio.ensure_future(pending) is pending
    called = fastio.sleep(0.01)
    called.add_done_callback(lambda _: None)
    assert asyncio.isfuture(called)
    assert called._asyncio_future_blocking is False
    await called


async def test_get_loop_is_the_running_loop_itself() -> None:
    pending = fastio.sleep(0.01)
    assert pending.get_loop() is asyncio.get_running_loop()
    await pending
    assert pending.get_loop() is asyncio.get_running_loop()


async def test_state_methods_follow_the_future_contract() -> None:
    pending = fastio.sleep(0.05, "value")
    assert not pending.done()
    assert not pending.cancelled()
    with pytest.raises(asyncio.InvalidStateError):
        pending.result()
    with pytest.raises(asyncio.InvalidStateError):
        pending.exception()
    assert await pending == "value"
    assert pending.done()
    assert not pending.cancelled()
    assert pending.result() == "value"
    assert pending.exception() is None
    assert not pending.cancel()
    assert "finished" in repr(pending)


async def test_a_cancelled_future_reports_cancellation_everywhere() -> None:
    pending = fastio.sleep(10)
    assert pending.cancel("why")
    assert not pending.cancel()
    assert pending.cancelled()
    assert pending.done()
    with pytest.raises(asyncio.CancelledError, match="why"):
        pending.result()
    with pytest.raises(asyncio.CancelledError):
        pending.exception()
    with pytest.raises(asyncio.CancelledError):
        await pending
    error = pending._make_cancelled_error()
    assert isinstance(error, asyncio.CancelledError)
    assert error.args == ("why",)


async def test_an_already_complete_future_returns_without_yielding() -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    loop.call_soon(ran.append, "loop ran")
    assert await _fastio._completed("ready") == "ready"
    assert ran == []
    await asyncio.sleep(0)
    assert ran == ["loop ran"]


async def test_a_list_result_is_returned_whole() -> None:
    value = [1, 2, 3]
    assert await _fastio._completed(value) is value
    assert await _fastio._on_worker(value) is value
    assert await fastio.sleep(0.001, (1, 2)) == (1, 2)


async def test_work_finished_on_a_worker_comes_back() -> None:
    for index in range(200):
        assert await _fastio._on_worker(index) == index


async def test_callbacks_run_on_the_loop_never_inline() -> None:
    pending = fastio.sleep(0.01, "x")
    seen: list[object] = []
    pending.add_done_callback(seen.append)
    await pending
    await asyncio.sleep(0)
    assert seen == [pending]
    late: list[object] = []
    pending.add_done_callback(late.append)
    assert late == []  # scheduled with call_soon, not run inside the call
    await asyncio.sleep(0)
    assert late == [pending]


class CountingLoop(asyncio.SelectorEventLoop):
    """Counts the callbacks scheduled with call_soon (a Handle each)."""

    scheduled = 0

    def call_soon(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        self.scheduled += 1
        return super().call_soon(callback, *args, context=context)


def test_a_drain_runs_the_callbacks_it_settles_without_a_handle_each() -> None:
    async def main() -> None:
        await asyncio.gather(*(_fastio._on_worker(index) for index in range(50)))
        loop = asyncio.get_running_loop()
        assert isinstance(loop, CountingLoop)
        loop.scheduled = 0
        for index in range(100):
            assert await _fastio._on_worker(index) == index
        # Without the drain running them: a task wake-up (a Handle) per await.
        assert loop.scheduled < 10

    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        runner.run(main())


def test_a_loop_in_debug_mode_gets_a_handle_per_callback() -> None:
    # Its handles time each callback (slow-callback warnings): keep them.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, CountingLoop)
        await _fastio._on_worker(0)
        loop.scheduled = 0
        for index in range(20):
            await _fastio._on_worker(index)
        assert loop.scheduled >= 20

    with asyncio.Runner(loop_factory=CountingLoop, debug=True) as runner:
        runner.run(main())


def test_a_failing_callback_goes_to_the_exception_handler(run_on_each_loop: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))

        def fails(_: object) -> None:
            raise ValueError("from a callback")

        seen: list[object] = []
        pending = _fastio._on_worker("x")
        pending.add_done_callback(fails)
        pending.add_done_callback(seen.append)
        assert await pending == "x"
        await asyncio.sleep(0.01)
        assert seen == [pending]
        assert len(reported) == 1
        assert isinstance(reported[0]["exception"], ValueError)
        assert reported[0]["message"].startswith("Exception in callback")
        loop.set_exception_handler(None)

    run_on_each_loop(main)


def test_ctrl_c_in_a_callback_propagates_and_loses_no_other_callback() -> None:
    # asyncio's loop only: uvloop's next run_until_complete after a
    # KeyboardInterrupt in any callback (an asyncio future's too) fails with
    # "Event loop stopped before Future completed".
    loop = asyncio.new_event_loop()
    try:
        seen: list[object] = []

        def interrupts(_: object) -> None:
            raise KeyboardInterrupt

        async def first() -> object:
            pending = _fastio._on_worker("x")
            pending.add_done_callback(interrupts)
            pending.add_done_callback(seen.append)
            return await pending

        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(first())
        # The callback after the interrupted one runs on the loop's next turn.
        loop.run_until_complete(asyncio.sleep(0.01))
        assert len(seen) == 1
    finally:
        loop.close()


async def test_remove_done_callback_counts_what_it_removed() -> None:
    pending = fastio.sleep(0.01)
    seen: list[object] = []
    pending.add_done_callback(seen.append)
    pending.add_done_callback(seen.append)
    pending.add_done_callback(print)
    assert pending.remove_done_callback(seen.append) == 2
    assert pending.remove_done_callback(seen.append) == 0
    assert pending.remove_done_callback(print) == 1
    await pending
    await asyncio.sleep(0.01)
    assert seen == []


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def test_callbacks_run_in_the_context_given() -> None:
    context = contextvars.copy_context()
    context.run(request_id.set, "explicit")
    seen: list[str] = []
    pending = fastio.sleep(0.01)
    pending.add_done_callback(lambda _: seen.append(request_id.get()), context=context)
    await pending
    await asyncio.sleep(0)
    assert seen == ["explicit"]


async def test_callbacks_default_to_a_copy_of_the_current_context() -> None:
    token = request_id.set("current")
    try:
        seen: list[str] = []
        pending = fastio.sleep(0.01)
        pending.add_done_callback(lambda _: seen.append(request_id.get()))
    finally:
        request_id.reset(token)
    await pending
    await asyncio.sleep(0)
    assert seen == ["current"]


async def test_tasks_keep_their_context_across_a_fastio_await() -> None:
    async def handler(name: str) -> str:
        request_id.set(name)
        await fastio.sleep(0.01)
        await _fastio._on_worker(None)
        return request_id.get()

    assert await asyncio.gather(handler("a"), handler("b")) == ["a", "b"]


async def test_a_panic_in_rust_work_raises_internal_error() -> None:
    with pytest.raises(fastio.InternalError, match="kaboom") as raised:
        await _fastio._panic_on_worker("kaboom")
    assert isinstance(raised.value, fastio.FastioError)
    assert isinstance(raised.value, Exception)
    # The runtime survives the panic.
    assert await _fastio._on_worker("still alive") == "still alive"


async def test_a_panic_is_stored_as_the_future_exception() -> None:
    pending = _fastio._panic_on_worker("stored")
    await asyncio.gather(pending, return_exceptions=True)
    error = pending.exception()
    assert isinstance(error, fastio.InternalError)
    with pytest.raises(fastio.InternalError):
        pending.result()


def test_using_a_future_outside_a_loop_is_a_runtime_error() -> None:
    pending = fastio.sleep(0.01)
    with pytest.raises(RuntimeError, match="no running event loop"):
        pending.add_done_callback(print)


def test_two_loops_in_two_threads_at_once() -> None:
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        async def main() -> list[object]:
            barrier.wait(timeout=10)
            return list(
                await asyncio.gather(
                    *(fastio.sleep(0.01 * (index % 5), (name, index)) for index in range(500)),
                    *(_fastio._on_worker((name, -index)) for index in range(1, 100)),
                )
            )

        try:
            results[name] = asyncio.run(main())
        except BaseException as error:  # reported by the assertion below
            results[name] = error

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for name in ("left", "right"):
        expected = [(name, index) for index in range(500)]
        expected += [(name, -index) for index in range(1, 100)]
        assert results[name] == expected


def test_a_forked_child_gets_a_working_runtime() -> None:
    asyncio.run(awaited(fastio.sleep(0.01)))  # the parent's runtime is running
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() with threads alive; the point of
        # this test is exactly that fastio copes with it.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:
        try:
            result = asyncio.run(awaited(fastio.sleep(0.01, 7)))
            worker = asyncio.run(awaited(_fastio._on_worker(8)))
            os._exit(0 if (result, worker) == (7, 8) else 1)
        except BaseException:
            os._exit(2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        finished, status = os.waitpid(child, os.WNOHANG)
        if finished:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.01)
    else:
        os.kill(child, 9)
        pytest.fail("the forked child hung")
    assert asyncio.run(awaited(fastio.sleep(0.01, "parent"))) == "parent"


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to count fds")
def test_the_wake_fd_is_closed_with_its_loop() -> None:
    asyncio.run(awaited(fastio.sleep(0.001)))
    gc.collect()
    before = open_fds()
    for _ in range(20):
        asyncio.run(awaited(fastio.sleep(0.001)))
    gc.collect()
    assert open_fds() == before


async def test_an_abandoned_pending_future_is_collectable() -> None:
    async def waits_forever() -> None:
        await fastio.sleep(float("inf"))

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # "destroyed but pending"
    task = asyncio.ensure_future(waits_forever())
    await asyncio.sleep(0.01)
    waiter = task._fut_waiter  # type: ignore[attr-defined]
    assert isinstance(waiter, fastio.FastioFuture)
    future_ref = weakref.ref(waiter)
    task_ref = weakref.ref(task)
    del task, waiter
    gc.collect()
    assert future_ref() is None
    assert task_ref() is None
    loop.set_exception_handler(None)


async def test_a_cancelled_future_releases_its_references() -> None:
    pending = fastio.sleep(10)
    pending.add_done_callback(lambda _: None)
    pending.cancel()
    future_ref = weakref.ref(pending)
    await asyncio.sleep(0)
    del pending
    gc.collect()
    assert future_ref() is None


def test_interpreter_exit_with_pending_work_neither_hangs_nor_crashes() -> None:
    finished = run_script(
        """
        import asyncio, threading, fastio
        from fastio import _fastio

        async def background():
            await asyncio.gather(*(fastio.sleep(100) for _ in range(1000)))

        def loop_in_thread():
            asyncio.run(background())

        threading.Thread(target=loop_in_thread, daemon=True).start()

        async def main():
            for _ in range(100):
                asyncio.ensure_future(fastio.sleep(100))
                asyncio.ensure_future(_fastio._on_worker(1))
            await fastio.sleep(0.05)

        asyncio.run(main())
        print("exiting")
        """
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "exiting"
    assert "Traceback" not in finished.stderr


def test_version_comes_from_cargo_toml() -> None:
    import tomllib

    cargo = tomllib.loads((Path(__file__).parents[1] / "Cargo.toml").read_text())
    assert fastio.__version__ == cargo["package"]["version"]


def test_many_short_lived_loops_each_get_their_own_queue() -> None:
    # New loops are often allocated where a closed one was; work finishing
    # just as a loop closes must never leave the next loop with a dead queue.
    async def one_round(index: int) -> int:
        results = await asyncio.gather(
            _fastio._on_worker(index), fastio.sleep(0.001, index), _fastio._on_worker(index)
        )
        return sum(results)

    for index in range(300):
        assert asyncio.run(one_round(index)) == 3 * index
