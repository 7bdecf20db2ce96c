"""fastio's engine under httpx: one line gives code written for httpx
fastio's connections, pool and speed::

    client = httpx.AsyncClient(transport=fastio.httpx.AsyncHTTPTransport(http2=True))

The transport sends exactly one request and returns one response, as httpx
expects: redirects, cookies, auth and event hooks stay httpx's; bodies come
back as sent (httpx decodes them) and are streamed. It works with httpx
and with its fork httpx2 (whichever of the two made the request); importing
it needs only one of them installed.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from os import PathLike
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import fastio
from fastio._calls import Stream
from fastio._client import Client
from fastio._fastio import Response as FastioResponse
from fastio._fastio import Timeout

__all__ = ["AsyncHTTPTransport", "HTTPTransport"]

_T = TypeVar("_T")


def _installed() -> ModuleType:
    for name in ("httpx", "httpx2"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("fastio.httpx needs httpx (or its fork httpx2): pip install httpx")


_httpx = _installed()

if TYPE_CHECKING:
    import httpx

    _AsyncBase = httpx.AsyncBaseTransport
    _SyncBase = httpx.BaseTransport
else:
    _AsyncBase = _httpx.AsyncBaseTransport
    _SyncBase = _httpx.BaseTransport

#: fastio's failures as httpx's, most specific first.
_ERRORS: tuple[tuple[type[fastio.FastioError], str], ...] = (
    (fastio.PoolTimeout, "PoolTimeout"),
    (fastio.WriteTimeout, "WriteTimeout"),
    (fastio.ConnectTimeout, "ConnectTimeout"),
    (fastio.ReadTimeout, "ReadTimeout"),
    (fastio.TimeoutError, "TimeoutException"),
    (fastio.ProxyError, "ProxyError"),
    (fastio.ConnectError, "ConnectError"),
    (fastio.WriteError, "WriteError"),
    (fastio.ReadError, "ReadError"),
    (fastio.ProtocolError, "RemoteProtocolError"),
    (fastio.ClientClosed, "TransportError"),
    (fastio.RequestError, "LocalProtocolError"),
)

#: Headers fastio frames itself (a streamed body is sent chunked).
_FRAMING = frozenset({b"transfer-encoding"})


_MODULES: dict[type, ModuleType] = {}


def _module_of(request: Any) -> ModuleType:
    """httpx or httpx2: the module whose Request this is."""
    kind = type(request)
    module = _MODULES.get(kind)
    if module is None:
        module = _MODULES[kind] = importlib.import_module(kind.__module__.partition(".")[0])
    return module


def _as_httpx(error: Exception, request: Any) -> Exception:
    """``error`` as the httpx exception an httpcore transport would raise."""
    if isinstance(error, fastio.InvalidURL):
        http = str(request.url.scheme) in ("http", "https")
        name = "LocalProtocolError" if http else "UnsupportedProtocol"
    else:
        name = next((name for kind, name in _ERRORS if isinstance(error, kind)), "")
    if not name:
        return error
    mapped: Exception = getattr(_module_of(request), name)(str(error), request=request)
    return mapped


_STREAM_CLASSES: dict[str, tuple[type, type]] = {}


def _stream_classes(module: ModuleType) -> tuple[type, type]:
    """The response-body classes for one httpx module (its isinstance checks
    want its own ByteStream classes), made once."""
    made = _STREAM_CLASSES.get(module.__name__)
    if made is None:
        made = _STREAM_CLASSES[module.__name__] = (
            type("FastioAsyncStream", (_AsyncBody, module.AsyncByteStream), {}),
            type("FastioSyncStream", (_SyncBody, module.SyncByteStream), {}),
        )
    return made


class _AsyncBody:
    """A response body as fastio reads it, raw (httpx decodes it)."""

    def __init__(self, opening: Stream, response: FastioResponse, request: Any) -> None:
        self._opening = opening
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except fastio.FastioError as error:
            raise _as_httpx(error, self._request) from error

    async def aclose(self) -> None:
        # Leaving Client.stream's block releases the connection (and ends
        # an upload still going).
        await self._opening.__aexit__(None, None, None)


class _SyncBody:
    """A response body read from another thread through the transport's loop."""

    def __init__(self, body: _AsyncBody, runner: _LoopThread) -> None:
        self._body = body
        self._runner = runner

    def __iter__(self) -> Iterator[bytes]:
        chunks = self._body.__aiter__()
        while True:
            try:
                yield self._runner.run(chunks.__anext__())
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._runner.run(self._body.aclose())


def _verify(verify: ssl.SSLContext | str | PathLike[str] | bool) -> bool | str:
    if isinstance(verify, ssl.SSLContext):
        raise TypeError(
            "fastio.httpx cannot use an ssl.SSLContext (fastio's TLS is rustls): give "
            "verify=True (the system's roots), False, or the path of a PEM file of CA "
            "certificates to trust besides them"
        )
    if isinstance(verify, bool):
        return verify
    return str(verify)


def _cert(cert: Any) -> str | tuple[str, str] | None:
    if cert is None:
        return None
    if isinstance(cert, (str, PathLike)):
        return str(cert)
    if isinstance(cert, tuple) and len(cert) == 2:
        return (str(cert[0]), str(cert[1]))
    raise TypeError(
        "cert must be a PEM file holding the certificate and its key, or "
        "(certificate file, key file); fastio reads no encrypted keys (no password)"
    )


def _proxy(proxy: Any) -> str | None:
    if proxy is None:
        return None
    if isinstance(proxy, str):
        return proxy
    url = getattr(proxy, "url", proxy)
    auth = getattr(proxy, "raw_auth", None)
    if getattr(proxy, "ssl_context", None) is not None or getattr(proxy, "headers", None):
        raise TypeError(
            "fastio.httpx takes a proxy URL (with credentials); not its headers or SSL context"
        )
    text = str(url)
    if auth is not None:
        user, password = (part.decode() if isinstance(part, bytes) else part for part in auth)
        scheme, _, rest = text.partition("://")
        text = f"{scheme}://{user}:{password}@{rest.rpartition('@')[2]}"
    return text


def _http2(http1: bool, http2: bool) -> bool | None:
    if not http1 and not http2:
        raise ValueError("at least one of http1 and http2 must be True")
    if http1 and http2:
        return None  # ALPN chooses (over TLS); HTTP/1.1 over plain TCP
    return http2


class AsyncHTTPTransport(_AsyncBase):
    """An ``httpx.AsyncBaseTransport`` that sends through fastio's engine.

    Takes httpx's transport options where fastio can honour them:
    ``verify`` (bool or a CA file path; an ``ssl.SSLContext`` is refused),
    ``cert`` (a PEM file, or (cert, key)), ``http1``, ``http2``,
    ``limits`` (``httpx.Limits``), ``proxy`` (http, https, socks5, socks5h;
    a URL or ``httpx.Proxy`` with ``auth``), ``local_address``, ``retries``
    (connect retries), ``trust_env`` (proxy variables); plus fastio's
    ``per_host``, ``rate_limit`` and ``resolve`` (``{"host": "ip"}``).
    ``uds`` and ``socket_options`` are refused: fastio has neither.

    Timeouts come from each request (httpx's ``timeout=``): connect, read,
    write and pool, as httpx means them. Cancelling a request frees its
    connection slot and stops its work.
    """

    def __init__(
        self,
        verify: ssl.SSLContext | str | PathLike[str] | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: Any = None,
        proxy: Any = None,
        uds: str | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: Iterable[Any] | None = None,
        *,
        per_host: int | None = None,
        rate_limit: float | None = None,
        resolve: Mapping[str, str] | None = None,
    ) -> None:
        if uds is not None:
            raise ValueError("fastio.httpx cannot connect over a Unix domain socket (uds=)")
        if socket_options is not None:
            raise ValueError("fastio.httpx takes no socket_options")
        if limits is None:
            limits = _httpx.Limits(max_connections=100, max_keepalive_connections=20)
        checked_verify = _verify(verify)
        self._client = Client(
            timeout=Timeout(None),
            follow_redirects=False,
            cookie_jar=False,
            verify=checked_verify is not False,
            ca_bundle=checked_verify if isinstance(checked_verify, str) else None,
            cert=_cert(cert),
            trust_env=trust_env,
            http2=_http2(http1, http2),
            limits=limits,
            proxy=_proxy(proxy),
            local_address=local_address,
            retries=retries,
            retry_methods=(),
            per_host=per_host,
            rate_limit=rate_limit,
            resolve=resolve,
        )

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content: bytes | AsyncIterable[bytes] | None
        try:
            content = request.content or None
        except _module_of(request).RequestNotRead:
            content = _chunks(request.stream)  # type: ignore[arg-type]
        response: httpx.Response = await self._send(request, content)
        return response

    async def _send(self, request: Any, content: bytes | AsyncIterable[bytes] | None) -> Any:
        module = _module_of(request)
        limits = request.extensions.get("timeout", {})
        timeout = Timeout(
            None,
            connect=limits.get("connect"),
            read=limits.get("read"),
            write=limits.get("write"),
            pool=limits.get("pool"),
        )
        try:
            opening = self._client.stream(
                request.method,
                str(request.url),
                headers=_headers(request),
                content=content,
                timeout=timeout,
            )
            response = await opening.__aenter__()
        except fastio.FastioError as error:
            raise _as_httpx(error, request) from error
        body_class, _ = _stream_classes(module)
        return module.Response(
            status_code=response.status,
            headers=list(response.headers.multi_items()),
            stream=body_class(opening, response, request),
            extensions={
                "http_version": response.http_version.encode(),
                "reason_phrase": response.reason_phrase.encode(),
            },
        )

    async def aclose(self) -> None:
        await self._client.aclose()


_Self = TypeVar("_Self", bound=AsyncHTTPTransport)


def _headers(request: Any) -> list[tuple[str, str]]:
    """The request's headers as fastio sends them: framing left to fastio,
    no Host (the URL's authority, which HTTP/2 sends as :authority), and
    ``Accept-Encoding: identity`` when httpx asked for no encoding (fastio
    would offer its own, which httpx may not decode)."""
    headers = []
    encodings = False
    authority = request.url.netloc
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower in _FRAMING or (lower == b"host" and value == authority):
            continue
        encodings = encodings or lower == b"accept-encoding"
        headers.append((_text(name), _text(value)))
    if not encodings:
        headers.append(("accept-encoding", "identity"))
    return headers


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def _chunks(stream: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


class _LoopThread:
    """An event loop on a thread of its own, for the sync transport."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fastio httpx transport", daemon=True
        )
        self._thread.start()

    def run(self, work: Awaitable[_T]) -> _T:
        future: Future[_T] = asyncio.run_coroutine_threadsafe(_awaited(work), self._loop)
        return future.result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _awaited(work: Awaitable[_T]) -> _T:
    return await work


class HTTPTransport(_SyncBase):
    """The same for ``httpx.Client``: requests run on an event loop of the
    transport's own, on a thread of its own, while the calling thread
    waits; takes :class:`AsyncHTTPTransport`'s options. A request body
    given as an iterator is read whole before it is sent."""

    def __init__(self, *args: Any, **options: Any) -> None:
        self._runner = _LoopThread()
        try:
            self._transport = self._runner.run(_made(lambda: AsyncHTTPTransport(*args, **options)))
        except BaseException:
            self._runner.stop()
            raise

    def __enter__(self: _SyncSelf) -> _SyncSelf:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read() or None
        response = self._runner.run(self._transport._send(request, content))
        _, sync_class = _stream_classes(_module_of(request))
        response.stream = sync_class(response.stream, self._runner)
        return response  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self._runner.run(self._transport.aclose())
        finally:
            self._runner.stop()


_SyncSelf = TypeVar("_SyncSelf", bound=HTTPTransport)


async def _made(make: Any) -> Any:
    """Calls ``make`` on the transport's loop (a Client belongs to a loop)."""
    return make()
