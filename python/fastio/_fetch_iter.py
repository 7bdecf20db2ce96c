"""``fastio.fetch_iter`` and the async iterator it returns."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Generic, Literal, Self, TypeVar, overload

from fastio._fastio import Response, _fetch_stream, _FetchStream
from fastio._types import Headers, Timeout
from fastio.exceptions import FastioError

__all__ = ["FetchIterator", "fetch_iter"]

_Item = TypeVar("_Item", covariant=True)


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

    def __init__(self, stream: _FetchStream, *, return_exceptions: bool) -> None:
        self._stream = stream
        self._return_exceptions = return_exceptions
        self._ready: deque[Response | FastioError] = deque()
        self._ended = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Item:
        while not self._ready:
            if self._ended:
                raise StopAsyncIteration
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
) -> FetchIterator[Response] | FetchIterator[Response | FastioError]:
    """Fetches every URL, at most ``concurrency`` at a time, yielding each
    Response as it completes.

    The input is pulled lazily, as requests start (a generator of millions
    of URLs is fine), and results wait in a buffer of at most
    ``concurrency``: a slow consumer holds back new requests rather than
    piling up responses. Results come to the loop in batches, one wake-up
    for all that completed meanwhile.

    Example::

        async for response in fastio.fetch_iter(urls, concurrency=64):
            print(response.index, response.status, len(response.content))
    """
    stream = _fetch_stream(
        urls,
        concurrency=concurrency,
        method=method,
        headers=headers,
        timeout=timeout,
        retries=retries,
        return_exceptions=return_exceptions,
        verify=verify,
    )
    return FetchIterator(stream, return_exceptions=return_exceptions)
