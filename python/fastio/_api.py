"""The module-level functions, ``fastio.fetch``, ``fastio.fetch_all`` and
``fastio.fetch_iter``: the same code as :class:`fastio.Client`'s, on a
client shared by the whole process (one per ``verify``), with fastio's
defaults."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any, Literal, Unpack, overload

from fastio._bulk import BulkOptions, FetchIterator, start_fetch_all, start_fetch_iter
from fastio._client import Client
from fastio._fastio import FastioFuture, Request, Response
from fastio._types import Headers, Params, Scalar, Timeout
from fastio.exceptions import FastioError

__all__ = ["fetch", "fetch_all", "fetch_iter"]


def fetch(
    url: str,
    *,
    method: str = "GET",
    params: Params = None,
    headers: Headers = None,
    json: Any = None,
    data: Mapping[str, Scalar | Sequence[Scalar]] | bytes | str | None = None,
    content: bytes | bytearray | memoryview | str | None = None,
    timeout: Timeout = ...,
    retries: int = 0,
    verify: bool = True,
    max_body_size: int | None = None,
) -> FastioFuture[Response]:
    """Sends one request and returns its :class:`Response`.

    ``params`` are added to the URL's query; ``headers`` are sent as given
    (CR, LF and NUL refused); the body is at most one of ``json`` (encoded
    by orjson), ``data`` (a mapping is form-encoded; bytes or str are sent
    as they are) and ``content``. ``timeout`` is the total deadline in
    seconds: omitted means 30 s, None means none. Connecting is limited to
    10 s. Redirects are followed (at most 10; https to http is refused;
    Authorization and Cookie are dropped when the host changes). TLS
    certificates are verified unless ``verify=False``. ``retries`` retries
    as :class:`fastio.Client` describes (with its default backoff).
    ``max_body_size`` caps the (decoded) body in bytes; omitted, a body is
    held up to 256 MiB (stream larger ones with :meth:`Client.stream`). A
    declared Content-Length over the cap fails at once with
    :class:`fastio.BodyTooLarge`.

    HTTP error statuses are Responses (see :meth:`Response.raise_for_status`);
    transport failures raise :class:`fastio.RequestError` subclasses whose
    message names the method, the URL, what failed and why. Bad arguments
    raise TypeError, ValueError or :class:`fastio.InvalidURL` at once.

    Example::

        response = await fastio.fetch("https://httpbin.org/get", params={"q": "fastio"})
        print(response.status, response.json())
    """
    arguments = {
        "params": params,
        "headers": headers,
        "json": json,
        "data": data,
        "timeout": timeout,
        "retries": retries,
        "max_body_size": max_body_size,
    }
    future, _ = Client._shared(verify)._native(method, url, False, content, arguments)
    return future


@overload
def fetch_all(
    urls: Iterable[str | Request],
    *,
    return_exceptions: Literal[False] = False,
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> Coroutine[Any, Any, list[Response]]: ...
@overload
def fetch_all(
    urls: Iterable[str | Request],
    *,
    return_exceptions: Literal[True],
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> Coroutine[Any, Any, list[Response | FastioError]]: ...
@overload
def fetch_all(
    urls: Iterable[str | Request],
    *,
    return_exceptions: bool,
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> Coroutine[Any, Any, list[Response]] | Coroutine[Any, Any, list[Response | FastioError]]: ...
def fetch_all(
    urls: Iterable[str | Request],
    *,
    return_exceptions: bool = False,
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> Coroutine[Any, Any, list[Response]] | Coroutine[Any, Any, list[Response | FastioError]]:
    """Fetches every URL, at most ``concurrency`` at a time; returns the
    Responses in input order.

    ``urls`` is any iterable (list, tuple, generator) of str URLs and
    :class:`fastio.Request` objects, mixed as you like: a Request keeps its
    own method, params, headers (over the call's ``headers``) and body. It
    is consumed lazily in chunks, so a huge input is never held twice. A
    bare str is a TypeError; ``concurrency < 1`` is a ValueError. HTTP
    error statuses are Responses, not failures. The first failure (a
    transport error, an invalid URL, a Request whose body cannot be
    encoded) raises and cancels the rest, unless ``return_exceptions`` is
    true, which puts each failure's exception (with ``.index``) in its
    place. ``timeout`` applies to each attempt of each request from when it
    has its connection slot; ``retries`` as for :func:`fetch`;
    ``max_body_size`` as for :func:`fetch`. Each Response has ``.index``
    and ``.request``.

    ``progress=True`` shows a bar on stderr (done/total, req/s, errors,
    ETA) when stderr is a terminal, fed from counters kept in Rust; ``total`` is its total when
    ``urls`` has no ``len()``.

    The whole batch is one Rust task. Results come back to the event loop
    in input order while later requests still run, a few hundred per
    wake-up, converted in slices of 64 between other callbacks.

    Example::

        responses = await fastio.fetch_all(urls, concurrency=200)
        sizes = [len(response.content) for response in responses]
    """
    return start_fetch_all(Client._shared(verify)._session, urls, return_exceptions, options)


@overload
def fetch_iter(
    urls: Iterable[str | Request],
    *,
    return_exceptions: Literal[False] = False,
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> FetchIterator[Response]: ...
@overload
def fetch_iter(
    urls: Iterable[str | Request],
    *,
    return_exceptions: Literal[True],
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> FetchIterator[Response | FastioError]: ...
def fetch_iter(
    urls: Iterable[str | Request],
    *,
    return_exceptions: bool = False,
    verify: bool = True,
    **options: Unpack[BulkOptions],
) -> FetchIterator[Response] | FetchIterator[Response | FastioError]:
    """Fetches every URL, at most ``concurrency`` at a time, yielding each
    Response as it completes.

    The input is pulled lazily, as requests start (a generator of millions
    of URLs is fine), and results wait in a buffer of at most
    ``concurrency``: a slow consumer holds back new requests rather than
    piling up responses. Results come to the loop in batches, one wake-up
    for all that completed meanwhile. ``progress`` and ``total`` as for
    :func:`fetch_all`.

    Example::

        async for response in fastio.fetch_iter(urls, concurrency=64):
            print(response.index, response.status, len(response.content))
    """
    return start_fetch_iter(Client._shared(verify)._session, urls, return_exceptions, options)
