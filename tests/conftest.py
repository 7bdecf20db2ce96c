"""Shared helpers for fastio's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import uvloop

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
