"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from typing import Any

import pytest


async def cancel_and_time(task: asyncio.Future[Any], message: str | None = None) -> float:
    """Cancels ``task``, checks it ends cancelled, returns the seconds that took."""
    started = time.monotonic()
    task.cancel(message)
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    if message is not None:
        assert raised.value.args == (message,)
    return time.monotonic() - started


async def open_connections_settle(server: Any, at_most: int, within: float = 5) -> int:
    """Waits (up to ``within`` s) until the test server has at most
    ``at_most`` open connections, which it closes asynchronously; returns
    the count seen last."""
    deadline = time.monotonic() + within
    while server.open_connections > at_most and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a server-side counter
        await asyncio.sleep(0.02)
    count: int = server.open_connections
    return count


def open_fds() -> int:
    """File descriptors open in this process (Linux: /proc)."""
    return len(os.listdir("/proc/self/fd"))


def run_script(
    source: str, *, env: Mapping[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Runs ``source`` (dedented) in a fresh interpreter, with ``env`` added
    to this process's environment; returns it finished, output captured."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
