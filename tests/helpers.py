"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
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
