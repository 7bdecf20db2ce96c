"""``fastio.Client``: the typed front of the native ``_ClientSession``."""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from types import EllipsisType, TracebackType
from typing import Any, Literal, Self, TypeGuard, Unpack, overload

from fastio._bulk import BulkOptions, FetchIterator, start_fetch_all, start_fetch_iter
from fastio._calls import Call, Sent, Stream, sending_arguments
from fastio._defaults import DefaultsView
from fastio._fastio import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRY_BACKOFF,
    FastioFuture,
    Request,
    Response,
    _ClientSession,
    _UploadBody,
)
from fastio._mock import HandlerServer, Transport
from fastio._types import (
    Auth,
    Content,
    Cookies,
    Data,
    Files,
    Headers,
    Limit,
    Params,
    Path,
    PoolLimits,
    Timeout,
)
from fastio._upload import pump, with_upload
from fastio.exceptions import ClientClosed, FastioError

__all__ = ["Client"]


_Results = Coroutine[Any, Any, list[Response]]
_ResultsOrErrors = Coroutine[Any, Any, list[Response | FastioError]]

# The module-level functions' clients, by ``verify``.
_SHARED: dict[bool, Client] = {}


class Client:
    """An HTTP client with its own settings, connection pool and cookie jar.

    ``timeout`` is each attempt's total time on the wire (default 30 s;
    ``None``: none), counted from when it has a connection slot: waiting
    for one is bounded by ``pool_timeout`` instead (default: no bound),
    then :class:`fastio.PoolTimeout`. A :class:`fastio.Timeout` sets every
    part at once. Limits: ``max_connections`` in total (default 100;
    ``None``: no cap) and ``per_host`` per scheme://host:port, waited for
    in FIFO order (``per_host="auto"``: each host's own limit, which grows
    while the host answers well and halves on 429, 503, a timeout or a lost
    connection); idle keep-alive connections are kept (as many per host
    as may be open, 100 without a cap) for 15 s; ``rate_limit`` spaces requests to each host evenly
    (requests per second). A cancelled or timed-out request always gives
    its slot back.

    Example::

        async with fastio.Client(base_url="https://api.example.com", auth="token",
                                 per_host=8, timeout=10) as client:
            user = (await client.get("/users/1")).raise_for_status().json()
            await client.post("/events", json={"user": user["id"]})
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        headers: Headers = None,
        params: Params = None,
        cookies: Cookies = None,
        auth: Auth = None,
        timeout: Timeout = ...,
        connect_timeout: Limit = ...,
        read_timeout: Limit = ...,
        pool_timeout: Limit = ...,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        per_host: int | Literal["auto"] | None = None,
        rate_limit: float | None = None,
        http2: bool | None = None,
        follow_redirects: bool = True,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        allow_https_to_http: bool = False,
        verify: bool | Path = True,
        ca_bundle: Path | None = None,
        cert: Path | tuple[Path, Path] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        resolve: Mapping[str, str] | None = None,
        dns_servers: Sequence[str] | None = None,
        user_agent: str | None = None,
        max_body_size: int | None = None,
        retries: int = 0,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        retry_methods: Iterable[str] | None = None,
        event_hooks: Mapping[str, Iterable[Callable[[Any], Awaitable[Any]]]] | None = None,
        transport: Transport | None = None,
        raise_for_status: bool = False,
        limits: PoolLimits | None = None,
        cookie_jar: bool = True,
        local_address: str | None = None,
    ) -> None:
        """Checks every option at once (TypeError/ValueError); builds the TLS
        configuration later, off the event loop, on the first request.

        - ``base_url``: relative request URLs are appended to its path.
        - ``headers``, ``params``, ``cookies``: sent with every request; a
          request's own headers replace defaults of the same name.
        - ``auth``: ``(user, password)`` for Basic, or a str bearer token.
        - ``connect_timeout`` (default 10 s), ``read_timeout`` (between two
          reads of a response; default none).
        - ``http2``: None negotiates by ALPN (HTTP/2 over TLS when the server
          offers it), True uses HTTP/2 with prior knowledge, False HTTP/1.1 only.
        - ``follow_redirects``, ``max_redirects``, ``allow_https_to_http``.
        - ``verify``, ``ca_bundle`` (PEM file of extra trusted roots), ``cert``
          (client certificate: one PEM file with the key, or (cert, key)).
          ``verify="ca.pem"`` (httpx's spelling) is ``ca_bundle="ca.pem"``:
          its roots are trusted besides the system's.
        - ``proxy``: http, https, socks5 or socks5h URL, credentials allowed
          (never shown in errors or repr); ``trust_env``: honour HTTP_PROXY,
          HTTPS_PROXY, ALL_PROXY and NO_PROXY (default on; an explicit
          ``proxy`` wins).
        - ``resolve``: ``{"host": "ip"}`` overrides DNS for those hosts.
        - ``dns_servers``: ``["ip:port", ...]`` (port 53 if left out) are
          asked instead of the system's DNS servers. Either way names are
          resolved by fastio's own asynchronous resolver, which keeps each
          answer for its TTL and shares one query among concurrent lookups;
          a name that does not exist is :class:`NameNotFound`.
        - ``user_agent``; ``max_body_size``: bodies larger than this (decoded
          bytes, so a zip bomb stops early) raise :class:`fastio.BodyTooLarge`
          and close the connection; streamed bodies too. A declared
          Content-Length over it fails at once. Omitted, a body read whole
          is held up to 256 MiB and a streamed one has no cap.
        - ``retries``: attempts after the first, for every request unless
          one says otherwise. Connect errors and connect timeouts are
          retried for every method; other timeouts, connections lost
          mid-response and 429/502/503/504 only
          for the ``retry_methods`` (default GET, HEAD, OPTIONS, PUT,
          DELETE and TRACE, the idempotent ones; add POST or PATCH only for
          an API where sending twice is safe). Waits grow
          exponentially from ``retry_backoff`` seconds (with jitter: half to
          all of it, capped at 30 s); a ``Retry-After`` header sets the wait
          instead, and one longer than ``max_retry_after`` ends the retries.
          ``timeout`` applies to each attempt. After the last attempt its
          Response (for a status) or exception is what you get. A streamed
          (async iterator) body is never resent. A 429 or 503 with a
          ``Retry-After`` (up to ``max_retry_after``) also holds back this
          client's next requests to that host (only that host) until then.
        - ``event_hooks``: ``{"request": [...], "response": [...]}``, async
          callables as in httpx: each request hook gets the
          :class:`fastio.Request` about to go (its URL absolute, the
          client's headers under its own; what it changes in place, such as
          ``request.headers["X-Id"] = "1"``, is sent, and a Request it
          returns, such as ``request.copy_with(url=...)``, is sent
          instead), each response hook the
          :class:`fastio.Response` (raising there raises out of the call).
          They run for the request methods and ``stream``, not for
          ``fetch_all``/``fetch_iter``, whose requests stay in Rust.
        - ``transport``: a :class:`fastio.testing.MockTransport` answers every
          request from Python where the network would be, for unit tests.
        - ``limits``: a :class:`fastio.Limits` or an ``httpx.Limits``:
          ``max_connections`` (instead of the argument of that name),
          ``max_keepalive_connections`` (idle connections kept per host) and
          ``keepalive_expiry`` (seconds an idle one is kept; default 15).
        - ``raise_for_status``: a response with a status of 400 or more makes
          its request raise :class:`fastio.HTTPStatusError` (with
          ``.response``), as aiohttp's option; ``fetch_all`` and
          ``fetch_iter`` still return such responses as results.
        - ``cookie_jar``: False keeps no cookies a server sets (for code
          that keeps its own, such as httpx over :mod:`fastio.httpx`).
        - ``local_address``: the IP address connections are made from.
        """
        if not isinstance(verify, bool):
            if ca_bundle is not None:
                raise ValueError("verify=<CA file> and ca_bundle= name the same thing; give one")
            ca_bundle = verify
            verify = True
        max_idle: int | None = None
        keepalive_expiry: float | EllipsisType | None = ...
        if limits is not None:
            if max_connections != DEFAULT_MAX_CONNECTIONS:
                raise ValueError(
                    "max_connections= and limits= both set the connection cap; give one"
                )
            max_connections = limits.max_connections
            max_idle = limits.max_keepalive_connections
            keepalive_expiry = limits.keepalive_expiry
        session = _ClientSession(
            base_url=base_url,
            headers=headers,
            params=params,
            cookies=cookies,
            auth=auth,
            timeout=timeout,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            pool_timeout=pool_timeout,
            max_connections=max_connections,
            per_host=per_host,
            rate_limit=rate_limit,
            http2=http2,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            allow_https_to_http=allow_https_to_http,
            verify=verify,
            ca_bundle=ca_bundle,
            cert=cert,
            proxy=proxy,
            trust_env=trust_env,
            resolve=resolve,
            dns_servers=dns_servers,
            user_agent=user_agent,
            max_body_size=max_body_size,
            retries=retries,
            retry_backoff=retry_backoff,
            max_retry_after=max_retry_after,
            retry_methods=retry_methods,
            raise_for_status=raise_for_status,
            mocked=transport is not None,
            max_idle_connections=max_idle,
            keepalive_expiry=keepalive_expiry,
            cookie_jar=cookie_jar,
            local_address=local_address,
        )
        self._adopt(session, timeout, event_hooks, transport, raise_for_status)

    def _adopt(
        self,
        session: _ClientSession,
        timeout: Timeout,
        event_hooks: Mapping[str, Iterable[Callable[[Any], Awaitable[Any]]]] | None,
        transport: Transport | None,
        raise_for_status: bool,
    ) -> None:
        """Takes `session` and the Python-side settings: the one place a
        Client's state is set, for ``__init__`` and the shared clients."""
        hooks = dict(event_hooks or {})
        unknown = set(hooks) - {"request", "response"}
        if unknown:
            raise ValueError(f"event_hooks takes 'request' and 'response', not {sorted(unknown)}")
        self._session = session
        self._closed = False
        self._request_hooks = list(hooks.get("request", ()))
        self._response_hooks = list(hooks.get("response", ()))
        self._handler = None if transport is None else HandlerServer(session, transport)
        self._raise_for_status = raise_for_status
        self._hooked = bool(self._request_hooks or self._response_hooks)
        # No hook or mock transport: requests go straight to the engine.
        self._straight = not (transport is not None or self._hooked)

    @classmethod
    def _shared(cls, verify: bool) -> Client:
        """The client behind the module-level functions: fastio's defaults,
        one connection pool per ``verify`` for the whole process."""
        shared = _SHARED.get(verify)
        if shared is None:
            shared = cls.__new__(cls)
            shared._adopt(_ClientSession.shared(verify), ..., None, None, False)
            _SHARED[verify] = shared
        return shared

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._closed

    @property
    def headers(self) -> MutableMapping[str, str]:
        """The headers every request starts with (names any case). Changes,
        in place or by assigning a new mapping, apply to requests made after
        them: ``client.headers["Authorization"] = f"Bearer {token}"``."""
        session = self._session
        return DefaultsView(session.default_headers, session.set_default_headers, fold_case=True)

    @headers.setter
    def headers(self, headers: Headers) -> None:
        self._session.set_default_headers(headers if headers is not None else {})

    @property
    def cookies(self) -> MutableMapping[str, str]:
        """The cookies every request sends, besides those the jar keeps;
        changeable as :attr:`headers` is."""
        session = self._session
        return DefaultsView(session.default_cookies, session.set_default_cookies, fold_case=False)

    @cookies.setter
    def cookies(self, cookies: Cookies) -> None:
        self._session.set_default_cookies(cookies if cookies is not None else {})

    @property
    def base_url(self) -> str | None:
        """The URL relative request URLs are joined to; assignable."""
        return self._session.base_url()

    @base_url.setter
    def base_url(self, base_url: str | None) -> None:
        self._session.set_base_url(base_url)

    def _check_open(self, method: str, url: object) -> None:
        if self._closed:
            shown = url if isinstance(url, str) else repr(url)
            raise ClientClosed(
                f"{method} {shown}: the client is closed",
                url=url if isinstance(url, str) else None,
            )

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        json: Any = None,
        data: Data = None,
        files: Files = None,
        content: Content = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
        max_body_size: int | None = None,
    ) -> Sent:
        """Sends one request with this client's settings; see :func:`fastio.fetch`.

        ``files`` makes a multipart/form-data body (with ``data`` as its
        plain fields): ``{"name": content}``, ``(filename, content)`` or
        ``(filename, content, content_type)``; content is bytes, str or a
        readable file object. ``content`` may be an async iterator of bytes,
        sent as it is produced (chunked), never held whole in memory.
        ``retries`` overrides the client's for this request; so do ``auth``
        (its Authorization replaces the client's), ``follow_redirects`` and
        ``max_body_size``.
        """
        if self._sends_directly(content):
            # The common case without the layers below: this runs per request.
            return self._session.request(
                method,
                url,
                params,
                headers,
                cookies,
                json,
                data,
                files,
                content,
                timeout,
                retries,
                False,  # stream
                auth,
                follow_redirects,
                max_body_size,
            )
        future, pump = self._start(
            method,
            url,
            stream=False,
            params=params,
            headers=headers,
            cookies=cookies,
            json=json,
            data=data,
            files=files,
            content=content,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
            max_body_size=max_body_size,
        )
        return future if pump is None else Call(with_upload(future, pump, body_done=True))

    def _sends_directly(
        self, content: Content
    ) -> TypeGuard[bytes | bytearray | memoryview | str | None]:
        """Whether a request can go straight to the engine: no hooks, no mock
        transport, the client open, and a body that needs no pump."""
        return (
            self._straight
            and not self._closed
            and (content is None or isinstance(content, (bytes, bytearray, memoryview, str)))
        )

    def _start(
        self,
        method: str,
        url: str,
        *,
        stream: bool,
        content: Content,
        **arguments: Any,
    ) -> tuple[Sent, asyncio.Future[None] | None]:
        """Starts a request; for an async iterator ``content``, also the
        task that pumps it into the request (the caller ends that task).
        With hooks, the request goes through Python; with a mock transport,
        its handler is served while the request runs."""
        self._check_open(method, url)
        if self._hooked:
            return Call(self._through_python(method, url, stream, content, arguments)), None
        arguments.pop("extensions", None)
        future, pump = self._native(method, url, stream, content, arguments)
        if self._handler is not None:
            return Call(self._handler.served(future)), pump
        return future, pump

    def _native(
        self, method: str, url: str, stream: bool, content: Content, arguments: dict[str, Any]
    ) -> tuple[FastioFuture[Response], asyncio.Future[None] | None]:
        if not isinstance(content, AsyncIterable):
            return self._session.request(
                method, url, content=content, stream=stream, **arguments
            ), None
        body = _UploadBody()
        future = self._session.request(method, url, content=body, stream=stream, **arguments)
        return future, asyncio.ensure_future(pump(content, body))

    async def _through_python(
        self, method: str, url: str, stream: bool, content: Content, arguments: dict[str, Any]
    ) -> Response:
        """A request with event hooks around it."""
        streamed = content if isinstance(content, AsyncIterable) else None
        plain = None if isinstance(content, AsyncIterable) else content
        request = self._as_sent(
            Request(
                method,
                url,
                params=arguments.pop("params", None),
                headers=arguments.pop("headers", None),
                json=arguments.pop("json", None),
                data=arguments.pop("data", None),
                content=plain,
                extensions=arguments.pop("extensions", None),
            )
        )
        for hook in self._request_hooks:
            replaced = await hook(request)
            if isinstance(replaced, Request):
                request = replaced
        future, pump = self._native(
            request.method,
            request.url,
            stream,
            streamed if streamed is not None else request.content,
            {**arguments, **sending_arguments(request), "prepared": True},
        )
        sent = future if pump is None else with_upload(future, pump, body_done=not stream)
        response = await (sent if self._handler is None else self._handler.served(sent))
        for hook in self._response_hooks:
            await hook(response)
        if self._raise_for_status:
            response.raise_for_status()
        return response

    def _as_sent(self, request: Request) -> Request:
        """``request`` as this client would send it: its URL joined to the
        base URL with the client's params, the client's headers under its
        own."""
        url = self._session.sent_url(request.url)
        headers = dict(self.headers)
        for name, value in request.headers.multi_items():
            headers[name] = value
        return Request(
            request.method,
            url,
            params=request.params,
            headers=headers,
            json=request.json,
            data=request.data,
            content=request.content,
            extensions=request.extensions,
        )

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        json: Any = None,
        data: Any = None,
        content: bytes | bytearray | memoryview | str | None = None,
        timeout: Timeout = ...,
    ) -> Request:
        """A :class:`fastio.Request` to :meth:`send` later (httpx's pair);
        the client's defaults are added when it is sent."""
        return Request(
            method,
            url,
            params=params,
            headers=headers,
            json=json,
            data=data,
            content=content,
            timeout=None if timeout is ... else timeout,
        )

    def send(self, request: Request, *, stream: bool = False) -> Sent:
        """Sends a :class:`fastio.Request` (from :meth:`build_request`, or
        made directly) as :meth:`request` would; ``stream=True`` gives the
        Response at its head, its body to read with ``aread()`` or
        ``aiter_bytes()`` and to close with ``aclose()``."""
        future, _ = self._start(
            request.method,
            request.url,
            stream=stream,
            content=request.content,
            timeout=... if request.timeout is None else request.timeout,
            extensions=request.extensions,
            **sending_arguments(request),
        )
        return future

    def stream(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        json: Any = None,
        data: Data = None,
        files: Files = None,
        content: Content = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Stream:
        """Sends a request and gives its Response as soon as the head has
        arrived, the body to be read inside the ``async with`` block with
        ``aiter_bytes()``, ``aiter_text()``, ``aiter_lines()`` or
        ``aread()``. Leaving the block (on error or cancellation too)
        releases the connection. ``timeout`` bounds getting the head, then
        each wait for more of the body.

        Example::

            async with client.stream("GET", url) as response:
                response.raise_for_status()
                async for chunk in response.aiter_bytes():
                    sink.write(chunk)
        """
        if self._sends_directly(content):
            opening = self._session.request(
                method,
                url,
                params,
                headers,
                cookies,
                json,
                data,
                files,
                content,
                timeout,
                retries,
                True,  # stream
                auth,
                follow_redirects,
                None,  # max_body_size
            )
            return Stream(opening, None)
        future, pump = self._start(
            method,
            url,
            stream=True,
            params=params,
            headers=headers,
            cookies=cookies,
            json=json,
            data=data,
            files=files,
            content=content,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )
        return Stream(future, pump)

    def get(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """A GET request; see :meth:`request`."""
        return self.request(
            "GET",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    def head(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """A HEAD request; see :meth:`request`."""
        return self.request(
            "HEAD",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    def options(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """An OPTIONS request; see :meth:`request`."""
        return self.request(
            "OPTIONS",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    def delete(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """A DELETE request; see :meth:`request`."""
        return self.request(
            "DELETE",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    def post(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        json: Any = None,
        data: Data = None,
        files: Files = None,
        content: Content = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """A POST request; see :meth:`request`."""
        return self.request(
            "POST",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            json=json,
            data=data,
            files=files,
            content=content,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    def put(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        json: Any = None,
        data: Data = None,
        files: Files = None,
        content: Content = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """A PUT request; see :meth:`request`."""
        return self.request(
            "PUT",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            json=json,
            data=data,
            files=files,
            content=content,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    def patch(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        json: Any = None,
        data: Data = None,
        files: Files = None,
        content: Content = None,
        timeout: Timeout = ...,
        retries: int | None = None,
        auth: Auth = None,
        follow_redirects: bool | None = None,
    ) -> Sent:
        """A PATCH request; see :meth:`request`."""
        return self.request(
            "PATCH",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            json=json,
            data=data,
            files=files,
            content=content,
            timeout=timeout,
            retries=retries,
            auth=auth,
            follow_redirects=follow_redirects,
        )

    @overload
    def fetch_all(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: Literal[False] = False,
        **options: Unpack[BulkOptions],
    ) -> Coroutine[Any, Any, list[Response]]: ...
    @overload
    def fetch_all(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: Literal[True],
        **options: Unpack[BulkOptions],
    ) -> Coroutine[Any, Any, list[Response | FastioError]]: ...
    @overload
    def fetch_all(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: bool,
        **options: Unpack[BulkOptions],
    ) -> _Results | _ResultsOrErrors: ...
    def fetch_all(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: bool = False,
        **options: Unpack[BulkOptions],
    ) -> _Results | _ResultsOrErrors:
        """:func:`fastio.fetch_all` with this client's settings, pool and limits."""
        self._check_open(options.get("method", "GET"), "fetch_all")
        results = start_fetch_all(self._session, urls, return_exceptions, options)
        return results if self._handler is None else self._handler.served(results)

    @overload
    def fetch_iter(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: Literal[False] = False,
        **options: Unpack[BulkOptions],
    ) -> FetchIterator[Response]: ...
    @overload
    def fetch_iter(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: Literal[True],
        **options: Unpack[BulkOptions],
    ) -> FetchIterator[Response | FastioError]: ...
    def fetch_iter(
        self,
        urls: Iterable[str | Request],
        *,
        return_exceptions: bool = False,
        **options: Unpack[BulkOptions],
    ) -> FetchIterator[Response] | FetchIterator[Response | FastioError]:
        """:func:`fastio.fetch_iter` with this client's settings, pool and limits."""
        self._check_open(options.get("method", "GET"), "fetch_iter")
        serving = None if self._handler is None else self._handler.lease()
        return start_fetch_iter(self._session, urls, return_exceptions, options, serving=serving)

    async def aclose(self) -> None:
        """Closes the client: its idle connections are dropped, requests
        already running finish, new ones raise :class:`fastio.ClientClosed`."""
        self._closed = True
        self._session.close()
        if self._handler is not None:
            self._handler.stop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        described = self._session.describe()
        state = " closed" if self._closed else ""
        return f"<fastio.Client{state}{' ' + described if described else ''}>"
