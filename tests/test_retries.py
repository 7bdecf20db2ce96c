"""Retries: the server's own request counters and arrival times prove how
often and how late fastio sent each request again."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

import fastio
import fastio.testing
from fastio._fastio import Server


def gaps(server: Server, path: str) -> list[float]:
    """Seconds between the arrivals of the requests to ``path``."""
    times = server.request_times(path)
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_a_503_is_retried_with_growing_backoff(server: Server) -> None:
    async with fastio.Client(retries=3, retry_backoff=0.1) as client:
        response = await client.get(server.url + "/flaky/a?fail=3")
    assert response.status == 200
    assert server.request_count("/flaky/a") == 4
    waits = gaps(server, "/flaky/a")
    # Equal jitter: each wait is half to all of 0.1, 0.2, 0.4 s.
    for wait, full in zip(waits, [0.1, 0.2, 0.4], strict=True):
        assert full / 2 - 0.01 <= wait <= full + 0.5, waits


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_every_retryable_status(server: Server, status: int) -> None:
    async with fastio.Client(retries=1, retry_backoff=0.01) as client:
        response = await client.get(server.url + f"/flaky/s{status}?fail=1&status={status}")
    assert response.status == 200
    assert server.request_count(f"/flaky/s{status}") == 2


async def test_other_statuses_are_not_retried(server: Server) -> None:
    async with fastio.Client(retries=3, retry_backoff=0.01) as client:
        response = await client.get(server.url + "/flaky/e?fail=1&status=500")
    assert response.status == 500
    assert server.request_count("/flaky/e") == 1


async def test_after_the_last_attempt_its_response_is_returned(server: Server) -> None:
    async with fastio.Client(retries=2, retry_backoff=0.01) as client:
        response = await client.get(server.url + "/flaky/b?fail=10")
    assert response.status == 503
    assert response.text == "failure 3 of 10\n"
    assert server.request_count("/flaky/b") == 3


async def test_statuses_are_retried_only_for_idempotent_methods(server: Server) -> None:
    async with fastio.Client(retries=3, retry_backoff=0.01) as client:
        posted = await client.post(server.url + "/flaky/post?fail=1", content=b"x")
        put = await client.put(server.url + "/flaky/put?fail=1", content=b"x")
    assert posted.status == 503
    assert server.request_count("/flaky/post") == 1
    assert put.status == 200
    assert server.request_count("/flaky/put") == 2


async def test_retry_after_sets_the_wait(server: Server) -> None:
    async with fastio.Client(retries=1, retry_backoff=0.01) as client:
        response = await client.get(server.url + "/flaky/later?fail=1&retry_after=1")
    assert response.status == 200
    (wait,) = gaps(server, "/flaky/later")
    assert 0.95 <= wait <= 2.5


async def test_a_retry_after_beyond_the_limit_ends_the_retries(server: Server) -> None:
    async with fastio.Client(retries=3, max_retry_after=0.5) as client:
        started = time.monotonic()
        response = await client.get(server.url + "/flaky/far?fail=1&retry_after=30")
    assert time.monotonic() - started < 1
    assert response.status == 503
    assert response.headers["retry-after"] == "30"
    assert server.request_count("/flaky/far") == 1


async def test_timeout_applies_to_each_attempt(server: Server) -> None:
    async with fastio.Client(retries=2, retry_backoff=0.01, timeout=0.3) as client:
        started = time.monotonic()
        response = await client.get(server.url + "/flaky/slow?fail=1&delay=10")
        assert response.status == 200
        assert time.monotonic() - started < 2
        assert server.request_count("/flaky/slow") == 2
        # Not for POST: a request that timed out may have been processed.
        with pytest.raises(fastio.TimeoutError) as raised:
            await client.post(server.url + "/flaky/slowpost?fail=1&delay=10", content=b"x")
    assert raised.value.url == server.url + "/flaky/slowpost?fail=1&delay=10"
    assert server.request_count("/flaky/slowpost") == 1


async def test_a_lost_connection_is_retried_for_get_then_raised(server: Server) -> None:
    url = server.fault_url + "/reset-mid-body"
    async with fastio.Client(retries=2, retry_backoff=0.01) as client:
        with pytest.raises(fastio.ReadError) as raised:
            await client.get(url)
    assert raised.value.url == url
    assert server.request_count("/reset-mid-body") == 3


@contextlib.contextmanager
def server_starting_after(delay: float, port: int) -> Iterator[list[Server]]:
    """A test server that starts listening on ``port`` after ``delay`` s."""
    started: list[Server] = []
    stop = threading.Event()

    def later() -> None:
        if not stop.wait(delay):
            started.append(fastio.testing._start_test_server("127.0.0.1", port))

    thread = threading.Thread(target=later)
    thread.start()
    try:
        yield started
    finally:
        stop.set()
        thread.join()
        for server in started:
            server.close()


async def test_connect_errors_are_retried_for_every_method(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/echo"
    with server_starting_after(0.3, closed_port) as started:
        async with fastio.Client(retries=8, retry_backoff=0.1) as client:
            response = await client.post(url, content=b"sent once")
    assert response.json()["body"] == "sent once"
    # Refused attempts never reached it: the server saw the POST once.
    assert started[0].request_count("/echo") == 1


async def test_without_retries_a_connect_error_raises_at_once(closed_port: int) -> None:
    async with fastio.Client(retry_backoff=5) as client:
        started = time.monotonic()
        with pytest.raises(fastio.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port}/")
    assert time.monotonic() - started < 1


async def test_per_request_retries_override_the_client(server: Server) -> None:
    async with fastio.Client(retries=5, retry_backoff=0.01) as client:
        once = await client.get(server.url + "/flaky/once?fail=1", retries=0)
        again = await client.get(server.url + "/flaky/again?fail=1", retries=1)
    assert (once.status, again.status) == (503, 200)
    assert server.request_count("/flaky/once") == 1
    assert server.request_count("/flaky/again") == 2


async def test_fetch_and_fetch_all_retry(server: Server) -> None:
    response = await fastio.fetch(server.url + "/flaky/fetch?fail=1", retries=1)
    assert response.status == 200
    urls = [server.url + f"/flaky/many{number}?fail=1" for number in range(20)]
    responses = await fastio.fetch_all(urls, retries=1, concurrency=5)
    assert [response.status for response in responses] == [200] * 20
    assert all(server.request_count(f"/flaky/many{number}") == 2 for number in range(20))


async def test_stream_retries_until_a_good_head(server: Server) -> None:
    async with (
        fastio.Client(retries=2, retry_backoff=0.01) as client,
        client.stream("GET", server.url + "/flaky/st?fail=2") as response,
    ):
        assert response.status == 200
        assert await response.aread() == b"success after 2 failures\n"


async def test_cancelling_during_a_backoff_returns_at_once(server: Server) -> None:
    async with fastio.Client(retries=3, retry_backoff=10) as client:
        task = asyncio.ensure_future(client.get(server.url + "/flaky/wait?fail=3"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert time.monotonic() - started < 1
    assert server.request_count("/flaky/wait") == 1


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("retries", -1, ValueError),
        ("retries", "3", TypeError),
        ("retry_backoff", -0.5, ValueError),
        ("retry_backoff", float("nan"), ValueError),
        ("max_retry_after", float("inf"), ValueError),
    ],
)
def test_bad_retry_options(option: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=option):
        fastio.Client(**{option: value})  # type: ignore[arg-type]


async def test_bad_per_request_retries(server: Server) -> None:
    with pytest.raises(ValueError, match="retries"):
        fastio.fetch(server.url, retries=-2)
    with pytest.raises(ValueError, match="retries"):
        fastio.fetch_all([server.url], retries=-2)
