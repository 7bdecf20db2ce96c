"""fastio: fast asyncio primitives whose work runs in Rust on tokio.

>>> import asyncio, fastio
>>> asyncio.run(fastio_demo := None or asyncio.sleep(0))  # doctest: +SKIP
"""

from __future__ import annotations

from fastio._fastio import FastioFuture, __version__, sleep
from fastio.exceptions import FastioError, InternalError

__all__ = [
    "FastioError",
    "FastioFuture",
    "InternalError",
    "__version__",
    "sleep",
]
