"""What a request method returns: an awaitable that is a coroutine and an
async context manager (``_Call`` when the request runs through Python),
and the ``async with`` of ``Client.stream``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, TypeAlias

from fastio._fastio import FastioFuture, Request, Response
from fastio._upload import stop, with_upload

__all__ = ["Call", "Sent", "Stream", "sending_arguments"]


class Call(Coroutine[Any, Any, Response]):
    """A request that runs through Python (hooks, a mock transport, an
    uploaded async iterator): a coroutine to asyncio, which ``async with``
    also takes, as the native awaitable."""

    __slots__ = ("_coroutine",)

    def __init__(self, coroutine: Coroutine[Any, Any, Response]) -> None:
        self._coroutine = coroutine

    def __await__(self) -> Generator[Any, None, Response]:
        return self._coroutine.__await__()

    def send(self, value: Any) -> Any:
        return self._coroutine.send(value)

    def throw(self, *exception: Any) -> Any:
        return self._coroutine.throw(*exception)

    def close(self) -> None:
        self._coroutine.close()

    async def __aenter__(self) -> Response:
        return await self._coroutine

    async def __aexit__(self, *exc: object) -> None:
        # A whole response holds no connection; nothing to release.
        return None


# What every request method returns: an awaitable that is also a coroutine
# and an async context manager giving the Response.
Sent: TypeAlias = FastioFuture[Response] | Call


def sending_arguments(request: Request) -> dict[str, Any]:
    """What of ``request`` the engine takes as keyword arguments (its method,
    URL, content and timeout are passed on their own)."""
    return {
        "params": request.params,
        "headers": request.headers.multi_items(),
        "json": request.json,
        "data": request.data,
    }


class Stream:
    """The ``async with`` of :meth:`Client.stream`."""

    def __init__(self, future: Sent, pump: asyncio.Future[None] | None) -> None:
        self._future = future
        self._pump = pump
        self._response: Response | None = None

    async def __aenter__(self) -> Response:
        if self._pump is None:
            self._response = await self._future
        else:
            self._response = await with_upload(self._future, self._pump, body_done=False)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pump is not None:
            stop(self._pump)
        if self._response is not None:
            await self._response.aclose()
