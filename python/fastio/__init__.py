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

import collections.abc

from fastio._api import fetch, fetch_all, fetch_iter
from fastio._bulk import FetchIterator
from fastio._client import Client
from fastio._fastio import (
    FastioFuture,
    Headers,
    Request,
    Response,
    Timeout,
    Timings,
    __version__,
    configure_runtime,
    gather,
    sleep,
)
from fastio._types import Limits
from fastio._url import URL, QueryParams
from fastio.exceptions import (
    BodyTooLarge,
    ClientClosed,
    ConnectError,
    ConnectTimeout,
    DecodeError,
    DNSError,
    FastioError,
    HTTPStatusError,
    InternalError,
    InvalidURL,
    JSONDecodeError,
    NameNotFound,
    PoolTimeout,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    RequestError,
    ResponseNotRead,
    StreamClosed,
    StreamConsumed,
    StreamError,
    TimeoutError,
    TLSError,
    TooManyRedirects,
    WriteError,
    WriteTimeout,
)

collections.abc.Mapping.register(Headers)

__all__ = [
    "URL",
    "BodyTooLarge",
    "Client",
    "ClientClosed",
    "ConnectError",
    "ConnectTimeout",
    "DNSError",
    "DecodeError",
    "FastioError",
    "FastioFuture",
    "FetchIterator",
    "HTTPStatusError",
    "Headers",
    "InternalError",
    "InvalidURL",
    "JSONDecodeError",
    "Limits",
    "NameNotFound",
    "PoolTimeout",
    "ProtocolError",
    "ProxyError",
    "QueryParams",
    "ReadError",
    "ReadTimeout",
    "Request",
    "RequestError",
    "Response",
    "ResponseNotRead",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "TLSError",
    "Timeout",
    "TimeoutError",
    "Timings",
    "TooManyRedirects",
    "WriteError",
    "WriteTimeout",
    "__version__",
    "configure_runtime",
    "fetch",
    "fetch_all",
    "fetch_iter",
    "gather",
    "sleep",
]
