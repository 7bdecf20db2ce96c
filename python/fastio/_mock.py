"""A mock transport's handler, where the network would be: the engine hands
each request of a ``Client(transport=...)``, as it would go on the wire, to
the event loop, where the handler's answer goes back as a server's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from fastio._fastio import Request, Response, _ClientSession, _Exchange

__all__ = ["HandlerServer", "Lease", "Transport"]

_T = TypeVar("_T")


class Transport(Protocol):
    """What ``Client(transport=...)`` takes: :class:`fastio.testing.MockTransport`."""

    async def handle(self, request: Request) -> Response: ...


class HandlerServer:
    """Answers one client's requests with ``transport`` on the running loop:
    one task takes the waiting requests, and each is answered in a task of
    its own (a slow handler holds up only its request). The task runs only
    while a request is in flight, so a loop closed between requests holds
    no task of fastio's."""

    def __init__(self, session: _ClientSession, transport: Transport) -> None:
        self._session = session
        self._transport = transport
        self._task: asyncio.Task[None] | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self._active = 0

    def begin(self) -> None:
        """A request (or a bulk call) starts: serve on the running loop."""
        self._active += 1
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._serve(), name="fastio mock transport")

    def end(self) -> None:
        """A request (or a bulk call) is over: the last one stops the serving."""
        self._active -= 1
        if self._active <= 0:
            self._active = 0
            self.stop()

    def lease(self) -> Lease:
        """A begin and its end for a ``fetch_iter``, each at most once."""
        return Lease(self)

    async def served(self, awaitable: Awaitable[_T]) -> _T:
        """``awaitable``'s result, with this server running meanwhile."""
        self.begin()
        try:
            return await awaitable
        finally:
            self.end()

    def stop(self) -> None:
        """Stops taking requests (the last one ended, or the client closes);
        handlers still answering have no request waiting and are cancelled,
        as httpx's would be with the request that ran them."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for answering in self._answering:
            answering.cancel()

    async def _serve(self) -> None:
        while (batch := await self._session.next_exchanges()) is not None:
            for exchange in batch:
                task = asyncio.ensure_future(self._answer(exchange))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)

    async def _answer(self, exchange: _Exchange) -> None:
        try:
            exchange.answer(await self._transport.handle(exchange.request))
        except BaseException as raised:
            # Whatever the handler raised, the request raises (fastio's own
            # transport errors as the network's, retried as such).
            exchange.fail(raised)
            if not isinstance(raised, Exception):
                raise


class Lease:
    """One ``fetch_iter``'s claim on a :class:`HandlerServer`: begun before
    its first wait for results, ended when it closes."""

    __slots__ = ("_begun", "_ended", "_server")

    def __init__(self, server: HandlerServer) -> None:
        self._server = server
        self._begun = self._ended = False

    def begin(self) -> None:
        if not self._begun:
            self._begun = True
            self._server.begin()

    def end(self) -> None:
        if self._begun and not self._ended:
            self._ended = True
            self._server.end()
