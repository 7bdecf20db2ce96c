"""fastio.fetch_all: many URLs as one Rust task, results in input order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from helpers import cancel_and_time, open_connections_settle, run_script

import fastio
from fastio._fastio import Server


async def test_results_come_in_input_order(server: Server) -> None:
    sizes = [5, 0, 300, 17, 65_536, 1]
    responses = await fastio.fetch_all(f"{server.url}/bytes/{size}" for size in sizes)
    assert [len(response.content) for response in responses] == sizes
    assert [response.request_url for response in responses] == [
        f"{server.url}/bytes/{size}" for size in sizes
    ]


async def test_empty_input_gives_an_empty_list() -> None:
    assert await fastio.fetch_all([]) == []
    assert await fastio.fetch_all(iter(())) == []


async def test_error_statuses_are_responses(server: Server) -> None:
    responses = await fastio.fetch_all([server.url + "/status/404", server.url + "/status/503"])
    assert [response.status for response in responses] == [404, 503]


async def test_ten_thousand_urls_with_mixed_failures_stay_in_order(server: Server) -> None:
    urls: list[str] = []
    for index in range(10_000):
        kind = index % 10
        if kind == 3:
            urls.append(f"{server.fault_url}/reset")
        elif kind == 7:
            urls.append(f"not a url {index}")
        elif kind == 9:
            urls.append(f"{server.url}/status/{404 if index % 20 == 9 else 500}")
        else:
            urls.append(f"{server.url}/bytes/{index % 97}")
    results = await fastio.fetch_all(urls, concurrency=64, return_exceptions=True)
    assert len(results) == len(urls)
    for index, result in enumerate(results):
        kind = index % 10
        if kind == 3:
            assert isinstance(result, fastio.ReadError), (index, result)
            assert result.url == urls[index]
        elif kind == 7:
            assert isinstance(result, fastio.InvalidURL), (index, result)
            assert result.url == urls[index]
        elif kind == 9:
            assert isinstance(result, fastio.Response)
            assert result.status == (404 if index % 20 == 9 else 500)
        else:
            assert isinstance(result, fastio.Response)
            assert len(result.content) == index % 97
            assert result.request_url == urls[index]
    # Every request reached the server exactly once: nothing dropped, nothing twice.
    counts = server.request_counts()
    assert counts["/reset"] == 1000
    assert counts["/status/404"] + counts["/status/500"] == 1000
    assert sum(count for path, count in counts.items() if path.startswith("/bytes/")) == 7000


async def test_the_first_failure_raises_and_cancels_the_rest(server: Server) -> None:
    urls = [server.url + "/delay/10"] * 20 + [server.fault_url + "/reset"]
    started = time.monotonic()
    with pytest.raises(fastio.ReadError) as raised:
        await fastio.fetch_all(urls, concurrency=50)
    assert time.monotonic() - started < 2.0
    assert raised.value.url == server.fault_url + "/reset"
    await asyncio.sleep(0.2)
    assert server.open_connections == 0


async def test_an_invalid_url_raises_without_return_exceptions(server: Server) -> None:
    with pytest.raises(fastio.InvalidURL, match="nope"):
        await fastio.fetch_all([server.url + "/json", "nope"])


async def test_generators_are_consumed_lazily(server: Server) -> None:
    pulled = 0
    total = 5000

    def urls() -> Iterator[str]:
        nonlocal pulled
        for index in range(total):
            pulled += 1
            yield f"{server.url}/bytes/{index % 7}"

    pending = fastio.fetch_all(urls(), concurrency=4)
    # Only a first chunk is pulled when the call is made, not everything.
    assert 0 < pulled < total
    responses = await pending
    assert pulled == total
    assert len(responses) == total


async def test_a_generator_that_raises_midway_fails_the_batch(server: Server) -> None:
    def urls() -> Iterator[str]:
        for index in range(3000):
            if index == 2500:
                raise LookupError("the source broke")
            yield f"{server.url}/bytes/1"

    with pytest.raises(LookupError, match="the source broke"):
        await fastio.fetch_all(urls(), concurrency=8)


async def test_a_non_str_item_is_a_type_error(server: Server) -> None:
    with pytest.raises(TypeError, match="item 1"):
        fastio.fetch_all([server.url + "/json", b"http://127.0.0.1/"])


def test_a_bare_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not a single str"):
        fastio.fetch_all("http://127.0.0.1/")


@pytest.mark.parametrize("concurrency", [0, -5])
def test_concurrency_below_one_is_a_value_error(concurrency: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        fastio.fetch_all([], concurrency=concurrency)


def test_a_non_iterable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="iterable"):
        fastio.fetch_all(42)  # type: ignore[arg-type]


async def test_concurrency_bounds_requests_in_flight(server: Server) -> None:
    started = time.monotonic()
    await fastio.fetch_all([server.url + "/delay/0.2"] * 6, concurrency=2)
    elapsed = time.monotonic() - started
    # Three rounds of two: at least 0.6 s; liveness bound above.
    assert 0.55 <= elapsed < 5


async def test_time_queued_does_not_count_against_the_timeout(server: Server) -> None:
    responses = await fastio.fetch_all([server.url + "/delay/0.3"] * 3, concurrency=1, timeout=0.6)
    assert [response.status for response in responses] == [200, 200, 200]


async def test_a_timeout_applies_to_each_request(server: Server) -> None:
    results = await fastio.fetch_all(
        [server.url + "/json", server.url + "/delay/10"], timeout=0.2, return_exceptions=True
    )
    assert isinstance(results[0], fastio.Response)
    assert isinstance(results[1], fastio.TimeoutError)


async def test_cancelling_a_slow_fetch_all_returns_promptly(server: Server) -> None:
    task = asyncio.ensure_future(fastio.fetch_all([server.url + "/delay/10"] * 50))
    await asyncio.sleep(0.2)
    assert await cancel_and_time(task) < 1.0
    assert await open_connections_settle(server, at_most=0) <= 0


async def test_method_and_headers_apply_to_every_request(server: Server) -> None:
    responses = await fastio.fetch_all(
        [server.url + "/echo"] * 3, method="DELETE", headers={"X-Batch": "1"}
    )
    for response in responses:
        assert response.json()["method"] == "DELETE"
        assert response.json()["headers"]["x-batch"] == ["1"]


def test_works_under_uvloop_and_the_default_loop(run_on_each_loop, server: Server) -> None:
    async def main() -> list[int]:
        responses = await fastio.fetch_all([f"{server.url}/bytes/{n}" for n in range(200)])
        return [len(response.content) for response in responses]

    assert run_on_each_loop(main) == list(range(200))


REPEATED_LARGE_BODY = """
import asyncio, os, resource
import fastio, fastio.testing

async def main():
    size = int(os.environ["BODY_SIZE"])
    with fastio.testing.serve() as server:
        for _ in range(int(os.environ["FETCHES"])):
            responses = await fastio.fetch_all([f"{server.url}/bytes/{size}"])
            assert len(responses[0].content) == size
            del responses
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)

asyncio.run(main())
"""


def peak_rss_fetching(size: int, times: int) -> int:
    """Peak RSS in MiB of a fresh process fetching one body `times` times."""
    done = run_script(
        REPEATED_LARGE_BODY, env={"BODY_SIZE": str(size), "FETCHES": str(times)}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.timeout(180)
def test_a_freed_large_body_is_given_back_before_the_next_one() -> None:
    # Each 50 MB body lives twice at its peak (the Rust buffer, then the
    # bytes object); a freed one kept by the allocator would add 50 MB or
    # more on the following fetches.
    once = peak_rss_fetching(50_000_000, 1)
    five_times = peak_rss_fetching(50_000_000, 5)
    assert five_times < once + 30, (once, five_times)


async def test_a_busy_loop_holds_the_network_back(server: Server) -> None:
    """Bodies the loop has not taken yet are bounded (64 MiB): while the
    loop is blocked, fetch_all stops reading instead of filling memory."""
    path = f"/bytes/{1 << 20}"
    work = asyncio.ensure_future(fastio.fetch_all([server.url + path] * 400, concurrency=16))
    while server.request_count(path) < 20:  # noqa: ASYNC110 - polls a server-side counter
        await asyncio.sleep(0.01)
    time.sleep(1.5)  # noqa: ASYNC251 - the loop is busy on purpose: nothing is converted
    fetched_while_blocked = server.request_count(path)
    responses = await work
    assert len(responses) == 400
    assert all(len(response.content) == 1 << 20 for response in responses)
    # 64 MiB of budget, 16 MiB of prefix, 16 in flight: far from 400.
    assert fetched_while_blocked < 200, fetched_while_blocked


async def test_keep_body_false_counts_bodies_of_urls_and_requests_alike(server: Server) -> None:
    items: list[str | fastio.Request] = [
        server.url + "/bytes/1000",
        fastio.Request("GET", server.url + "/bytes/2000"),
    ]
    results = await fastio.fetch_all(items, keep_body=False)
    assert [response.body_size for response in results] == [1000, 2000]
    for response in results:
        with pytest.raises(fastio.ResponseNotRead):
            _ = response.content


async def test_request_items_take_the_calls_settings_under_their_own(server: Server) -> None:
    async with fastio.Client(headers={"X-Client": "c"}, cookies={"k": "v"}) as client:
        results = await client.fetch_all(
            [
                server.url + "/echo",
                fastio.Request("GET", server.url + "/echo", headers={"X-Item": "i"}),
                fastio.Request("GET", server.url + "/bytes/5000"),
            ],
            headers={"X-Call": "a"},
            max_body_size=4000,
            return_exceptions=True,
        )
    plain, item, too_big = results
    assert isinstance(plain, fastio.Response)
    assert isinstance(item, fastio.Response)
    for echoed in (plain.json()["headers"], item.json()["headers"]):
        assert echoed["x-client"] == ["c"]
        assert echoed["x-call"] == ["a"]
        assert echoed["cookie"] == ["k=v"]
    assert item.json()["headers"]["x-item"] == ["i"]
    assert isinstance(too_big, fastio.BodyTooLarge)
