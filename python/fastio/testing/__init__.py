"""A real HTTP server on 127.0.0.1 for tests, demos and benchmarks.

::

    with fastio.testing.serve() as server:
        response = await fastio.fetch(server.url + "/json")

The server runs on fastio's tokio runtime, in this process, on an ephemeral
port. Routes on ``server.url`` (hyper; HTTP/1.1, or HTTP/2 with prior
knowledge):

- ``/bytes/{n}``: n bytes with Content-Length (streamed when large)
- ``/chunked/{n}``: n bytes, chunked transfer encoding
- ``/stream/{n}?every=0.005``: n JSON lines, ``every`` seconds apart
- ``/delay/{seconds}``: answers after the delay
- ``/limited/{k}?delay=0.005``: serves k requests at once per Host header,
  each after the delay; 503 at once beyond k; ``X-In-Flight`` says how many
  it was serving
- ``/queued/{k}?delay=0.005``: never refuses, but each request takes the
  delay times the requests it is serving per Host header over k (at least
  once): latency that grows with concurrency; ``X-In-Flight`` as above
- ``/status/{code}``: that status
- ``/redirect/{n}``: a chain of n redirects ending in 200
- ``/redirect-loop``: redirects to itself forever
- ``/redirect-to?url=...&status=302``: one redirect to ``url``
- ``/echo``: the request (method, path, query, headers, body) as JSON
- ``/retry-after/{seconds}``: 503 with Retry-After
- ``/flaky/{key}?fail=N&status=503&retry_after=S&delay=D``: the first N
  requests to that path get ``status`` (with Retry-After when given) after
  D seconds, later ones 200 at once
- ``/gzip-bomb/{n}``: n zero bytes, gzip-encoded (about n/1000 on the wire)
- ``/gzip``, ``/brotli``, ``/zstd``, ``/deflate``: a JSON body with that
  Content-Encoding; ``/encoded/gzip,br``: compressed with each in turn
- ``/zstd-window/{log}``: 1 MB of zstd whose frame asks for a 2**log window
- ``/bad-gzip``: claims gzip, is not
- ``/json``: a small JSON document
- ``/text?charset=latin-1&value=...&repeat=n``: ``value`` n times, encoded in
  ``charset`` (latin-1; any other charset is named but the bytes are UTF-8)
- ``/bytes-raw``: invalid UTF-8 with no charset
- ``/headers?Name=value``: sets response headers (and two Set-Cookie)
- ``/counts``: requests per path so far, as JSON

Fault routes on ``server.fault_url`` (raw TCP, broken on purpose):
``/reset`` (reset instead of an answer), ``/reset-mid-body``,
``/short-body`` (Content-Length longer than the body), ``/bad-chunked``,
``/garbage`` (not HTTP), ``/hang`` (never answers), ``/slowloris`` (the
body one byte per second), ``/huge-headers`` (100 KB of headers: 1,000 of
them), ``/huge-length`` (declares a terabyte, sends 200 bytes, waits),
``/endless-chunked`` (a chunked body that never ends), ``/empty-gzip`` (an
empty body that claims gzip), ``/truncated-gzip`` (a gzip stream cut in half,
framed correctly), ``/reset-mid-gzip`` (a reset a quarter into a gzip body).

``server.request_count(path)`` counts requests per path on both listeners,
``server.request_times(path)`` says when each arrived;
``server.open_connections`` and ``server.accepted_connections`` count
connections on the well-behaved one.

``serve_dns()`` runs a DNS server on 127.0.0.1 (UDP) for
``Client(dns_servers=[dns.address])``: every name under ``.test`` is
127.0.0.1, ``servfail.test`` fails (SERVFAIL), any other name does not
exist (NXDOMAIN); answers wait ``latency`` seconds and carry ``ttl``;
``dns.queries`` and ``dns.queries_for(name)`` count what was asked.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from fastio._fastio import (
    DnsServer,
    Request,
    Response,
    Server,
    _busiest_task_share,
    _live_counts,
    _start_dns_server,
    _start_test_server,
)

__all__ = [
    "DnsServer",
    "MockTransport",
    "Server",
    "busiest_task_share",
    "live_counts",
    "serve",
    "serve_dns",
]


class MockTransport:
    """Answers a :class:`fastio.Client`'s requests from Python where the
    network would be, with no socket: ``handler(request)`` gets each
    :class:`fastio.Request` as it would go on the wire (URL joined to
    ``base_url`` with the client's params, every header the server would
    see, the body as ``content`` bytes; ``request.url.path``, ``.query``,
    ``.host`` and ``.params``) and returns a :class:`fastio.Response` (or an
    awaitable of one), taken as the server's answer.

    Everything above the wire runs as against a server: redirects,
    cookies, retries and Retry-After, rate limits, timeouts, decoding,
    body limits, ``fetch_all``/``fetch_iter`` (with ``.index``). A fastio
    transport error the handler raises (``fastio.ConnectError("refused",
    request=request)``) fails the request as that network failure would,
    retries included; any other exception is raised by the request as it
    is. Each request is answered in a task of its own on the client's loop;
    a handler still running when the client has no request in flight (its
    own was cancelled or timed out) is cancelled.

    Example::

        def handler(request: fastio.Request) -> fastio.Response:
            return fastio.Response(200, json={"path": request.url.path})

        async with fastio.Client(transport=MockTransport(handler)) as client:
            assert (await client.get("http://api.test/x")).json() == {"path": "/x"}
    """

    def __init__(self, handler: Callable[[Request], Response | Awaitable[Response]]) -> None:
        self.handler = handler

    async def handle(self, request: Request) -> Response:
        """The handler's Response for ``request``."""
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            kind = type(answer).__name__
            raise TypeError(f"a MockTransport handler must return a fastio.Response, not {kind}")
        return answer


def live_counts() -> tuple[int, int]:
    """(fastio awaitables alive, pieces of fastio's Rust work alive) in this
    process: a debug counter. Once everything has been awaited, cancelled or
    dropped (and the garbage collected), both return to their baseline;
    cancelled work is dropped on a tokio thread shortly after the cancel.

    Example::

        before = fastio.testing.live_counts()
        await run_my_crawler()
        gc.collect()
        assert fastio.testing.live_counts() == before
    """
    return _live_counts()


def busiest_task_share() -> float:
    """The largest share of fastio's worker threads' CPU time spent polling
    one tokio task since the previous call, from 0.0 to 1.0. The first call
    starts timing every poll (two reads of the thread's CPU clock each, a
    system call each, from then on: work runs slower while timed) and
    returns 0.0.

    One task holding most of the time bounds a process at about one core's
    worth of that work however many cores it has (Amdahl): below 0.1, more
    cores can speed the work up to ten times.

    Example::

        fastio.testing.busiest_task_share()  # start timing
        await client.fetch_all(urls)
        assert fastio.testing.busiest_task_share() < 0.1
    """
    return _busiest_task_share()


@contextmanager
def serve(host: str = "127.0.0.1", port: int = 0) -> Iterator[Server]:
    """Runs a test server for the duration of the ``with`` block.

    Example::

        with fastio.testing.serve() as server:
            print(server.url)
    """
    server = _start_test_server(host, port)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def serve_dns(latency: float = 0.0, ttl: int = 300, port: int = 0) -> Iterator[DnsServer]:
    """Runs a DNS server on 127.0.0.1 (``port`` 0: a free one) for the
    duration of the ``with`` block.

    Example::

        with fastio.testing.serve_dns(latency=0.02) as dns:
            async with fastio.Client(dns_servers=[dns.address]) as client:
                await client.get("http://api.test:8080/")
    """
    server = _start_dns_server(latency, ttl, port)
    try:
        yield server
    finally:
        server.close()
