"""fastio's exception hierarchy.

Every exception fastio raises for its own failures derives from
:class:`FastioError` (so ``except fastio.FastioError`` catches them all, and
``except Exception`` still sees them). Each also derives from the builtin a
user would naturally catch: :class:`TimeoutError` from ``builtins.TimeoutError``,
:class:`InvalidURL` from ``ValueError``, :class:`ClientClosed` from
``RuntimeError``. Errors about a request carry ``.url`` and a message that
names the method, the URL, what failed and why.

Hierarchy::

    FastioError
    ├── InternalError
    ├── RequestError
    │   ├── ConnectError
    │   │   ├── TLSError
    │   │   ├── ProxyError
    │   │   └── DNSError
    │   │       └── NameNotFound
    │   ├── TimeoutError (also builtins.TimeoutError)
    │   │   ├── ConnectTimeout
    │   │   ├── ReadTimeout
    │   │   ├── PoolTimeout
    │   │   └── WriteTimeout
    │   ├── ReadError
    │   │   └── WriteError
    │   ├── ProtocolError
    │   ├── TooManyRedirects
    │   ├── BodyTooLarge
    │   └── DecodeError
    ├── HTTPStatusError
    ├── InvalidURL (also ValueError)
    ├── ClientClosed (also RuntimeError)
    └── StreamError (also RuntimeError)
        ├── StreamConsumed
        ├── StreamClosed
        └── ResponseNotRead
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastio._fastio import Request, Response, Timings

__all__ = [
    "BodyTooLarge",
    "ClientClosed",
    "ConnectError",
    "ConnectTimeout",
    "DNSError",
    "DecodeError",
    "FastioError",
    "HTTPStatusError",
    "InternalError",
    "InvalidURL",
    "JSONDecodeError",
    "NameNotFound",
    "PoolTimeout",
    "ProtocolError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RequestError",
    "ResponseNotRead",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "TLSError",
    "TimeoutError",
    "TooManyRedirects",
    "WriteError",
    "WriteTimeout",
]


class FastioError(Exception):
    """Base class of every error fastio raises for its own failures.

    ``url`` is the URL the error is about, or None when it is about no URL
    (given ``request=``, that request's URL). ``request`` is the request
    given when the error was made (httpx's ``exc.request``, for a mock
    transport's handler), else None. ``index`` is, for a failure from
    ``fetch_all`` or ``fetch_iter``, the position of that URL in the input;
    otherwise None. ``timings``, for a request that failed, is where its
    last attempt's time went (:class:`fastio.Timings`: the phases its own
    connect reached, ``first_byte`` None); None for errors about no
    request, and after pickling.
    """

    url: str | None
    index: int | None
    request: Request | None
    timings: Timings | None

    def __init__(
        self, message: str, *, url: str | None = None, request: Request | None = None
    ) -> None:
        super().__init__(message)
        self.url = url if url is not None or request is None else str(request.url)
        self.request = request
        self.index = None
        self.timings = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles with its attributes (url, index, response), which the
        # default reduction would pass to __init__ as positional arguments;
        # timings stay behind, as a pickled Response's do.
        state = {**self.__dict__, "timings": None}
        return (_restore, (type(self), self.args, state))


def _restore(cls: type[FastioError], args: tuple[Any, ...], state: dict[str, Any]) -> FastioError:
    """The error ``FastioError.__reduce__`` took apart."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InternalError(FastioError):
    """A bug inside fastio, such as a panic in a Rust task. Please report it."""


class RequestError(FastioError):
    """The request failed in transport: nothing usable came back."""


class ConnectError(RequestError):
    """No connection could be made (refused, unreachable, DNS failure)."""


class TLSError(ConnectError):
    """The TLS handshake failed, for example an untrusted certificate."""


class TimeoutError(RequestError, builtins.TimeoutError):
    """The request's deadline passed (``timeout=``, or the connect timeout)."""


class ProxyError(ConnectError):
    """The proxy could not be reached, or refused the request."""


class DNSError(ConnectError):
    """The host's name could not be resolved: the DNS servers did not answer
    in time, or failed (:class:`NameNotFound`: they said it does not exist)."""


class NameNotFound(DNSError):
    """The host's name does not exist (NXDOMAIN), or has no address."""


class ConnectTimeout(TimeoutError):
    """No connection was made within the connect timeout (nothing was sent)."""


class ReadTimeout(TimeoutError):
    """The server sent nothing more within the read timeout."""


class PoolTimeout(TimeoutError):
    """No connection became free in the pool in time."""


class WriteTimeout(TimeoutError):
    """The server took none of the request body within the write timeout."""


class ReadError(RequestError):
    """The connection failed (reset, closed early) with the request in flight."""


class WriteError(ReadError):
    """The connection failed before the request body was all sent.

    A ReadError too: fastio raised ReadError for these before it told them
    apart, and ``except ReadError`` still catches both."""


class ProtocolError(RequestError):
    """The server broke the HTTP protocol (malformed response, bad chunking)."""


class TooManyRedirects(RequestError):
    """More redirects than allowed, or a redirect the policy refuses."""


class BodyTooLarge(RequestError):
    """The response body is larger than the allowed maximum."""


class DecodeError(RequestError):
    """The body could not be decoded (a broken gzip, brotli or zstd stream)."""


class JSONDecodeError(DecodeError, json.JSONDecodeError):
    """``Response.json()`` on a body that is not JSON: a :class:`DecodeError`
    (so ``except fastio.RequestError`` catches it) and a
    ``json.JSONDecodeError`` (so ``except ValueError`` still does), with
    ``msg``, ``doc``, ``pos``, ``lineno`` and ``colno`` as json's."""

    def __init__(self, message: str, doc: str, pos: int, *, url: str | None = None) -> None:
        json.JSONDecodeError.__init__(self, message, doc, pos)
        self.url = url
        self.request = None
        self.index = None
        self.timings = None


class HTTPStatusError(FastioError):
    """Raised by ``Response.raise_for_status()`` for a status of 400 or more."""

    response: Response

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        request: Request | None = None,
        response: Response,
    ) -> None:
        super().__init__(message, url=url, request=request)
        self.response = response

    @property
    def status(self) -> int:
        """The response's status (aiohttp's ``ClientResponseError.status``)."""
        return self.response.status


class InvalidURL(FastioError, ValueError):
    """A URL that does not parse, or whose scheme is not http or https."""


class ClientClosed(FastioError, RuntimeError):
    """The client was used after it was closed."""


class StreamError(FastioError, RuntimeError):
    """A streamed body was used in a way its one-pass reading does not allow."""


class StreamConsumed(StreamError):
    """The streamed body is already being (or was) read; it can be read once."""


class StreamClosed(StreamError):
    """The streamed response was closed (its ``async with`` block ended, or
    a read failed) before its body was read."""


class ResponseNotRead(StreamError):
    """``content``, ``text`` or ``json()`` of a streamed response before
    ``await response.aread()``."""
