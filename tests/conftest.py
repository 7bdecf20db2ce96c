"""Shared helpers for fastio's tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import uvloop

import fastio.testing
from fastio._fastio import Server

T = TypeVar("T")

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def run_on_each_loop(
    request: pytest.FixtureRequest,
) -> Callable[[Callable[[], Coroutine[Any, Any, T]]], T]:
    """Runs a coroutine function to completion on the default loop and on uvloop."""
    factory = LOOP_FACTORIES[request.param]

    def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main())

    return run


@pytest.fixture
def server() -> Iterator[Server]:
    """fastio's own test server on 127.0.0.1 (see fastio.testing for its routes)."""
    with fastio.testing.serve() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
