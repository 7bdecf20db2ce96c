"""Client.stream(): streamed response bodies, streamed uploads, and the
connection given back however the block ends; against fastio's test server,
pytest-httpbin and hypercorn (HTTP/2 over TLS)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from conftest import Certificates
from helpers import cancel_and_time, open_connections_settle
from hypothesis import given, settings
from hypothesis import strategies as st

import fastio
from fastio._fastio import Server
from fastio._streaming import aiter_lines

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz\n"


def pattern(length: int) -> bytes:
    """The body of /bytes/{length} up to 4 MB."""
    return (PATTERN * (length // len(PATTERN) + 1))[:length]


def streamed_pattern(length: int) -> bytes:
    """The body of /chunked/{length}: the pattern restarts every 64 KiB piece."""
    piece = 64 * 1024
    return b"".join(pattern(min(piece, length - start)) for start in range(0, length, piece))


# --- reading ---------------------------------------------------------------------


async def test_head_first_then_the_body_in_pieces(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/bytes/3000000") as response,
    ):
        assert response.status == 200
        assert response.headers["content-length"] == "3000000"
        pieces = [piece async for piece in response.aiter_bytes()]
    assert b"".join(pieces) == pattern(3_000_000)
    assert len(pieces) > 1
    assert all(0 < len(piece) <= 256 * 1024 for piece in pieces)


def test_on_each_loop(
    server: Server, run_on_each_loop: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]
) -> None:
    async def main() -> tuple[int, list[str]]:
        async with fastio.Client() as client:
            async with client.stream("GET", server.url + "/chunked/500000") as response:
                size = sum([len(piece) async for piece in response.aiter_bytes()])
            async with client.stream("GET", server.url + "/stream/3") as response:
                lines = [line async for line in response.aiter_lines()]
        return size, lines

    size, lines = run_on_each_loop(main)
    assert size == 500_000
    assert len(lines) == 3


async def test_exact_chunk_sizes(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/chunked/100000") as response,
    ):
        pieces = [piece async for piece in response.aiter_bytes(chunk_size=7000)]
    assert [len(piece) for piece in pieces] == [7000] * 14 + [2000]
    assert b"".join(pieces) == streamed_pattern(100_000)


async def test_lines_arrive_as_the_server_sends_them(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/stream/20") as response,
    ):
        lines = response.aiter_lines()
        started = time.monotonic()
        first = await anext(lines)
        first_after = time.monotonic() - started
        rest = [line async for line in lines]
    assert first == '{"line": 0}'
    # 20 lines 5 ms apart: the first line comes before the last is sent.
    assert first_after < 0.09
    assert rest == [f'{{"line": {number}}}' for number in range(1, 20)]


async def test_text_decodes_characters_split_between_pieces(server: Server) -> None:
    value = "é✓" * 500
    async with (
        fastio.Client() as client,
        client.stream(
            "GET", server.url + "/text", params={"charset": "utf-8", "value": value}
        ) as response,
    ):
        assert response.encoding == "utf-8"
        texts = [text async for text in response.aiter_text(chunk_size=1)]
    assert "".join(texts) == value
    async with (
        fastio.Client() as client,
        client.stream(
            "GET", server.url + "/text", params={"charset": "latin-1", "value": "héllo"}
        ) as response,
    ):
        assert [text async for text in response.aiter_text()] == ["héllo"]


async def test_lines_split_on_every_line_ending(server: Server) -> None:
    body = "one\r\ntwo\nthree\rfour\r\n\r\nlast"
    async with fastio.Client() as client:
        async with client.stream("GET", server.url + "/text", params={"value": body}) as response:
            lines = [line async for line in response.aiter_lines()]
        # One byte at a time, so "\r" and "\n" arrive apart.
        async with client.stream("GET", server.url + "/text", params={"value": body}) as response:
            pieces = response.aiter_bytes(chunk_size=1)
            one_by_one = [line async for line in _lines_of(pieces)]
    assert lines == ["one", "two", "three", "four", "", "last"]
    assert one_by_one == lines


async def _lines_of(pieces: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """aiter_lines over byte pieces of size 1 (through a stand-in response)."""

    class OneByteAtATime:
        encoding = "utf-8"

        def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
            return pieces

    async for line in aiter_lines(OneByteAtATime()):  # type: ignore[arg-type]
        yield line


async def test_aread_keeps_the_body_as_content(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/json") as response,
    ):
        with pytest.raises(fastio.ResponseNotRead):
            _ = response.content
        with pytest.raises(fastio.ResponseNotRead):
            response.json()
        body = await response.aread()
        assert body == response.content
        assert response.json()["name"] == "fastio"
        assert await response.aread() is response.content
        # In memory now: iterating gives it again.
        assert b"".join([piece async for piece in response.aiter_bytes()]) == body


async def test_a_streamed_body_is_read_once(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/bytes/1000") as response,
    ):
        assert len(b"".join([piece async for piece in response.aiter_bytes()])) == 1000
        with pytest.raises(fastio.StreamConsumed):
            response.aiter_bytes()
        with pytest.raises(fastio.StreamConsumed):
            await response.aread()


async def test_reading_after_the_block_raises_stream_closed(server: Server) -> None:
    async with fastio.Client() as client:
        async with client.stream("GET", server.url + "/bytes/100000") as response:
            pass
        with pytest.raises(fastio.StreamClosed) as raised:
            await response.aread()
    assert raised.value.url == server.url + "/bytes/100000"


async def test_in_memory_responses_offer_the_same_iteration(server: Server) -> None:
    response = await fastio.fetch(server.url + "/stream/3")
    assert [line async for line in response.aiter_lines()] == [
        '{"line": 0}',
        '{"line": 1}',
        '{"line": 2}',
    ]
    assert await response.aread() == response.content
    await response.aclose()
    with pytest.raises(ValueError, match="chunk_size"):
        response.aiter_bytes(chunk_size=0)


async def test_decompressed_while_streaming(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/gzip") as response,
    ):
        body = b"".join([piece async for piece in response.aiter_bytes()])
    assert b'"compressed":"gzip"' in body


async def test_http2_over_tls_streams(h2_server: str, certificates: Certificates) -> None:
    async with (
        fastio.Client(ca_bundle=certificates.ca) as client,
        client.stream("GET", h2_server + "/") as response,
    ):
        assert response.http_version == "HTTP/2"
        assert (await response.aread()).startswith(b"{")


async def test_against_httpbin(httpbin: Any) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", httpbin.url + "/stream/5") as response,
    ):
        lines = [line async for line in response.aiter_lines()]
    assert len(lines) == 5


# --- the connection comes back ------------------------------------------------------


async def test_leaving_early_frees_the_slot_and_connection(server: Server) -> None:
    async with fastio.Client(max_connections=1, pool_timeout=5) as client:
        async with client.stream("GET", server.url + "/bytes/50000000") as response:
            await anext(response.aiter_bytes())
        # The one slot is free again: this would wait 5 s and fail otherwise.
        started = time.monotonic()
        assert (await client.get(server.url + "/bytes/10")).status == 200
        assert time.monotonic() - started < 1
    # The half-read body's connection was closed, not pooled.
    assert await open_connections_settle(server, at_most=0) == 0


async def test_an_error_inside_the_block_frees_the_connection(server: Server) -> None:
    async def fail_while_reading(client: fastio.Client) -> None:
        async with client.stream("GET", server.url + "/bytes/50000000") as response:
            await anext(response.aiter_bytes())
            raise ZeroDivisionError

    async with fastio.Client(max_connections=1, pool_timeout=5) as client:
        with pytest.raises(ZeroDivisionError):
            await fail_while_reading(client)
        assert (await client.get(server.url + "/bytes/10", timeout=1)).status == 200


async def test_a_body_read_to_the_end_goes_back_to_the_pool(server: Server) -> None:
    async with fastio.Client() as client:
        for _ in range(5):
            async with client.stream("GET", server.url + "/bytes/200000") as response:
                assert len(await response.aread()) == 200_000
            # The pool takes a finished connection back on a tokio task of
            # its own (hyper-util); a request made at once can race it and
            # open a second connection on a loaded machine.
            await asyncio.sleep(0.01)
    assert server.accepted_connections == 1


async def test_a_small_body_here_with_its_head_is_read_at_once(server: Server) -> None:
    """A body that arrived with its head is read without a trip to the
    runtime (the read's awaitable is done when made), with the same results
    and limits, and its connection still goes back to the pool."""
    at_once = 0
    async with fastio.Client() as client:
        for _ in range(20):
            async with client.stream("GET", server.url + "/bytes/100") as response:
                pieces = response.aiter_raw()
                first = anext(pieces)
                at_once += first.done()
                assert len(await first) == 100
                with pytest.raises(StopAsyncIteration):
                    await anext(pieces)
            async with client.stream("GET", server.url + "/json") as response:
                read = response.aread()
                at_once += read.done()
                assert await read == response.content
                assert response.json()["name"] == "fastio"
            await asyncio.sleep(0.01)  # the pool takes the connection back on a task
    assert at_once > 0
    assert server.accepted_connections == 1
    async with (
        fastio.Client(max_body_size=50) as limited,
        limited.stream("GET", server.url + "/bytes/100") as response,
    ):
        with pytest.raises(fastio.BodyTooLarge):
            await response.aread()


async def test_cancelling_a_read_frees_the_connection(server: Server) -> None:
    async with fastio.Client(max_connections=1, pool_timeout=5) as client:
        reading = asyncio.Event()

        async def read_forever() -> None:
            async with client.stream("GET", server.url + "/stream/100000") as response:
                async for _ in response.aiter_lines():
                    reading.set()

        task = asyncio.ensure_future(read_forever())
        await asyncio.wait_for(reading.wait(), 5)
        assert await cancel_and_time(task) < 1
        started = time.monotonic()
        assert (await client.get(server.url + "/bytes/10")).status == 200
        assert time.monotonic() - started < 1
    assert await open_connections_settle(server, at_most=0) == 0


async def test_cancelling_while_waiting_for_the_head(server: Server) -> None:
    async with fastio.Client(max_connections=1, pool_timeout=5) as client:

        async def open_slow() -> None:
            async with client.stream("GET", server.url + "/delay/10"):
                pass  # pragma: no cover - cancelled before the head

        task = asyncio.ensure_future(open_slow())
        await asyncio.sleep(0.1)
        assert await cancel_and_time(task) < 1
        assert (await client.get(server.url + "/bytes/10", timeout=2)).status == 200


async def test_a_stalled_body_times_out(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/stream/3?every=10", timeout=0.3) as response,
    ):
        started = time.monotonic()
        with pytest.raises(fastio.TimeoutError, match="waiting for more of the body"):
            async for _ in response.aiter_bytes():
                pass
    assert time.monotonic() - started < 1


async def test_a_server_fault_mid_body_raises_with_the_url(server: Server) -> None:
    url = server.fault_url + "/reset-mid-body"
    async with (
        fastio.Client() as client,
        client.stream("GET", url) as response,
    ):
        with pytest.raises(fastio.ReadError) as raised:
            await response.aread()
    assert raised.value.url == url


# --- body limits ------------------------------------------------------------------


async def test_max_body_size_applies_while_streaming(server: Server) -> None:
    async with (
        fastio.Client(max_body_size=100_000) as client,
        client.stream("GET", server.url + "/bytes/5000000") as response,
    ):
        pieces = response.aiter_bytes()
        received = 0
        while received <= 100_000:
            try:
                received += len(await anext(pieces))
            except fastio.BodyTooLarge as too_large:
                raised = too_large
                break
        assert received <= 100_000
        with pytest.raises(fastio.StreamClosed):
            await anext(pieces)
    assert raised.url == server.url + "/bytes/5000000"
    # Exceeding the limit closed the connection rather than draining it.
    assert await open_connections_settle(server, at_most=0) == 0


async def test_max_body_size_counts_decompressed_bytes(server: Server) -> None:
    async with fastio.Client(max_body_size=1_000_000) as client:
        # 20 MB of zeros, about 20 KB gzipped: a small zip bomb.
        with pytest.raises(fastio.BodyTooLarge):
            await client.get(server.url + "/gzip-bomb/20000000")
        async with client.stream("GET", server.url + "/gzip-bomb/20000000") as response:
            with pytest.raises(fastio.BodyTooLarge):
                await response.aread()


LARGE_STREAM = """
import asyncio, resource, sys
import fastio, fastio.testing

async def main():
    with fastio.testing.serve() as server:
        async with (
            fastio.Client() as client,
            client.stream("GET", server.url + "/bytes/" + sys.argv[1]) as response,
        ):
            total = 0
            async for piece in response.aiter_bytes():
                total += len(piece)
    print(total, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)

asyncio.run(main())
"""


def peak_rss_streaming(size: int) -> tuple[int, int]:
    """Bytes streamed and the process's peak RSS in MiB, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", LARGE_STREAM, str(size)],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    total, peak = done.stdout.split()
    return int(total), int(peak)


@pytest.mark.timeout(300)
def test_a_1gb_download_streams_with_flat_memory() -> None:
    small_total, small_peak = peak_rss_streaming(10_000_000)
    large_total, large_peak = peak_rss_streaming(1_000_000_000)
    assert (small_total, large_total) == (10_000_000, 1_000_000_000)
    # A hundred times the body, about the same peak: nothing accumulates.
    assert large_peak < small_peak + 64, (small_peak, large_peak)


# --- streamed uploads -------------------------------------------------------------


async def numbered_parts(count: int, size: int) -> AsyncIterator[bytes]:
    for number in range(count):
        yield bytes([65 + number % 26]) * size
        await asyncio.sleep(0)


async def test_an_async_iterator_body_is_sent_chunked(server: Server) -> None:
    async with fastio.Client() as client:
        response = await client.post(server.url + "/echo", content=numbered_parts(50, 1000))
    echo = response.json()
    assert echo["headers"]["transfer-encoding"] == ["chunked"]
    assert echo["body"] == "".join(chr(65 + number % 26) * 1000 for number in range(50))


async def test_streamed_upload_over_http2(h2_server: str, certificates: Certificates) -> None:
    async with fastio.Client(ca_bundle=certificates.ca) as client:
        response = await client.put(h2_server + "/upload", content=numbered_parts(4, 10))
    assert response.http_version == "HTTP/2"
    assert response.json()["body"] == "A" * 10 + "B" * 10 + "C" * 10 + "D" * 10


async def test_streamed_upload_inside_stream(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("POST", server.url + "/echo", content=numbered_parts(3, 5)) as response,
    ):
        assert (await response.aread()).count(b"AAAAA") == 1


async def test_an_upload_iterator_that_raises_fails_the_request(server: Server) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"first"
        raise LookupError("the source broke")

    async with fastio.Client() as client:
        with pytest.raises(LookupError, match="the source broke"):
            await client.post(server.url + "/echo", content=broken())

        # A chunk of the wrong type is a TypeError, not a truncated body.
        async def wrong_type() -> AsyncIterator[Any]:
            yield 12

        with pytest.raises(TypeError, match="chunk of content"):
            await client.post(server.url + "/echo", content=wrong_type())


async def test_a_streamed_body_is_never_resent(server: Server) -> None:
    async with fastio.Client(retries=3, retry_backoff=0.01) as client:
        response = await client.put(
            server.url + "/flaky/upload?fail=1", content=numbered_parts(2, 10)
        )
    assert response.status == 503
    assert server.request_count("/flaky/upload") == 1


async def test_a_cancelled_upload_stops_its_pump(server: Server) -> None:
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield b"x" * 1000
            await asyncio.sleep(0.001)

    async with fastio.Client() as client:
        task = asyncio.ensure_future(client.post(server.url + "/echo", content=endless()))
        await asyncio.sleep(0.2)
        assert await cancel_and_time(task) < 1
        await asyncio.sleep(0.1)
        stopped_at = produced
        await asyncio.sleep(0.1)
    assert produced == stopped_at


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(st.sampled_from("ab\r\n\x0b\x1c\u2028é")),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_lines_are_split_as_splitlines_however_the_body_arrives(text: str, cuts: list[int]) -> None:
    data = text.encode()
    bounds = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})

    async def pieces() -> AsyncIterator[bytes]:
        for start, end in itertools.pairwise(bounds):
            yield data[start:end]

    async def collect() -> list[str]:
        return [line async for line in _lines_of(pieces())]

    assert asyncio.run(collect()) == text.splitlines()


async def test_a_line_without_an_end_stops_at_its_bound(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.fault_url + "/endless-chunked") as response,
    ):
        with pytest.raises(fastio.BodyTooLarge, match="a line is longer than"):
            async for _ in response.aiter_lines():
                pass
