"""fastio: asyncio primitives whose work runs in Rust, on tokio.

Awaitables from fastio are futures to asyncio: await them, gather them,
wrap them with ``asyncio.wait_for``. Their Rust work never holds the GIL, and
results come back to the event loop in batches through one wake-up fd per
loop.

Example::

    import asyncio
    import fastio

    async def main() -> None:
        print(await fastio.sleep(0.1, "woke up"))

    asyncio.run(main())
"""

from __future__ import annotations

from fastio._fastio import FastioFuture, __version__, gather, sleep
from fastio.exceptions import FastioError, InternalError

__all__ = [
    "FastioError",
    "FastioFuture",
    "InternalError",
    "__version__",
    "gather",
    "sleep",
]
