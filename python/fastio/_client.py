"""``fastio.Client``: the typed front of the native ``_ClientSession``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from types import EllipsisType, TracebackType
from typing import Any, Self

from fastio._fastio import FastioFuture, Response, _ClientSession
from fastio.exceptions import ClientClosed

__all__ = ["Client"]

Timeout = float | None | EllipsisType
Scalar = str | int | float
Params = Mapping[str, Scalar | Sequence[Scalar]] | Iterable[tuple[str, Scalar]] | None
Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None
Cookies = Mapping[str, str] | Iterable[tuple[str, str]] | None
FileContent = bytes | str | Any
Files = Mapping[str, FileContent | tuple[str, FileContent] | tuple[str, FileContent, str]] | None
Data = Mapping[str, Scalar | Sequence[Scalar]] | bytes | str | None
Path = str | os.PathLike[str]


class Client:
    """An HTTP client with its own settings, connection pool and cookie jar.

    ``timeout`` is each request's total deadline (default 30 s; ``None``:
    none), waiting for a free connection slot included. Limits:
    ``max_connections`` in total and ``per_host`` per scheme://host:port,
    waited for in FIFO order for at most ``pool_timeout`` (then
    :class:`fastio.PoolTimeout`); ``rate_limit`` spaces requests to each
    host evenly (requests per second). A cancelled or timed-out request
    always gives its slot back.

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
        auth: tuple[str, str] | str | None = None,
        timeout: Timeout = ...,
        connect_timeout: Timeout = ...,
        read_timeout: float | None = None,
        pool_timeout: float | None = None,
        max_connections: int | None = None,
        per_host: int | None = None,
        rate_limit: float | None = None,
        http2: bool | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 10,
        allow_https_to_http: bool = False,
        verify: bool = True,
        ca_bundle: Path | None = None,
        cert: Path | tuple[Path, Path] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        resolve: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        max_body_size: int | None = None,
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
        - ``proxy``: http, https, socks5 or socks5h URL, credentials allowed
          (never shown in errors or repr); ``trust_env``: honour HTTP_PROXY,
          HTTPS_PROXY, ALL_PROXY and NO_PROXY (default on; an explicit
          ``proxy`` wins).
        - ``resolve``: ``{"host": "ip"}`` overrides DNS for those hosts.
        - ``user_agent``; ``max_body_size``: bodies larger than this (decoded
          bytes) raise :class:`fastio.BodyTooLarge`.
        """
        self._session = _ClientSession(
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
            user_agent=user_agent,
            max_body_size=max_body_size,
        )
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._closed

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
        content: bytes | bytearray | memoryview | str | None = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
        """Sends one request with this client's settings; see :func:`fastio.fetch`.

        ``files`` makes a multipart/form-data body (with ``data`` as its
        plain fields): ``{"name": content}``, ``(filename, content)`` or
        ``(filename, content, content_type)``; content is bytes, str or a
        readable file object.
        """
        self._check_open(method, url)
        return self._session.request(
            method,
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            json=json,
            data=data,
            files=files,
            content=content,
            timeout=timeout,
        )

    def get(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
        """A GET request; see :meth:`request`."""
        return self.request(
            "GET", url, params=params, headers=headers, cookies=cookies, timeout=timeout
        )

    def head(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
        """A HEAD request; see :meth:`request`."""
        return self.request(
            "HEAD", url, params=params, headers=headers, cookies=cookies, timeout=timeout
        )

    def options(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
        """An OPTIONS request; see :meth:`request`."""
        return self.request(
            "OPTIONS", url, params=params, headers=headers, cookies=cookies, timeout=timeout
        )

    def delete(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        cookies: Cookies = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
        """A DELETE request; see :meth:`request`."""
        return self.request(
            "DELETE", url, params=params, headers=headers, cookies=cookies, timeout=timeout
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
        content: bytes | bytearray | memoryview | str | None = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
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
        content: bytes | bytearray | memoryview | str | None = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
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
        content: bytes | bytearray | memoryview | str | None = None,
        timeout: Timeout = ...,
    ) -> FastioFuture[Response]:
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
        )

    def fetch_all(
        self,
        urls: Iterable[str],
        *,
        concurrency: int = 100,
        method: str = "GET",
        headers: Headers = None,
        timeout: Timeout = ...,
        return_exceptions: bool = False,
    ) -> FastioFuture[list[Response]]:
        """:func:`fastio.fetch_all` with this client's settings, pool and limits."""
        self._check_open(method, "fetch_all")
        return self._session.fetch_all(
            urls,
            concurrency=concurrency,
            method=method,
            headers=headers,
            timeout=timeout,
            return_exceptions=return_exceptions,
        )

    async def aclose(self) -> None:
        """Closes the client: its idle connections are dropped, requests
        already running finish, new ones raise :class:`fastio.ClientClosed`."""
        self._closed = True
        self._session.close()

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
