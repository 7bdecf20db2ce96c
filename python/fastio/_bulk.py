"""What every bulk fetch shares (``fetch_all`` and ``fetch_iter``, on a
``Client`` or at module level): its keyword arguments, declared once in
:class:`BulkOptions`, the call into the native engine, the progress bar,
and the iterator ``fetch_iter`` returns."""

from __future__ import annotations

from collections import deque
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypedDict, TypeVar, cast

from fastio._fastio import Request, Response, _ClientSession, _FetchStream
from fastio._progress import ProgressBar, length_of, on_a_terminal
from fastio._types import Headers, Timeout
from fastio.exceptions import FastioError

__all__ = ["BulkOptions", "FetchIterator", "start_fetch_all", "start_fetch_iter"]

_Item = TypeVar("_Item", covariant=True)
_Result = TypeVar("_Result")


def _split(urls: Iterable[Any], options: BulkOptions) -> tuple[EngineOptions, ProgressBar | None]:
    """The engine's options, and the bar ``progress=True`` asks for (its
    total is ``total`` or ``len(urls)``): only where stderr is a terminal."""
    show = options.pop("progress", False)
    total = options.pop("total", None)
    engine = cast(EngineOptions, options)
    if not show or not on_a_terminal():
        return engine, None
    return engine, ProgressBar(total if total is not None else length_of(urls))


class EngineOptions(TypedDict, total=False):
    """The keyword arguments the native engine takes as they are."""

    concurrency: int
    method: str
    headers: Headers
    timeout: Timeout
    retries: int | None
    retry_methods: Iterable[str] | None
    max_body_size: int | None
    max_bytes_in_flight: int | None
    keep_body: bool


class BulkOptions(EngineOptions, total=False):
    """The keyword arguments of every ``fetch_all`` and ``fetch_iter``.

    - ``concurrency``: requests in flight at most (default 100).
    - ``method``: the HTTP method of every request (default GET).
    - ``headers``: sent with every request, over the client's.
    - ``timeout``: each attempt's deadline in seconds, started when the
      request does (not while it waits for a slot); None for none.
    - ``retries``, ``retry_methods``: as for :class:`fastio.Client`
      (default: the client's; no retries, idempotent methods).
    - ``max_body_size``: the most (decoded) body bytes per response.
    - ``max_bytes_in_flight``: the most body bytes all the responses being
      read may hold together (default 1 GiB); a body that would pass it
      waits, reading nothing, until others finish. The body that began
      first never waits, so at most this plus one ``max_body_size`` is held.
    - ``keep_body``: False reads, decodes and counts each body without
      keeping it (``Response.body_size`` has its length; ``content`` raises
      ``ResponseNotRead``): for checking links or statuses at any scale.
    - ``progress``: show a bar on stderr when it is a terminal (not in a
      pipe, file or log); ``total``: its total when the input has no
      ``len()``.
    """

    progress: bool
    total: int | None


async def with_progress(future: Coroutine[Any, Any, _Result], bar: ProgressBar) -> _Result:
    """Awaits ``future`` with ``bar`` shown meanwhile."""
    bar.start()
    try:
        return await future
    finally:
        bar.close()


class Serving(Protocol):
    """What runs beside a bulk call while it waits (a mock transport's
    handler): begun before the first wait, ended when the call closes."""

    def begin(self) -> None: ...
    def end(self) -> None: ...


class FetchIterator(Generic[_Item]):
    """Responses in the order they complete; see :func:`fetch_iter`.

    Each Response has ``.request_url`` and ``.index`` (its URL's position
    in the input). With ``return_exceptions=True`` a failed URL yields its
    exception (with ``.url`` and ``.index``); otherwise the first failure
    is raised and the rest is stopped.

    Close it early with ``await it.aclose()`` or ``async with``: requests in
    flight are dropped and their connections freed. Cancelling the task
    that waits in ``async for`` closes it too.
    """

    def __init__(
        self,
        stream: _FetchStream,
        *,
        return_exceptions: bool,
        progress: ProgressBar | None = None,
        serving: Serving | None = None,
    ) -> None:
        self._stream = stream
        self._serving = serving
        self._return_exceptions = return_exceptions
        self._progress = progress
        self._ready: deque[Response | FastioError] = deque()
        self._ended = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Item:
        while not self._ready:
            if self._ended:
                self._close()
                raise StopAsyncIteration
            if self._progress is not None:
                self._progress.start()
            if self._serving is not None:
                self._serving.begin()
            try:
                results, self._ended = await self._stream.next_batch()
            except BaseException:
                self._close()
                raise
            self._ready.extend(results)
        item = self._ready.popleft()
        if isinstance(item, FastioError) and not self._return_exceptions:
            self._close()
            raise item
        return item  # type: ignore[return-value]

    def _close(self) -> None:
        self._ended = True
        self._ready.clear()
        self._stream.close()
        if self._serving is not None:
            self._serving.end()
        if self._progress is not None:
            self._progress.close()

    async def aclose(self) -> None:
        """Stops: requests in flight are dropped, no more URLs are pulled."""
        self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()


def start_fetch_all(
    session: _ClientSession,
    urls: Iterable[str | Request],
    return_exceptions: bool,
    options: BulkOptions,
) -> Coroutine[Any, Any, list[Any]]:
    """``fetch_all`` on ``session``: the awaitable of the results in input order."""
    engine, bar = _split(urls, options)
    future = session.fetch_many(
        urls,
        in_order=True,
        return_exceptions=return_exceptions,
        progress=bar.counts if bar is not None else None,
        **engine,
    )
    return future if bar is None else with_progress(future, bar)


def start_fetch_iter(
    session: _ClientSession,
    urls: Iterable[str | Request],
    return_exceptions: bool,
    options: BulkOptions,
    *,
    serving: Serving | None = None,
) -> FetchIterator[Any]:
    """``fetch_iter`` on ``session``: the iterator of results as they
    complete; ``serving`` (a mock transport's) is begun before the first
    wait and ended when the iterator closes."""
    engine, bar = _split(urls, options)
    stream = session.fetch_many(
        urls,
        in_order=False,
        return_exceptions=return_exceptions,
        progress=bar.counts if bar is not None else None,
        **engine,
    )
    return FetchIterator(stream, return_exceptions=return_exceptions, progress=bar, serving=serving)
