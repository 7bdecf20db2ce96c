"""``fastio.fetch_all`` and ``fastio.fetch_iter`` (the module-level ones;
``Client`` has the same on its own settings), with their progress bar."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Iterable
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

from fastio import _fastio
from fastio._fastio import FastioFuture, Response, _FetchStream
from fastio._progress import ProgressBar, length_of
from fastio._types import Headers, Timeout
from fastio.exceptions import FastioError

__all__ = ["FetchIterator", "fetch_all", "fetch_iter", "progress_bar", "with_progress"]

_Item = TypeVar("_Item", covariant=True)
_Result = TypeVar("_Result")


def progress_bar(show: bool, urls: Iterable[Any], total: int | None) -> ProgressBar | None:
    """The bar for ``progress=show``; its total is ``total`` or ``len(urls)``."""
    if not show:
        return None
    return ProgressBar(total if total is not None else length_of(urls))


async def with_progress(future: Awaitable[_Result], bar: ProgressBar) -> _Result:
    """Awaits ``future`` with ``bar`` shown meanwhile."""
    bar.start()
    try:
        return await future
    finally:
        bar.close()


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
    ) -> None:
        self._stream = stream
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
            try:
                results, want, ended = await self._stream.next_batch()
                if want:
                    self._stream.feed(want)
            except BaseException:
                self._close()
                raise
            self._ready.extend(results)
            self._ended = ended
        item = self._ready.popleft()
        if isinstance(item, FastioError) and not self._return_exceptions:
            self._close()
            raise item
        return item  # type: ignore[return-value]

    def _close(self) -> None:
        self._ended = True
        self._ready.clear()
        self._stream.close()
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


@overload
def fetch_all(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: Literal[False] = False,
    verify: bool = True,
    max_body_size: int | None = None,
    progress: Literal[False] = False,
    total: int | None = None,
) -> FastioFuture[list[Response]]: ...
@overload
def fetch_all(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: Literal[True],
    verify: bool = True,
    max_body_size: int | None = None,
    progress: Literal[False] = False,
    total: int | None = None,
) -> FastioFuture[list[Response | FastioError]]: ...
@overload
def fetch_all(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: Literal[False] = False,
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool,
    total: int | None = None,
) -> Awaitable[list[Response]]: ...
@overload
def fetch_all(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: Literal[True],
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool,
    total: int | None = None,
) -> Awaitable[list[Response | FastioError]]: ...
@overload
def fetch_all(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: bool,
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool = False,
    total: int | None = None,
) -> Awaitable[list[Response]] | Awaitable[list[Response | FastioError]]: ...
def fetch_all(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: bool = False,
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool = False,
    total: int | None = None,
) -> Awaitable[list[Response]] | Awaitable[list[Response | FastioError]]:
    """Fetches every URL, at most ``concurrency`` at a time; returns the
    Responses in input order.

    ``urls`` is any iterable of str (list, tuple, generator); it is consumed
    lazily in chunks, so a huge input is never held twice. A bare str is a
    TypeError; ``concurrency < 1`` is a ValueError. HTTP error statuses are
    Responses, not failures. The first failure (a transport error, or an
    invalid URL) raises and cancels the rest, unless ``return_exceptions``
    is true, which puts each failure's exception (with ``.index``) in its
    place. ``timeout`` applies to each attempt of each request and starts
    when the request does, not while it waits for a free slot; ``retries``
    as for :func:`fetch`; ``max_body_size`` as for :func:`fetch`. Each
    Response has ``.index``.

    ``progress=True`` shows a bar on stderr (done/total, req/s, errors,
    ETA), fed from counters kept in Rust; ``total`` is its total when
    ``urls`` has no ``len()``.

    The whole batch is one Rust task. Results come back to the event loop
    in input order while later requests still run, a few hundred per
    wake-up, converted in slices of 64 between other callbacks.

    Example::

        responses = await fastio.fetch_all(urls, concurrency=200)
        sizes = [len(response.content) for response in responses]
    """
    bar = progress_bar(progress, urls, total)
    future = _fastio.fetch_all(
        urls,
        concurrency=concurrency,
        method=method,
        headers=headers,
        timeout=timeout,
        retries=retries,
        return_exceptions=return_exceptions,
        verify=verify,
        max_body_size=max_body_size,
        progress=bar.counts if bar is not None else None,
    )
    return future if bar is None else with_progress(future, bar)


@overload
def fetch_iter(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: Literal[False] = False,
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool = False,
    total: int | None = None,
) -> FetchIterator[Response]: ...
@overload
def fetch_iter(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: Literal[True],
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool = False,
    total: int | None = None,
) -> FetchIterator[Response | FastioError]: ...
def fetch_iter(
    urls: Iterable[str],
    *,
    concurrency: int = 100,
    method: str = "GET",
    headers: Headers = None,
    timeout: Timeout = ...,
    retries: int = 0,
    return_exceptions: bool = False,
    verify: bool = True,
    max_body_size: int | None = None,
    progress: bool = False,
    total: int | None = None,
) -> FetchIterator[Response] | FetchIterator[Response | FastioError]:
    """Fetches every URL, at most ``concurrency`` at a time, yielding each
    Response as it completes.

    The input is pulled lazily, as requests start (a generator of millions
    of URLs is fine), and results wait in a buffer of at most
    ``concurrency``: a slow consumer holds back new requests rather than
    piling up responses. Results come to the loop in batches, one wake-up
    for all that completed meanwhile. ``progress`` and ``total`` as for
    :func:`fetch_all`.

    Example::

        async for response in fastio.fetch_iter(urls, concurrency=64):
            print(response.index, response.status, len(response.content))
    """
    bar = progress_bar(progress, urls, total)
    stream = _fastio._fetch_stream(
        urls,
        concurrency=concurrency,
        method=method,
        headers=headers,
        timeout=timeout,
        retries=retries,
        return_exceptions=return_exceptions,
        verify=verify,
        max_body_size=max_body_size,
        progress=bar.counts if bar is not None else None,
    )
    return FetchIterator(stream, return_exceptions=return_exceptions, progress=bar)
