"""A mock transport's handler, where the network would be: the engine hands
each request of a ``Client(transport=...)``, as it would go on the wire, to
the event loop, where the handler's answer goes back as a server's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from fastio._fastio import Request, Response, _ClientSession, _Exchange

__all__ = ["HandlerServer", "Transport"]

_T = TypeVar("_T")


class Transport(Protocol):
    """What ``Client(transport=...)`` takes: :class:`fastio.testing.MockTransport`."""

    async def handle(self, request: Request) -> Response: ...


class HandlerServer:
    """Answers one client's requests with ``transport`` on the running loop:
    one task takes the waiting requests, and each is answered in a task of
    its own (a slow handler holds up only its request)."""

    def __init__(self, session: _ClientSession, transport: Transport) -> None:
        self._session = session
        self._transport = transport
        self._task: asyncio.Task[None] | None = None
        self._answering: set[asyncio.Task[None]] = set()

    def ensure(self) -> None:
        """Starts serving on the running loop, unless it already is."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._serve(), name="fastio mock transport")

    async def served(self, awaitable: Awaitable[_T]) -> _T:
        """``awaitable``'s result, with this server running meanwhile."""
        self.ensure()
        return await awaitable

    def stop(self) -> None:
        """Stops taking requests (the client is closing)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

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
