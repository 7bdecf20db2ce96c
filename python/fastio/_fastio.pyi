"""fastio's native module. Import from :mod:`fastio` instead."""

from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextvars import Context
from types import EllipsisType, GenericAlias
from typing import Any, Final, Literal, Self, TypeVar, final, overload

from fastio._elapsed import Elapsed
from fastio._url import URL

_T = TypeVar("_T")
_T1 = TypeVar("_T1")
_T2 = TypeVar("_T2")
_T3 = TypeVar("_T3")
_T4 = TypeVar("_T4")
_T5 = TypeVar("_T5")
_T6 = TypeVar("_T6")

_HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None
# bool is sent as "true"/"false" and None as "", as httpx does.
_Scalar = str | int | float | bool | None
_ParamsArg = (
    Mapping[str, _Scalar | Sequence[_Scalar]]
    | Iterable[tuple[str, _Scalar | Sequence[_Scalar]]]
    | None
)
_Limit = float | None | EllipsisType
_TimeoutArg = float | None | EllipsisType | "Timeout"

__version__: str
DEFAULT_TIMEOUT: Final[float]
DEFAULT_CONNECT_TIMEOUT: Final[float]
DEFAULT_MAX_CONNECTIONS: Final[int]
DEFAULT_KEEPALIVE_EXPIRY: Final[float]
DEFAULT_MAX_REDIRECTS: Final[int]
DEFAULT_RETRY_BACKOFF: Final[float]
DEFAULT_MAX_RETRY_AFTER: Final[float]
DEFAULT_CONCURRENCY: Final[int]
DEFAULT_BYTES_IN_FLIGHT: Final[int]
__all__ = [
    "DEFAULT_BYTES_IN_FLIGHT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_TIMEOUT",
    "DnsServer",
    "FastioFuture",
    "Headers",
    "Request",
    "Response",
    "Server",
    "Timeout",
    "Timings",
    "_ByteIterator",
    "_ClientSession",
    "_Exchange",
    "_FetchStream",
    "_Progress",
    "_UploadBody",
    "__version__",
    "_busiest_task_share",
    "_completed",
    "_live_counts",
    "_on_worker",
    "_panic_on_worker",
    "_shown_header",
    "_shown_url",
    "_start_dns_server",
    "_start_test_server",
    "configure_runtime",
    "gather",
    "sleep",
]

@final
class FastioFuture(Coroutine[Any, Any, _T]):
    """An awaitable whose work runs in Rust: to asyncio a coroutine, and once
    used as a future, the future itself.

    Until it is awaited, given a done callback or cancelled, asyncio sees a
    coroutine (as an httpx request): ``asyncio.create_task``,
    ``TaskGroup.create_task``, ``asyncio.run``, ``run_until_complete`` and
    ``asyncio.ensure_future`` run it in a task, and ``asyncio.wait`` takes
    that task. Awaited, it is the very future its task waits on (no inner
    future between); it has ``add_done_callback``, ``cancel``, ``result``
    and the rest of a future's methods. :func:`fastio.gather` joins fastio
    awaitables without any task.

    Its work starts when it is first awaited (or run by a task, or given a
    callback), and runs on fastio's tokio runtime; the result comes back to
    the event loop it started on. Instances are made by fastio functions
    such as :func:`sleep`, never directly.

    Example::

        pending = fastio.sleep(0.1, "done")
        task = asyncio.ensure_future(pending)
        done, _ = await asyncio.wait([task])
        assert task.result() == "done"
    """

    def __await__(self) -> Generator[Any, None, _T]:
        """Starts the work if needed and waits for its result."""
    def __class_getitem__(cls, item: Any) -> GenericAlias:
        """``FastioFuture[int]`` at runtime, as ``asyncio.Future[int]``."""
    def __aenter__(self) -> FastioFuture[_T]:
        """``async with awaitable as result:`` awaits it on entry (as
        aiohttp's ``async with session.get(url) as response``)."""
    def __aexit__(self, *exc: object) -> Awaitable[object]:
        """Leaves the result's own ``async with`` when it has one (a Response
        releases its connection); exceptions go on."""
    def __iter__(self) -> Generator[Any, None, _T]:
        """The same iterator as ``__await__``."""
    def __next__(self) -> Any:
        """One step of an ``await``; raises StopIteration with the result."""
    @property
    def _asyncio_future_blocking(self) -> bool:
        """asyncio's marker of a future; reading it starts the work."""
    @_asyncio_future_blocking.setter
    def _asyncio_future_blocking(self, value: bool) -> None: ...
    def add_done_callback(
        self, fn: Callable[[Self], object], *, context: Context | None = None
    ) -> None:
        """Runs ``fn(self)`` on the loop once done; starts the work.

        Callbacks never run inside the call that finishes the future: the
        loop callback that delivers fastio's results runs them after its
        batch (``loop.call_soon`` where a user's call or a loop in debug mode
        finishes it). ``context`` defaults to a copy of the current context,
        as for ``asyncio.Future``.
        """
    def remove_done_callback(self, fn: Callable[[Self], object], /) -> int:
        """Removes every registration of ``fn`` and returns how many there were."""
    def cancel(self, msg: Any | None = None) -> bool:
        """Cancels the awaitable and aborts its Rust work at once.

        Returns False if it was already done or cancelled.
        """
    def cancelled(self) -> bool:
        """True if it was cancelled."""
    def done(self) -> bool:
        """True if it has a result, an exception, or was cancelled."""
    def result(self) -> _T:
        """The result; raises the exception, CancelledError, or InvalidStateError."""
    def exception(self) -> BaseException | None:
        """The exception, or None; raises CancelledError or InvalidStateError."""
    @property
    def __name__(self) -> str:
        """What a task's repr names the awaitable it runs."""
    def get_loop(self) -> Any:
        """The event loop this awaitable belongs to (the running one if unstarted)."""
    def send(self, value: None, /) -> Any:
        """The coroutine protocol, as ``asyncio.Task`` drives it: one step of
        the awaitable (its own ``__next__``). With ``send``, ``throw`` and
        ``close`` it is also a ``collections.abc.Coroutine``, so
        ``asyncio.create_task``, ``TaskGroup.create_task`` and
        ``asyncio.run`` take it."""
    def throw(self, typ: Any, val: Any = None, tb: Any = None, /) -> Any:
        """Raises the exception where the awaitable waits, its work cancelled
        first, as a coroutine's ``throw`` does (``asyncio.Task`` throws
        ``CancelledError`` in)."""
    def close(self) -> None:
        """Cancels the work if it has not finished, as closing a coroutine does."""
    def _make_cancelled_error(self) -> BaseException:
        """The CancelledError to raise, carrying the cancel message."""

def configure_runtime(
    *,
    worker_threads: int | None = None,
    worker_priority: Literal["normal", "idle"] | None = None,
) -> None:
    """Sets how fastio's tokio runtime is built; call it before the first
    fastio call of the process (the runtime starts then), else RuntimeError.

    Each call replaces the whole configuration. A child after ``os.fork()``
    builds its own runtime with the configuration it inherited, and may call
    this again before its first fastio call.

    ``worker_threads``: tokio worker threads, 1 to 1024; ``None`` (the
    default) is one per CPU this process may use.

    ``worker_priority``: ``"normal"`` (the default, also ``None``) or
    ``"idle"`` (Linux only): fastio's threads run under ``SCHED_IDLE``, so
    the event loop's thread, or any other normal thread that wakes up, takes
    a CPU from them at once. On a machine whose CPUs are all busy this keeps
    the event loop's lag low while fastio works. The price: fastio's threads
    get almost no CPU while other processes keep every CPU busy, so requests
    then slow down, or time out (both measured in ``bench/http-results.md``).
    Best effort: a sandbox that refuses ``SCHED_IDLE`` leaves the threads at
    normal priority.

    Raises TypeError for arguments of the wrong type and ValueError for
    values out of range.

    Example::

        fastio.configure_runtime(worker_threads=2, worker_priority="idle")
        asyncio.run(main())
    """

@overload
def sleep(delay: float) -> FastioFuture[None]:
    """Waits ``delay`` seconds on a tokio timer, then returns ``result``.

    Behaves like ``asyncio.sleep``: the timer starts at the first await (or
    when handed to ``gather``/``ensure_future``); ``sleep(0)`` and negative
    delays yield to the event loop exactly once; ``math.inf`` (or a delay too
    large for a timer) sleeps until cancelled; cancelling stops the timer at
    once. The timer's resolution is one millisecond.

    Raises TypeError if ``delay`` is not a real number and ValueError if it
    is NaN.

    Example::

        assert await fastio.sleep(0.5, "ready") == "ready"
    """

@overload
def sleep(delay: float, result: _T) -> FastioFuture[_T]: ...
@overload
def gather(  # type: ignore[overload-overlap]
    aw1: Awaitable[_T1], /, *, return_exceptions: Literal[False] = False
) -> FastioFuture[tuple[_T1]]:
    """Runs awaitables concurrently; returns their results in argument order.

    A drop-in for ``asyncio.gather``, with the same contract: the first
    exception propagates (the other children keep running) unless
    ``return_exceptions`` is true, which puts exceptions in place;
    cancelling the returned awaitable cancels every child; ``gather()``
    returns ``[]``; an awaitable passed twice runs once and its result
    appears twice; any mix of coroutines, tasks, futures and fastio
    awaitables is accepted, and anything else raises TypeError.

    fastio awaitables whose work has not started are joined inside Rust as
    one future: the event loop is woken once for the whole group instead of
    once per child, and each child still finishes as a future of its own.
    Other children go through ``asyncio.ensure_future`` as usual.

    Must be called with an event loop running.

    Example::

        sleeps = [fastio.sleep(0.01, n) for n in range(100_000)]
        assert await fastio.gather(*sleeps) == list(range(100_000))
    """

@overload
def gather(  # type: ignore[overload-overlap]
    aw1: Awaitable[_T1], aw2: Awaitable[_T2], /, *, return_exceptions: Literal[False] = False
) -> FastioFuture[tuple[_T1, _T2]]: ...
@overload
def gather(  # type: ignore[overload-overlap]
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> FastioFuture[tuple[_T1, _T2, _T3]]: ...
@overload
def gather(  # type: ignore[overload-overlap]
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    aw4: Awaitable[_T4],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> FastioFuture[tuple[_T1, _T2, _T3, _T4]]: ...
@overload
def gather(  # type: ignore[overload-overlap]
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    aw4: Awaitable[_T4],
    aw5: Awaitable[_T5],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> FastioFuture[tuple[_T1, _T2, _T3, _T4, _T5]]: ...
@overload
def gather(  # type: ignore[overload-overlap]
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    aw4: Awaitable[_T4],
    aw5: Awaitable[_T5],
    aw6: Awaitable[_T6],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> FastioFuture[tuple[_T1, _T2, _T3, _T4, _T5, _T6]]: ...
@overload
def gather(  # type: ignore[overload-overlap]
    *aws: Awaitable[_T], return_exceptions: Literal[False] = False
) -> FastioFuture[list[_T]]: ...
@overload
def gather(
    aw1: Awaitable[_T1], /, *, return_exceptions: bool
) -> FastioFuture[tuple[_T1 | BaseException]]: ...
@overload
def gather(
    aw1: Awaitable[_T1], aw2: Awaitable[_T2], /, *, return_exceptions: bool
) -> FastioFuture[tuple[_T1 | BaseException, _T2 | BaseException]]: ...
@overload
def gather(
    aw1: Awaitable[_T1], aw2: Awaitable[_T2], aw3: Awaitable[_T3], /, *, return_exceptions: bool
) -> FastioFuture[tuple[_T1 | BaseException, _T2 | BaseException, _T3 | BaseException]]: ...
@overload
def gather(
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    aw4: Awaitable[_T4],
    /,
    *,
    return_exceptions: bool,
) -> FastioFuture[
    tuple[_T1 | BaseException, _T2 | BaseException, _T3 | BaseException, _T4 | BaseException]
]: ...
@overload
def gather(
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    aw4: Awaitable[_T4],
    aw5: Awaitable[_T5],
    /,
    *,
    return_exceptions: bool,
) -> FastioFuture[
    tuple[
        _T1 | BaseException,
        _T2 | BaseException,
        _T3 | BaseException,
        _T4 | BaseException,
        _T5 | BaseException,
    ]
]: ...
@overload
def gather(
    aw1: Awaitable[_T1],
    aw2: Awaitable[_T2],
    aw3: Awaitable[_T3],
    aw4: Awaitable[_T4],
    aw5: Awaitable[_T5],
    aw6: Awaitable[_T6],
    /,
    *,
    return_exceptions: bool,
) -> FastioFuture[
    tuple[
        _T1 | BaseException,
        _T2 | BaseException,
        _T3 | BaseException,
        _T4 | BaseException,
        _T5 | BaseException,
        _T6 | BaseException,
    ]
]: ...
@overload
def gather(
    *aws: Awaitable[_T], return_exceptions: bool
) -> FastioFuture[list[_T | BaseException]]: ...
def _completed(value: _T) -> FastioFuture[_T]:
    """Internal: an awaitable already finished with ``value`` (tests, benchmarks)."""

def _on_worker(value: _T) -> FastioFuture[_T]:
    """Internal: finishes with ``value`` on a tokio worker (tests, benchmarks)."""

def _panic_on_worker(message: str) -> FastioFuture[None]:
    """Internal: panics on a tokio worker, to prove it surfaces as InternalError."""

@final
class Timeout:
    """Time limits, accepted wherever ``timeout=`` is; each is seconds, None
    (no limit) or omitted (the client's, else fastio's default).

    - ``total``: the longest one attempt may spend on the wire, from when
      it has a connection slot (waiting for one is not counted) to the end
      of its body; for :meth:`Client.stream`, to the response's head, then
      each wait for more of the body. A bare number as ``timeout=`` is this.
    - ``connect``: making a connection (TCP, a proxy, TLS).
    - ``read``: the longest wait for the server between two reads (the
      response's head, then each piece of its body).
    - ``write``: the longest wait for the server to take more of any
      request body (bytes, form, JSON, files or an async iterator), over
      HTTP/1.1 and HTTP/2; then :class:`fastio.WriteTimeout`.
    - ``pool``: the longest wait for a connection slot (``max_connections``,
      ``per_host``), a ``rate_limit`` turn or an HTTP/2 stream (the
      server's ``MAX_CONCURRENT_STREAMS``); beyond it the request fails with
      :class:`fastio.PoolTimeout`.

    A client's Timeout sets its defaults; a request's own replaces any of
    them for that request (``connect``: a connection it opens; one it
    reuses is already made).

    Example::

        client = fastio.Client(timeout=fastio.Timeout(30, connect=5, pool=10))
        await client.get(url, timeout=fastio.Timeout(5, pool=1))
    """

    def __new__(
        cls,
        total: _Limit = ...,
        *,
        connect: _Limit = ...,
        read: _Limit = ...,
        write: _Limit = ...,
        pool: _Limit = ...,
    ) -> Timeout: ...
    @property
    def total(self) -> _Limit:
        """Seconds, None (no limit) or ``...`` (the default)."""
    @property
    def connect(self) -> _Limit:
        """Seconds, None (no limit) or ``...`` (the default)."""
    @property
    def read(self) -> _Limit:
        """Seconds, None (no limit) or ``...`` (the default)."""
    @property
    def write(self) -> _Limit:
        """Seconds, None (no limit) or ``...`` (the default)."""
    @property
    def pool(self) -> _Limit:
        """Seconds, None (no limit) or ``...`` (the default)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Request:
    """One request described as plain data: what :func:`fastio.fetch_all` and
    :func:`fastio.fetch_iter` take beside URLs (each item keeps its own
    method, params, headers and body), and what :attr:`Response.request` is.

    Nothing is checked or sent when it is made: a bad URL or body is that
    item's error when a bulk call reaches it. ``headers`` are merged over
    the call's and the client's; ``timeout`` replaces the call's (total,
    write and pool, as for a request). ``repr`` hides credentials.

    Example::

        requests = [fastio.Request("POST", api, json={"q": q}) for q in queries]
        answers = await client.fetch_all(requests, concurrency=32)
    """

    def __new__(
        cls,
        method: str,
        url: str,
        *,
        params: _ParamsArg = None,
        headers: _HeadersArg = None,
        json: Any = None,
        data: Mapping[str, _Scalar | Sequence[_Scalar]] | bytes | str | None = None,
        content: bytes | bytearray | memoryview | str | None = None,
        timeout: _TimeoutArg | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> Request: ...
    @property
    def method(self) -> str:
        """The HTTP method, upper-cased."""
    @property
    def url(self) -> URL:
        """The URL as given (for a sent request, as sent): a str with its
        parts (``.path``, ``.query``, ``.host``, ``.params``)."""
    @property
    def headers(self) -> Headers:
        """The headers as given, or as sent, as :class:`fastio.Headers`;
        changes to them (a request hook's ``request.headers["X-Id"] = "1"``)
        are what is sent."""
    @property
    def params(self) -> Any:
        """What was given, or None."""
    @property
    def json(self) -> Any:
        """What was given, or None."""
    @property
    def data(self) -> Any:
        """What was given, or None."""
    @property
    def content(self) -> Any:
        """What was given, or None."""
    @property
    def timeout(self) -> Any:
        """What was given, or None."""
    @property
    def extensions(self) -> dict[str, Any]:
        """A dict that travels with the request, for your own use (request
        hooks, tracing), copied by ``copy_with``; httpx keeps its timeout
        there, fastio's is ``timeout``."""
    def copy_with(
        self,
        *,
        method: str = ...,
        url: str = ...,
        params: Any = ...,
        headers: Any = ...,
        json: Any = ...,
        data: Any = ...,
        content: Any = ...,
        timeout: Any = ...,
        extensions: Any = ...,
    ) -> Request:
        """A copy with the given fields replaced, the others kept (a request
        hook returns one to change what is sent): ``headers`` replaces all of
        them, so merge with ``{**request.headers, "X-Id": "1"}``."""
    def __reduce__(self) -> tuple[Any, ...]: ...
    @staticmethod
    def _restore(
        method: str,
        url: str,
        params: Any,
        headers: Any,
        json: Any,
        data: Any,
        content: Any,
        timeout: Any,
        extensions: Any,
    ) -> Request:
        """Rebuilds a pickled Request."""

@final
class Headers:
    """HTTP headers: a case-insensitive mapping.

    A name sent several times maps to its values joined with ``", "``;
    :meth:`get_list` gives them apart and :meth:`multi_items` gives every
    pair as sent (a name's values together, names in the order first
    received). Names come back lower-case. A response's are read-only (a
    view made each time ``response.headers`` is read); a request's can be
    changed (``request.headers["X-Id"] = "1"``, ``del``, ``update``), as a
    request hook does.

    Example::

        response.headers["Content-Type"]      # 'application/json'
        response.headers.get_list("set-cookie")  # ['a=1', 'b=2']
    """

    def __new__(
        cls, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
    ) -> Headers:
        """Headers made by hand (a mapping or pairs), for fakes in unit
        tests; they can be changed."""

    def __getitem__(self, key: str, /) -> str:
        """The value of ``name``; KeyError if it was not sent."""
    def __setitem__(self, key: str, value: str, /) -> None:
        """Sets ``name`` to ``value``, replacing its values (TypeError for a
        response's headers)."""
    def __delitem__(self, key: str, /) -> None:
        """Removes every value of ``name``; KeyError if it is not there."""
    def update(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        """Sets each (name, value) of a mapping or pairs, replacing that name's
        values (a request's headers only)."""
    def __contains__(self, key: object, /) -> bool:
        """True if ``name`` was sent (any case)."""
    def __len__(self) -> int:
        """The number of distinct names."""
    def __iter__(self) -> Iterator[str]:
        """The distinct names, lower-case."""
    def __eq__(self, value: object, /) -> bool:
        """Equal to Headers or a dict with the same names (any case) and values."""
    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of ``name``, or ``default``."""
    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in the order sent; [] if it was not sent."""
    def keys(self) -> list[str]:
        """The distinct names, lower-case."""
    def values(self) -> list[str]:
        """The (joined) value of each distinct name."""
    def items(self) -> list[tuple[str, str]]:
        """(name, joined value) for each distinct name."""
    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair as sent, repeated names included."""

@final
class Response:
    """The response to one request, with its body read in full, or (from
    :meth:`fastio.Client.stream`) to be streamed.

    Example::

        response = await fastio.fetch("https://example.com/data.json")
        if response.ok:
            data = response.json()
    """

    def __new__(
        cls,
        status_code: int,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        content: bytes | bytearray | memoryview | str | None = None,
        text: str | None = None,
        json: Any = None,
        url: str = "",
        method: str = "GET",
    ) -> Response:
        """A Response made by hand, for fakes in unit tests."""

    @property
    def status(self) -> int:
        """The status code, such as 200."""
    @property
    def status_code(self) -> int:
        """The status code (httpx's name for :attr:`status`)."""
    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
    @property
    def is_redirect(self) -> bool:
        """True for a redirect status (301, 302, 303, 307, 308) with a Location."""
    @property
    def is_error(self) -> bool:
        """True for a 4xx or 5xx status."""
    @property
    def reason(self) -> str:
        """The standard reason phrase of the status ("OK", "Not Found"), or ""."""
    @property
    def reason_phrase(self) -> str:
        """The standard reason phrase (httpx's name for :attr:`reason`)."""
    @property
    def is_client_error(self) -> bool:
        """True for a 4xx status."""
    @property
    def is_server_error(self) -> bool:
        """True for a 5xx status."""
    @property
    def headers(self) -> Headers:
        """The response headers (a new view on them at each read)."""
    @property
    def url(self) -> str:
        """The final URL, after redirects."""
    @property
    def request_url(self) -> str:
        """The URL as it was given."""
    @property
    def method(self) -> str:
        """The method of the request that got this response."""
    @property
    def http_version(self) -> str:
        """ "HTTP/1.1", "HTTP/2", ..."""
    @property
    def elapsed(self) -> Elapsed:
        """Seconds from sending the request to having the whole body (for a
        streamed response: to having its head): a float that also answers
        as httpx's timedelta (``total_seconds()``, compared with or added to
        a ``timedelta``)."""
    @property
    def timings(self) -> Timings | None:
        """Where the request's time went: name resolution, connect and TLS of
        the connection it opened, the wait for the head, whether the
        connection was reused, the peer's address, the attempts made; see
        :class:`fastio.Timings`. ``None`` for a Response made by hand."""
    @property
    def content(self) -> bytes:
        """The body; for a streamed response only after ``await aread()``
        (else :class:`fastio.ResponseNotRead`)."""
    @property
    def index(self) -> int | None:
        """The position of its URL in the input of ``fetch_all`` or
        ``fetch_iter``; None for a single request."""
    @property
    def encoding(self) -> str:
        """The charset named by Content-Type, else "utf-8"."""
    def aiter_bytes(self, chunk_size: int | None = None) -> _ByteIterator:
        """Async iterator over the body: pieces of what has arrived (up to
        256 KiB), or of exactly ``chunk_size`` bytes (the last may be
        shorter). A streamed body can be iterated once
        (:class:`fastio.StreamConsumed` after); an in-memory one any number
        of times.

        Example::

            async with client.stream("GET", url) as response:
                async for piece in response.aiter_bytes():
                    sink.write(piece)
        """
    def aiter_raw(self, chunk_size: int | None = None) -> _ByteIterator:
        """Async iterator over the body as the server sent it, still
        compressed if its Content-Encoding says so. A streamed body is read
        this way or decoded, once; the raw bytes of a body already read
        whole are not kept, so a compressed one raises
        :class:`fastio.StreamConsumed`.

        Example::

            async with client.stream("GET", url) as response:
                async for piece in response.aiter_raw():
                    sink.write(piece)
        """
    @property
    def body_size(self) -> int | None:
        """The length of the (decoded) body in bytes, whether it was kept or
        not (a bulk call with ``keep_body=False`` counts bodies without
        keeping them); None for a streamed body not read yet."""
    @property
    def num_bytes_downloaded(self) -> int:
        """Body bytes received over the wire so far, before decoding: a
        compressed body's compressed size, as httpx counts it."""
    def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        """Async iterator over the body as text, decoded incrementally with
        :attr:`encoding`; undecodable bytes become U+FFFD."""
    def aiter_lines(self) -> AsyncIterator[str]:
        """Async iterator over the body's lines, without their endings. A
        line longer than 16 MiB characters raises :class:`fastio.BodyTooLarge`.

        Example::

            async with client.stream("GET", url + "/events.ndjson") as response:
                async for line in response.aiter_lines():
                    handle(json.loads(line))
        """
    def aread(self) -> FastioFuture[bytes]:
        """Reads the rest of a streamed body and keeps it as :attr:`content`;
        returns the body (at once when it is already in memory).

        Example::

            async with client.stream("GET", url) as response:
                if response.ok:
                    data = (await response.aread(), response.json())[1]
        """
    def aclose(self) -> FastioFuture[None]:
        """Closes a streamed body and releases its connection; a no-op for
        other responses and for bodies already read to the end."""
    @property
    def text(self) -> str:
        """The body decoded with the charset of Content-Type (UTF-8 if none or
        unknown); undecodable bytes become U+FFFD."""
    def json(self) -> Any:
        """The body parsed as JSON by orjson; raises
        :class:`fastio.JSONDecodeError` (a :class:`fastio.DecodeError` and a
        ``json.JSONDecodeError``, so a ValueError) if it is not JSON."""
    @property
    def ok(self) -> bool:
        """True for a status below 400."""
    def raise_for_status(self) -> Response:
        """Returns this response, or raises HTTPStatusError (with ``.response``)
        for a status of 400 or more."""
    def __aenter__(self) -> FastioFuture[Response]:
        """``async with response:`` (aiohttp's idiom); gives the response."""
    def __aexit__(self, *exc: object) -> FastioFuture[None]:
        """Leaving ``async with`` releases a streamed body's connection, as
        :meth:`aclose`; exceptions go on."""
    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response sets (its ``Set-Cookie`` headers), name to value."""
    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` headers parsed as httpx does: keyed by ``rel`` (else by
        URL), each a dict with ``url`` and the link's parameters."""
    @property
    def request(self) -> Request:
        """The request that got this response (after redirects, the last
        one): its method, URL and the headers sent (the jar's cookies aside)."""
    @property
    def history(self) -> list[Response]:
        """The redirect responses that led here, oldest first."""

@final
class Timings:
    """Where one request's time went, in seconds.

    ``dns``, ``connect`` and ``tls`` are the phases of the connection the
    request opened (``None`` when it reused one, or when the phase did not
    happen: an IP address or ``resolve=`` needs no lookup, plain HTTP no
    TLS); ``first_byte`` runs from sending the request (its connection
    slot held, a new connection's phases included) to the response's head;
    ``total`` to the end of the body (as ``Response.elapsed``). ``reused``
    says whether the connection was there already; ``peer`` is the address
    connected to (``"ip:port"``; the proxy's through one); ``attempts``
    counts the tries (after retries, the final attempt's timings).

    A failed request's error has them too (``FastioError.timings``): the
    phases its own connect reached (a connect that failed: ``dns`` and the
    time ``connect`` took to fail), ``first_byte`` None, ``total`` from
    sending its last attempt to the failure, ``reused`` True when it
    started no connect of its own.
    """

    @property
    def dns(self) -> float | None:
        """Name resolution, when the request's connection needed one."""
    @property
    def connect(self) -> float | None:
        """TCP connect (and a proxy's handshake), when the request opened the
        connection."""
    @property
    def tls(self) -> float | None:
        """The TLS handshake, when the request opened an https connection."""
    @property
    def first_byte(self) -> float | None:
        """From sending the request to the response's head; ``None`` for a
        failure's."""
    @property
    def total(self) -> float:
        """From the start to the end of the body (``Response.elapsed``)."""
    @property
    def reused(self) -> bool:
        """Whether the request went over a connection already open."""
    @property
    def peer(self) -> str | None:
        """The address connected to, ``"ip:port"``; ``None`` if not known."""
    @property
    def attempts(self) -> int:
        """Attempts made: 1 unless retried."""
    def as_dict(self) -> dict[str, float | bool | str | int | None]:
        """Everything as a dict (seconds), for records and logs."""

@final
class Server:
    """A running test server; see :mod:`fastio.testing`."""

    @property
    def url(self) -> str:
        """Base URL of the well-behaved routes, such as "http://127.0.0.1:41234"."""
    @property
    def fault_url(self) -> str:
        """Base URL of the fault routes (raw TCP, broken HTTP on purpose)."""
    @property
    def port(self) -> int:
        """The port of ``url``."""
    def request_count(self, path: str) -> int:
        """How many requests reached ``path`` (query excluded), on either listener."""
    def request_counts(self) -> dict[str, int]:
        """Requests per path so far."""
    def request_times(self, path: str) -> list[float]:
        """When each request to ``path`` arrived (``time.time()`` seconds), in order."""
    @property
    def open_connections(self) -> int:
        """Connections open right now on the well-behaved listener."""
    @property
    def accepted_connections(self) -> int:
        """Connections accepted so far on the well-behaved listener."""
    def reset_counts(self) -> None:
        """Forgets the request counts."""
    def close(self) -> None:
        """Stops accepting and drops every open connection."""

def _start_test_server(host: str = "127.0.0.1", port: int = 0) -> Server:
    """Internal: starts a test server; use :func:`fastio.testing.serve`."""

@final
class DnsServer:
    """A running DNS server; see :mod:`fastio.testing`."""

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, as ``dns_servers=`` takes it."""
    @property
    def queries(self) -> int:
        """Queries received so far, of every name."""
    def queries_for(self, name: str) -> int:
        """Queries received so far for ``name`` (lower case, no final dot)."""
    def query_times(self, name: str) -> list[float]:
        """When each query for ``name`` arrived (``time.time()`` seconds), in order."""
    def close(self) -> None: ...

def _start_dns_server(latency: float = 0.0, ttl: int = 300, port: int = 0) -> DnsServer:
    """Internal: starts a DNS server; use :func:`fastio.testing.serve_dns`."""

@final
class _ClientSession:
    """Internal: the native half of :class:`fastio.Client`; use that."""

    def __new__(
        cls,
        *,
        base_url: str | None = None,
        headers: _HeadersArg = None,
        params: _ParamsArg = None,
        cookies: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        auth: tuple[str, str] | str | None = None,
        timeout: _TimeoutArg = ...,
        connect_timeout: _Limit = ...,
        read_timeout: _Limit = ...,
        pool_timeout: _Limit = ...,
        max_connections: int | None = ...,  # 100
        per_host: int | Literal["auto"] | None = None,
        rate_limit: float | None = None,
        http2: bool | None = None,
        follow_redirects: bool = True,
        max_redirects: int = ...,  # 10
        allow_https_to_http: bool = False,
        verify: bool = True,
        ca_bundle: Any = None,
        cert: Any = None,
        proxy: str | None = None,
        trust_env: bool = True,
        resolve: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        max_body_size: int | None = None,
        retries: int = ...,  # 0
        retry_backoff: float = ...,  # DEFAULT_RETRY_BACKOFF
        max_retry_after: float = ...,  # DEFAULT_MAX_RETRY_AFTER
        retry_methods: Iterable[str] | None = None,
        raise_for_status: bool = False,
        mocked: bool = False,
        max_idle_connections: int | None = None,
        keepalive_expiry: float | EllipsisType | None = ...,
        cookie_jar: bool = True,
        local_address: str | None = None,
        dns_servers: Sequence[str] | None = None,
    ) -> _ClientSession:
        """Checks every option and makes the session (no I/O beyond reading
        the ca_bundle and cert files)."""
    @staticmethod
    def shared(verify: bool) -> _ClientSession:
        """The session behind the module-level functions, one per ``verify``."""
    def request(
        self,
        method: str,
        url: str,
        params: _ParamsArg = None,
        headers: _HeadersArg = None,
        cookies: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        content: bytes | bytearray | memoryview | str | _UploadBody | None = None,
        timeout: _TimeoutArg = ...,
        retries: int | None = None,
        stream: bool = False,
        auth: tuple[str, str] | str | None = None,
        follow_redirects: bool | None = None,
        max_body_size: int | None = None,
        prepared: bool = False,
    ) -> FastioFuture[Response]:
        """One request on this session's settings; with ``stream`` its
        Response comes at the head, the body to be streamed. A ``prepared``
        request already has the client's URL, params and headers. Arguments
        may come by position (the per-request path of ``Client.request``
        and its kin: no keyword dict)."""
    @overload
    def fetch_many(
        self,
        urls: Iterable[str | Request],
        *,
        in_order: Literal[True],
        concurrency: int = ...,  # 100
        method: str = "GET",
        headers: _HeadersArg = None,
        timeout: _TimeoutArg = ...,
        retries: int | None = None,
        return_exceptions: bool = False,
        max_body_size: int | None = None,
        progress: _Progress | None = None,
        retry_methods: Iterable[str] | None = None,
        max_bytes_in_flight: int | None = None,
        keep_body: bool = True,
    ) -> FastioFuture[list[Any]]:
        """fetch_all (``in_order``) or fetch_iter's native stream on this
        session's settings."""
    @overload
    def fetch_many(
        self,
        urls: Iterable[str | Request],
        *,
        in_order: Literal[False],
        concurrency: int = ...,  # 100
        method: str = "GET",
        headers: _HeadersArg = None,
        timeout: _TimeoutArg = ...,
        retries: int | None = None,
        return_exceptions: bool = False,
        max_body_size: int | None = None,
        progress: _Progress | None = None,
        retry_methods: Iterable[str] | None = None,
        max_bytes_in_flight: int | None = None,
        keep_body: bool = True,
    ) -> _FetchStream: ...
    def default_headers(self) -> list[tuple[str, str]]:
        """The headers every request starts with, as (name, value) pairs."""
    def set_default_headers(self, headers: Any) -> None:
        """Replaces the headers requests made from now on start with."""
    def default_cookies(self) -> list[tuple[str, str]]:
        """The cookies every request sends, as (name, value) pairs."""
    def set_default_cookies(self, cookies: Any) -> None:
        """Replaces the cookies requests made from now on send."""
    def base_url(self) -> str | None:
        """The URL relative URLs are joined to, or None."""
    def set_base_url(self, base_url: str | None, /) -> None:
        """Sets (or with None, removes) the base URL of requests made from now on."""
    def close(self) -> None:
        """Drops the pool's idle connections; running requests finish."""
    def sent_url(self, url: str) -> str:
        """`url` as a request to it is sent: joined to the base URL if
        relative, with the client's params."""
    def next_exchanges(self) -> FastioFuture[list[_Exchange] | None]:
        """The next requests waiting for a mock transport's handler (a list of
        `_Exchange`), or None once the client is closed."""
    def describe(self) -> str:
        """A short description for repr, credentials hidden."""

@final
class _ByteIterator:
    """Internal: what :meth:`Response.aiter_bytes` returns."""

    def __aiter__(self) -> Self: ...
    def __anext__(self) -> FastioFuture[bytes]:
        """The next piece; raises StopAsyncIteration at the end."""

@final
class _FetchStream:
    """Internal: the native half of :class:`fastio.FetchIterator`."""

    def next_batch(self) -> FastioFuture[tuple[list[Any], bool]]:
        """(results that arrived, whether the stream ended) once there is
        either; raises what the work failed with."""
    def close(self) -> None:
        """Stops: requests in flight are dropped, nothing more is pulled."""

@final
class _Exchange:
    """Internal: one request waiting for a mock transport's handler;
    answered once, by `answer` or `fail`."""

    @property
    def request(self) -> Request:
        """The request as it would have gone on the wire."""
    def answer(self, response: Response) -> None:
        """Answers with `response`: its status, headers and body, as a server's."""
    def fail(self, exception: BaseException) -> None:
        """Fails the request with `exception`: one of fastio's transport errors
        fails it as that failure of the network would (and is retried as
        one); anything else is raised by the request unchanged."""

@final
class _UploadBody:
    """Internal: the channel a streamed request body is pumped through."""

    def __new__(cls) -> _UploadBody: ...
    def send(self, chunk: bytes | bytearray | memoryview | str) -> FastioFuture[bool]:
        """Queues a chunk; finishes once there is room, False if the request
        no longer reads its body."""
    def finish(self) -> None:
        """Ends the body after the queued chunks."""
    def fail(self, message: str) -> None:
        """Ends the body with an error: the request fails."""

@final
class _Progress:
    """Internal: counters a fetch_all/fetch_iter updates, read by its progress bar."""

    def __new__(cls) -> _Progress: ...
    @property
    def done(self) -> int:
        """Requests finished, successes and failures."""
    @property
    def failed(self) -> int:
        """Requests that failed (transport errors, invalid URLs)."""
    @property
    def bytes(self) -> int:
        """Body bytes received (decoded) by the finished requests."""

def _busiest_task_share() -> float:
    """The largest share of the worker threads' CPU time spent polling one task
    since the previous call; the first call starts the timing and returns
    0.0. RuntimeError in a build without tokio's task hooks."""

def _live_counts() -> tuple[int, int]:
    """Internal: (fastio awaitables alive, pieces of Rust work alive)."""

def _shown_header(name: str, value: str) -> str:
    """A header's value as reprs and records show it: ``[secure]`` for
    credentials (Authorization, Cookie, Set-Cookie and the like)."""

def _shown_url(url: str) -> str:
    """Internal: ``url`` as records show it (normalised, credentials hidden)."""
