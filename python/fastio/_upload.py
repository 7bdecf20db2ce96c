"""A request body streamed from the caller's async iterator: the task that
pumps it into the engine, and the request awaited alongside it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Coroutine
from typing import Any

from fastio._fastio import Response, _UploadBody

__all__ = ["pump", "stop", "with_upload"]


async def pump(source: AsyncIterable[bytes], body: _UploadBody) -> None:
    """Feeds a streamed request body from the caller's async iterator (the
    engine holds the server to the write timeout)."""
    try:
        async for chunk in source:
            if not await body.send(chunk):
                return  # the request stopped reading its body
    except BaseException as error:
        body.fail(f"the content iterator raised {type(error).__name__}: {error}")
        raise
    body.finish()


async def with_upload(
    future: Coroutine[Any, Any, Response], pumping: asyncio.Future[None], *, body_done: bool
) -> Response:
    """Awaits a request whose body ``pumping`` streams. If pumping fails (the
    content iterator raised, or the server took no data within the write
    timeout), the request stops and its exception is raised.
    ``body_done``: the exchange is over with the response (not streamed),
    so pumping stops too."""

    def stop_request(done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            future.close()  # a FastioFuture's close cancels its request

    pumping.add_done_callback(stop_request)
    try:
        response = await future
    except BaseException as error:
        if pumping.done() and not pumping.cancelled() and pumping.exception() is not None:
            raise pumping.exception() from error  # type: ignore[misc]
        stop(pumping)
        raise
    if body_done:
        stop(pumping)
    return response


def stop(pump: asyncio.Future[None]) -> None:
    """Ends the pump task (its exception, if any, counts as retrieved)."""
    if pump.done():
        if not pump.cancelled():
            pump.exception()  # retrieved: asyncio must not log it
    else:
        pump.cancel()
