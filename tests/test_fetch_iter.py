"""fetch_iter: every input once, in completion order, failures included;
lazy input, batched delivery, backpressure, and connections freed when the
iteration stops early."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from helpers import cancel_and_time, open_connections_settle

import fastio
from fastio._fastio import Server


async def test_yields_in_completion_order_with_index_and_request_url(server: Server) -> None:
    delays = [0.4, 0.1, 0.3, 0.0, 0.2]
    urls = [server.url + f"/delay/{delay}" for delay in delays]
    results = [response async for response in fastio.fetch_iter(urls)]
    assert [response.index for response in results] == [3, 1, 4, 2, 0]
    for response in results:
        assert response.request_url == urls[response.index]
        assert response.status == 200


def test_on_each_loop(
    server: Server, run_on_each_loop: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]
) -> None:
    urls = [server.url + f"/bytes/{size}" for size in range(300)]

    async def main() -> list[int]:
        return [len(response.content) async for response in fastio.fetch_iter(urls)]

    assert sorted(run_on_each_loop(main)) == list(range(300))


async def test_every_input_exactly_once_failures_included(server: Server, closed_port: int) -> None:
    urls = []
    for number in range(600):
        if number % 100 == 7:
            urls.append(f"http://127.0.0.1:{closed_port}/refused/{number}")
        elif number % 100 == 42:
            urls.append(f"not a url {number}")
        else:
            urls.append(server.url + f"/bytes/{number}")
    seen: list[int] = []
    async with fastio.Client() as client:
        async for item in client.fetch_iter(urls, concurrency=32, return_exceptions=True):
            assert item.index is not None
            seen.append(item.index)
            if isinstance(item, fastio.FastioError):
                assert item.url == urls[item.index]
                expected = (
                    fastio.ConnectError if "refused" in urls[item.index] else fastio.InvalidURL
                )
                assert isinstance(item, expected)
            else:
                assert len(item.content) == item.index
    assert sorted(seen) == list(range(600))


async def collect_indexes(
    responses: fastio.FetchIterator[fastio.Response], into: list[int | None]
) -> None:
    async for response in responses:
        into.append(response.index)


async def test_the_first_failure_raises_and_stops_the_rest(
    server: Server, closed_port: int
) -> None:
    bad = f"http://127.0.0.1:{closed_port}/refused"
    urls = [server.url + "/bytes/1", bad] + [server.url + "/delay/10"] * 5
    got: list[int | None] = []
    started = time.monotonic()
    with pytest.raises(fastio.ConnectError) as raised:
        await collect_indexes(fastio.fetch_iter(urls), got)
    assert time.monotonic() - started < 1
    assert raised.value.url == bad
    assert raised.value.index == 1
    # The refusal may come before or after the quick success, nothing after.
    assert got in ([], [0])
    # The slow requests' connections are closed; the quick one's may have
    # gone back to the pool (its request runs as a task of its own and can
    # finish before the refusal is seen).
    assert await open_connections_settle(server, at_most=1) <= 1


async def test_input_is_pulled_lazily(server: Server) -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for number in itertools.count():
            pulled += 1
            yield server.url + f"/bytes/{number % 50}"

    got = 0
    async with fastio.fetch_iter(endless(), concurrency=8) as responses:
        async for _ in responses:
            got += 1
            if got == 100:
                break
    # Pulled in chunks as requests start, never the endless whole.
    assert pulled < 3000


async def test_a_slow_consumer_holds_back_new_requests(server: Server) -> None:
    urls = [server.url + f"/flaky/back{number}?fail=0" for number in range(2000)]
    async with fastio.fetch_iter(urls, concurrency=10) as responses:
        async for response in responses:
            if response.index is not None:
                break
        await asyncio.sleep(0.3)
        sent = sum(server.request_count(f"/flaky/back{number}") for number in range(2000))
    # One taken, ten in flight, ten waiting in the buffer: not two thousand.
    assert sent < 200


async def test_results_arrive_in_batches(server: Server) -> None:
    urls = [server.url + "/bytes/10"] * 3000
    responses = fastio.fetch_iter(urls, concurrency=100)
    native = responses._stream
    calls = 0

    class Counting:
        def next_batch(self) -> Any:
            nonlocal calls
            calls += 1
            return native.next_batch()

        def __getattr__(self, name: str) -> Any:
            return getattr(native, name)

    responses._stream = Counting()  # type: ignore[assignment]
    count = len([response async for response in responses])
    assert count == 3000
    # About one batch per six to eight responses here; a third leaves room.
    assert calls < count / 3, calls


async def test_cancelling_the_consumer_frees_connections(server: Server) -> None:
    async with fastio.Client(max_connections=4, pool_timeout=5) as client:
        first = asyncio.Event()

        async def consume() -> None:
            urls = [server.url + "/bytes/5"] + [server.url + "/delay/10"] * 20
            async for _ in client.fetch_iter(urls, concurrency=4):
                first.set()

        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(first.wait(), 5)
        await asyncio.sleep(0.1)
        assert await cancel_and_time(task) < 1
        # The four slots are free again at once.
        started = time.monotonic()
        assert (await client.get(server.url + "/bytes/3")).status == 200
        assert time.monotonic() - started < 1
    assert await open_connections_settle(server, at_most=0) == 0


async def test_aclose_stops_pulling_and_sending(server: Server) -> None:
    responses = fastio.fetch_iter([server.url + "/delay/0.05"] * 1000, concurrency=5)
    await anext(responses)
    await responses.aclose()
    await asyncio.sleep(0.3)
    sent = server.request_count("/delay/0.05")
    await asyncio.sleep(0.2)
    assert server.request_count("/delay/0.05") == sent < 50
    with pytest.raises(StopAsyncIteration):
        await anext(responses)


async def test_empty_input(server: Server) -> None:
    assert [response async for response in fastio.fetch_iter([])] == []


async def test_against_httpbin(httpbin: Any) -> None:
    urls = [httpbin.url + f"/status/{code}" for code in (200, 404, 500)]
    statuses = {response.index: response.status async for response in fastio.fetch_iter(urls)}
    assert statuses == {0: 200, 1: 404, 2: 500}


async def test_bad_arguments_raise_at_once() -> None:
    with pytest.raises(TypeError, match="not a single str"):
        fastio.fetch_iter("http://127.0.0.1/")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable of URLs"):
        fastio.fetch_iter(12)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        fastio.fetch_iter(["http://127.0.0.1/"], concurrency=0)


async def test_a_non_str_item_raises_type_error_when_pulled(server: Server) -> None:
    urls: list[Any] = [server.url + "/bytes/1", b"http://127.0.0.1/"]
    with pytest.raises(TypeError, match="item 1 is bytes"):
        async for _ in fastio.fetch_iter(urls):
            pass


async def test_an_iterator_that_raises_propagates(server: Server) -> None:
    def broken() -> Iterator[str]:
        yield server.url + "/bytes/1"
        raise LookupError("no more input")

    with pytest.raises(LookupError, match="no more input"):
        async for _ in fastio.fetch_iter(broken()):
            pass
