"""``fastio.Request``: bulk calls of requests, not only URLs (each item with
its own method, params, headers and body), and ``Response.request``."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator
from typing import Any

import pytest

import fastio
from fastio.testing import Server


def test_a_request_is_plain_data() -> None:
    request = fastio.Request(
        "post", "http://user:S3CRET@127.0.0.1:1/x", json={"a": 1}, headers={"X-Id": "7"}
    )
    assert request.method == "POST"
    assert request.url == "http://user:S3CRET@127.0.0.1:1/x"
    assert request.json == {"a": 1}
    assert request.headers["x-id"] == "7"
    assert "S3CRET" not in repr(request)
    assert repr(request) == "<Request POST 'http://***@127.0.0.1:1/x'>"
    again = pickle.loads(pickle.dumps(request))
    assert (again.method, again.url, again.json) == ("POST", request.url, {"a": 1})
    assert again.headers["X-Id"] == "7"
    with pytest.raises(TypeError, match="url must be a str"):
        fastio.Request("GET", b"http://x/")  # type: ignore[arg-type]


async def test_fetch_all_takes_urls_and_requests_mixed(server: Server) -> None:
    echo = server.url + "/echo"
    items: list[str | fastio.Request] = [
        echo + "?plain=1",
        fastio.Request("POST", echo, json={"n": 1}, headers={"X-Item": "one"}),
        fastio.Request("PUT", echo, params={"p": "2"}, data={"field": "v"}),
        fastio.Request("DELETE", echo, content=b"raw"),
    ]
    async with fastio.Client(headers={"X-Client": "c"}) as client:
        responses = await client.fetch_all(items, headers={"X-Call": "call"}, concurrency=2)
    sent = [response.json() for response in responses]
    assert [item["method"] for item in sent] == ["GET", "POST", "PUT", "DELETE"]
    assert sent[0]["query"] == {"plain": "1"}
    assert sent[1]["body"] == '{"n":1}'
    assert sent[1]["headers"]["content-type"] == ["application/json"]
    assert sent[1]["headers"]["x-item"] == ["one"]
    assert sent[2]["query"] == {"p": "2"}
    assert sent[2]["body"] == "field=v"
    assert sent[3]["body"] == "raw"
    for item in sent:  # the call's and the client's headers under each item's
        assert item["headers"]["x-call"] == ["call"]
        assert item["headers"]["x-client"] == ["c"]
    assert [response.index for response in responses] == [0, 1, 2, 3]
    assert responses[1].request.method == "POST"
    assert responses[1].request.headers["X-Item"] == "one"


async def test_an_items_headers_win_over_the_calls(server: Server) -> None:
    item = fastio.Request("GET", server.url + "/echo", headers={"X-Who": "item"})
    [response] = await fastio.fetch_all([item], headers={"X-Who": "call"})
    assert response.json()["headers"]["x-who"] == ["item"]


async def test_fetch_iter_takes_requests_lazily(server: Server) -> None:
    pulled = 0

    def items() -> Any:
        nonlocal pulled
        for number in range(3000):
            pulled += 1
            yield fastio.Request("POST", server.url + "/echo", json={"n": number})

    seen = []
    async for response in fastio.fetch_iter(items(), concurrency=8):
        seen.append((response.index, response.json()["body"]))
        if len(seen) == 10:
            break
    assert pulled < 3000  # never pulled whole
    assert all(body == f'{{"n":{index}}}' for index, body in seen)


async def test_bad_items_are_rows(server: Server) -> None:
    good = fastio.Request("GET", server.url + "/json")
    items = [
        good,
        fastio.Request("GET", "not a url"),
        fastio.Request("POST", server.url + "/echo", json={1j}),  # not JSON
        fastio.Request("GET", server.url + "/json", timeout="soon"),
        good,
    ]
    results = await fastio.fetch_all(items, return_exceptions=True)
    assert isinstance(results[0], fastio.Response)
    assert isinstance(results[4], fastio.Response)
    assert isinstance(results[1], fastio.InvalidURL)
    assert results[1].index == 1
    assert isinstance(results[2], fastio.RequestError)
    assert results[2].index == 2
    assert "cannot build the request: TypeError" in str(results[2])
    assert isinstance(results[3], fastio.RequestError)
    assert results[3].index == 3
    with pytest.raises(fastio.InvalidURL) as raised:
        await fastio.fetch_all(items)
    assert raised.value.index == 1
    with pytest.raises(TypeError, match=r"item 1 is neither a str nor a fastio\.Request"):
        await fastio.fetch_all([server.url + "/json", 42])  # type: ignore[list-item]


async def test_a_response_knows_its_request(server: Server) -> None:
    async with fastio.Client(headers={"X-Client": "c"}) as client:
        response = await client.get(server.url + "/redirect/1", headers={"X-Mine": "m"})
    request = response.request
    assert isinstance(request, fastio.Request)
    assert request.method == "GET"
    assert request.url == response.url  # the last hop
    assert request.headers["x-mine"] == "m"
    assert request.headers["x-client"] == "c"
    made = fastio.Response(200, text="hi")
    assert made.request.method == "GET"


# --- retries of an API client ------------------------------------------------------


async def test_posts_are_retried_only_when_named(server: Server) -> None:
    url = server.url + "/flaky/{}?fail=1&status=503"
    async with fastio.Client(retries=2, retry_backoff=0.01) as client:
        kept = await client.post(url.format("a"), json={})
        assert kept.status == 503  # POST is not idempotent: not sent twice
    async with fastio.Client(retries=2, retry_backoff=0.01, retry_methods=["POST"]) as client:
        retried = await client.post(url.format("b"), json={})
        assert retried.status == 200
        items = [fastio.Request("POST", url.format(f"c{n}"), json={"n": n}) for n in range(3)]
        answers = await client.fetch_all(items)
        assert [answer.status for answer in answers] == [200, 200, 200]
    assert server.request_count("/flaky/a") == 1
    assert server.request_count("/flaky/b") == 2
    plain = await fastio.fetch_all(
        [fastio.Request("POST", url.format("d"))], retries=1, retry_methods={"POST"}
    )
    assert plain[0].status == 200
    with pytest.raises(ValueError, match="PROPFIND"):
        fastio.Client(retry_methods=["PROPFIND"])
    with pytest.raises(TypeError, match="iterable of method names"):
        fastio.Client(retry_methods="POST")


async def test_retry_after_holds_back_only_that_host(server: Server) -> None:
    held = server.url + "/flaky/h?fail=1&status=429&retry_after=1"
    other = server.url.replace("127.0.0.1", "localhost") + "/json"
    async with fastio.Client() as client:
        first = await client.get(held)
        assert first.status == 429
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(fastio.PoolTimeout, match="Retry-After"):
            await client.get(held, timeout=fastio.Timeout(5, pool=0.01))
        assert (await client.get(other)).status == 200
        other_took = loop.time() - started
        assert (await client.get(server.url + "/json")).status == 200
        same_took = loop.time() - started
    assert other_took < 0.5  # another host: not held
    assert 0.5 < same_took < 3  # the same host: held until the Retry-After passed


# --- framing the caller declares -------------------------------------------------------


async def _chunks(size: int) -> AsyncIterator[bytes]:
    yield b"x" * size


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"content": b"x" * 45, "headers": {"Content-Length": "6"}}, "is 6 but its body is 45"),
        ({"content": b"x" * 45, "headers": {"content-length": "100"}}, "is 100 but its body is 45"),
        ({"json": {"a": 1}, "headers": {"Content-Length": "1"}}, "is 1 but its body is 7"),
        ({"headers": {"Content-Length": "5"}}, "is 5 but its body is 0"),
        ({"content": b"x", "headers": {"Content-Length": "+1"}}, "not one number"),
        ({"content": b"abc", "headers": {"Transfer-Encoding": "chunked"}}, "Transfer-Encoding"),
        ({"content": b"abc", "headers": {"Transfer-Encoding": "gzip"}}, "Transfer-Encoding"),
    ],
)
async def test_framing_that_contradicts_the_body_is_refused_before_sending(
    server: Server, arguments: dict[str, Any], message: str
) -> None:
    before = server.request_count("/echo")
    async with fastio.Client() as client:
        with pytest.raises(fastio.RequestError, match=message) as raised:
            await client.post(server.url + "/echo", **arguments)
    assert "fastio frames the body itself" in str(raised.value)
    assert str(raised.value).startswith(f"POST {server.url}/echo:")
    assert server.request_count("/echo") == before  # nothing was sent


@pytest.mark.parametrize(
    ("size", "message"), [(15, "streamed 15 bytes or more"), (5, "streamed 5")]
)
async def test_a_streamed_body_is_held_to_its_declared_length(
    server: Server, size: int, message: str
) -> None:
    async with fastio.Client() as client:
        with pytest.raises(fastio.RequestError, match=message):
            await client.post(
                server.url + "/echo", content=_chunks(size), headers={"Content-Length": "10"}
            )
        answer = await client.post(
            server.url + "/echo", content=_chunks(10), headers={"Content-Length": "10"}
        )
    assert answer.json()["body"] == "x" * 10


async def test_a_matching_content_length_is_sent_and_bulk_items_fail_alone(server: Server) -> None:
    good = fastio.Request(
        "POST", server.url + "/echo", content=b"abc", headers={"Content-Length": "3"}
    )
    bad = fastio.Request(
        "POST", server.url + "/echo", content=b"abc", headers={"Content-Length": "9"}
    )
    results = await fastio.fetch_all([good, bad], return_exceptions=True)
    assert isinstance(results[0], fastio.Response)
    assert results[0].json()["body"] == "abc"
    assert isinstance(results[1], fastio.RequestError)
    assert results[1].index == 1
