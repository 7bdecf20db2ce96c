"""fastio's native module. Import from :mod:`fastio` instead."""

from collections.abc import Awaitable, Callable, Generator
from contextvars import Context
from typing import Any, Generic, Literal, Self, TypeVar, final, overload

_T = TypeVar("_T")

__version__: str
__all__ = [
    "FastioFuture",
    "__version__",
    "_completed",
    "_on_worker",
    "_panic_on_worker",
    "gather",
    "sleep",
]

@final
class FastioFuture(Generic[_T]):
    """An awaitable whose work runs in Rust, treated by asyncio as a future.

    ``asyncio.isfuture`` is true for it, so it can be awaited, passed to
    ``asyncio.gather``, ``asyncio.wait``, ``asyncio.wait_for`` and
    ``asyncio.ensure_future`` (which returns it unchanged). Like an
    ``asyncio.Future`` it is not a coroutine: ``asyncio.run`` and
    ``asyncio.create_task`` want one, so wrap it in ``async def`` there.

    Its work starts when it is first awaited or first handed to asyncio,
    and runs on fastio's tokio runtime; the result comes back to the event
    loop it started on. Instances are made by fastio functions such as
    :func:`sleep`, never directly.

    Example::

        pending = fastio.sleep(0.1, "done")
        assert asyncio.isfuture(pending)
        assert await pending == "done"
    """

    def __await__(self) -> Generator[Any, None, _T]:
        """Starts the work if needed and waits for its result."""
    def __iter__(self) -> Generator[Any, None, _T]:
        """The same iterator as ``__await__``."""
    def __next__(self) -> Any:
        """One step of an ``await``; raises StopIteration with the result."""
    @property
    def _asyncio_future_blocking(self) -> bool:
        """asyncio's marker of a future; reading it starts the work."""
    @_asyncio_future_blocking.setter
    def _asyncio_future_blocking(self, value: bool) -> None: ...
    def add_done_callback(
        self, fn: Callable[[Self], object], *, context: Context | None = None
    ) -> None:
        """Schedules ``fn(self)`` with ``loop.call_soon`` once done; starts the work.

        Callbacks never run inline; ``context`` defaults to a copy of the
        current context, as for ``asyncio.Future``.
        """
    def remove_done_callback(self, fn: Callable[[Self], object], /) -> int:
        """Removes every registration of ``fn`` and returns how many there were."""
    def cancel(self, msg: Any | None = None) -> bool:
        """Cancels the awaitable and aborts its Rust work at once.

        Returns False if it was already done or cancelled.
        """
    def cancelled(self) -> bool:
        """True if it was cancelled."""
    def done(self) -> bool:
        """True if it has a result, an exception, or was cancelled."""
    def result(self) -> _T:
        """The result; raises the exception, CancelledError, or InvalidStateError."""
    def exception(self) -> BaseException | None:
        """The exception, or None; raises CancelledError or InvalidStateError."""
    def get_loop(self) -> Any:
        """The event loop this awaitable belongs to (the running one if unstarted)."""
    def _make_cancelled_error(self) -> BaseException:
        """The CancelledError to raise, carrying the cancel message."""

@overload
def sleep(delay: float) -> FastioFuture[None]:
    """Waits ``delay`` seconds on a tokio timer, then returns ``result``.

    Behaves like ``asyncio.sleep``: the timer starts at the first await (or
    when handed to ``gather``/``ensure_future``); ``sleep(0)`` and negative
    delays yield to the event loop exactly once; ``math.inf`` (or a delay too
    large for a timer) sleeps until cancelled; cancelling stops the timer at
    once. The timer's resolution is one millisecond.

    Raises TypeError if ``delay`` is not a real number and ValueError if it
    is NaN.

    Example::

        assert await fastio.sleep(0.5, "ready") == "ready"
    """

@overload
def sleep(delay: float, result: _T) -> FastioFuture[_T]: ...
@overload
def gather(
    *aws: Awaitable[_T], return_exceptions: Literal[False] = False
) -> FastioFuture[list[_T]]:
    """Runs awaitables concurrently; returns their results in argument order.

    A drop-in for ``asyncio.gather``, with the same contract: the first
    exception propagates (the other children keep running) unless
    ``return_exceptions`` is true, which puts exceptions in place;
    cancelling the returned awaitable cancels every child; ``gather()``
    returns ``[]``; an awaitable passed twice runs once and its result
    appears twice; any mix of coroutines, tasks, futures and fastio
    awaitables is accepted, and anything else raises TypeError.

    fastio awaitables whose work has not started are joined inside Rust as
    one future: the event loop is woken once for the whole group instead of
    once per child, and each child still finishes as a future of its own.
    Other children go through ``asyncio.ensure_future`` as usual.

    Must be called with an event loop running.

    Example::

        sleeps = [fastio.sleep(0.01, n) for n in range(100_000)]
        assert await fastio.gather(*sleeps) == list(range(100_000))
    """

@overload
def gather(
    *aws: Awaitable[_T], return_exceptions: bool
) -> FastioFuture[list[_T | BaseException]]: ...
def _completed(value: _T) -> FastioFuture[_T]:
    """Internal: an awaitable already finished with ``value`` (tests, benchmarks)."""

def _on_worker(value: _T) -> FastioFuture[_T]:
    """Internal: finishes with ``value`` on a tokio worker (tests, benchmarks)."""

def _panic_on_worker(message: str) -> FastioFuture[None]:
    """Internal: panics on a tokio worker, to prove it surfaces as InternalError."""
