"""``fastio.testing.MockTransport``: the handler stands where the network
would be, so everything above it (redirects, retries, Retry-After, rate
limits, cookies, timeouts, decoding, bulk calls) runs as against a server;
and ``event_hooks``, as httpx users write them."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import run_script

import fastio
from fastio.testing import MockTransport, Server


def echo(request: fastio.Request) -> fastio.Response:
    assert isinstance(request.content, bytes)
    return fastio.Response(
        200,
        json={
            "method": request.method,
            "url": request.url,
            "path": request.url.path,
            "query": request.url.query,
            "host": request.url.host,
            "params": dict(request.url.params),
            "headers": dict(request.headers.items()),
            "content": request.content.decode(),
        },
    )


async def test_the_handler_gets_the_request_as_it_would_go_on_the_wire() -> None:
    async with fastio.Client(
        transport=MockTransport(echo),
        base_url="http://api.test/v1",
        headers={"X-Client": "c"},
        params={"key": "k"},
    ) as client:
        got = await client.get("/users", params={"page": "2"}, headers={"X-Mine": "m"})
        posted = await client.post("http://other.test/x?a=1", json={"a": 1})
    seen = got.json()
    assert seen["url"] == "http://api.test/v1/users?key=k&page=2"
    assert (seen["path"], seen["query"], seen["host"]) == ("/v1/users", "key=k&page=2", "api.test")
    assert seen["params"] == {"key": "k", "page": "2"}
    assert seen["headers"]["x-client"] == "c"
    assert seen["headers"]["x-mine"] == "m"
    assert seen["headers"]["user-agent"].startswith("fastio/")
    assert "accept-encoding" in seen["headers"]
    assert posted.json()["method"] == "POST"
    assert posted.json()["content"] == '{"a":1}'
    assert posted.json()["headers"]["content-type"] == "application/json"
    # The response is the engine's: its request, URL and version as from a server.
    assert got.url == "http://api.test/v1/users?key=k&page=2"
    assert got.request.url == got.url
    assert got.request.url.path == "/v1/users"
    assert got.request.headers["x-mine"] == "m"
    assert got.http_version == "HTTP/1.1"


async def test_redirects_and_cookies_run_above_the_handler() -> None:
    def handler(request: fastio.Request) -> fastio.Response:
        if request.url.path == "/login":
            return fastio.Response(
                302, headers={"Location": "/home", "Set-Cookie": "session=s1; Path=/"}
            )
        return fastio.Response(200, text=request.headers.get("cookie", "no cookie"))

    async with fastio.Client(transport=MockTransport(handler)) as client:
        home = await client.get("http://site.test/login")
        assert home.status == 200
        assert home.url == "http://site.test/home"
        assert [hop.status for hop in home.history] == [302]
        assert home.text == "session=s1"
        assert (await client.get("http://site.test/other")).text == "session=s1"
        assert (await client.get("http://elsewhere.test/")).text == "no cookie"
        unfollowed = await client.get("http://site.test/login", follow_redirects=False)
        assert unfollowed.status == 302


async def test_retries_and_retry_after_run_above_the_handler() -> None:
    attempts: list[float] = []

    def handler(request: fastio.Request) -> fastio.Response:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            return fastio.Response(503, headers={"Retry-After": "1"})
        if len(attempts) == 2:
            raise fastio.ConnectError("connection refused", request=request)
        return fastio.Response(200, text="third time")

    async with fastio.Client(
        transport=MockTransport(handler), retries=3, retry_backoff=0.01
    ) as client:
        answer = await client.get("http://api.test/flaky")
    assert answer.text == "third time"
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.9  # the Retry-After was waited for


async def test_a_rate_limit_spaces_the_handlers_calls() -> None:
    calls: list[float] = []

    def handler(request: fastio.Request) -> fastio.Response:
        calls.append(time.monotonic())
        return fastio.Response(204)

    async with fastio.Client(transport=MockTransport(handler), rate_limit=20) as client:
        started = time.monotonic()
        await client.fetch_all(["http://api.test/"] * 5)
        took = time.monotonic() - started
    # Five sends at 20 a second span at least four intervals of 50 ms (when
    # the loop runs each handler can be later, never earlier); unpaced,
    # five mocked requests take a few milliseconds.
    assert len(calls) == 5
    assert took >= 0.19


async def test_bulk_calls_give_index_and_read_their_input_lazily() -> None:
    pulled = 0

    def urls() -> Iterator[str]:
        nonlocal pulled
        for n in range(100_000):
            pulled += 1
            yield f"http://api.test/{n}"

    async with fastio.Client(transport=MockTransport(echo)) as client:
        results = await client.fetch_all([f"http://api.test/{n}" for n in range(5)])
        assert [r.index for r in results] == list(range(5))
        assert [r.json()["path"] for r in results] == [f"/{n}" for n in range(5)]
        async with client.fetch_iter(urls(), concurrency=4) as stream:
            first = await anext(stream)
            assert first.index is not None
        assert pulled < 100_000


async def test_handler_errors() -> None:
    class Mine(Exception):
        pass

    mine = Mine("from the handler")

    async def handler(request: fastio.Request) -> fastio.Response:
        if request.url.path == "/down":
            raise fastio.ConnectError("down", request=request)
        if request.url.path == "/mine":
            raise mine
        if request.url.path == "/upload":
            raise fastio.WriteError("lost mid-upload", request=request)
        if request.url.path == "/slow":
            await asyncio.sleep(30)
        return fastio.Response(200, text=request.url)

    async with fastio.Client(transport=MockTransport(handler)) as client:
        with pytest.raises(fastio.ConnectError, match=r"GET http://api\.test/down: down") as down:
            await client.get("http://api.test/down")
        assert down.value.url == "http://api.test/down"
        with pytest.raises(Mine) as raised:
            await client.get("http://api.test/mine")
        assert raised.value is mine
        # A subclass is raised as itself, not as the class it extends.
        with pytest.raises(fastio.WriteError, match="lost mid-upload"):
            await client.post("http://api.test/upload", content=b"x")
        with pytest.raises(fastio.TimeoutError):
            await client.get("http://api.test/slow", timeout=0.2)
        urls = [f"http://api.test/{n}" for n in range(5)] + ["http://api.test/down"]
        results = await client.fetch_all(urls, return_exceptions=True, concurrency=2)
        assert [r.text for r in results[:5]] == urls[:5]  # type: ignore[union-attr]
        assert isinstance(results[5], fastio.ConnectError)
        assert results[5].index == 5
        wrong = fastio.Client(transport=MockTransport(lambda _: "no"))  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match=r"must return a fastio\.Response"):
            await wrong.get("http://a.test/")
        await wrong.aclose()
    with pytest.raises(fastio.ClientClosed):
        await client.get("http://api.test/")


async def test_errors_made_with_a_request_carry_it() -> None:
    request = fastio.Request("GET", "http://api.test/x")
    error = fastio.ReadError("reset", request=request)
    assert error.request is request
    assert error.url == "http://api.test/x"


async def test_bodies_are_decoded_streamed_and_limited_as_from_a_server() -> None:
    payload = b"x" * 10_000

    def handler(request: fastio.Request) -> fastio.Response:
        if request.method == "POST":
            assert isinstance(request.content, bytes)
            return fastio.Response(200, content=request.content)
        return fastio.Response(
            200, content=gzip.compress(payload), headers={"Content-Encoding": "gzip"}
        )

    async with fastio.Client(transport=MockTransport(handler)) as client:
        assert (await client.get("http://api.test/")).content == payload
        async with client.stream("GET", "http://api.test/") as streamed:
            assert b"".join([chunk async for chunk in streamed.aiter_bytes()]) == payload
        with pytest.raises(fastio.BodyTooLarge):
            await client.request("GET", "http://api.test/", max_body_size=100)

        async def chunks() -> Any:
            yield b"up"
            yield b"load"

        uploaded = await client.post("http://api.test/", content=chunks())
        assert uploaded.content == b"upload"


async def test_a_cancelled_request_leaves_the_client_working() -> None:
    started = asyncio.Event()

    async def handler(request: fastio.Request) -> fastio.Response:
        if request.url.path == "/slow":
            started.set()
            await asyncio.sleep(30)
        return fastio.Response(200)

    async with fastio.Client(transport=MockTransport(handler)) as client:
        task = asyncio.ensure_future(client.get("http://api.test/slow"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await client.get("http://api.test/fast")).status == 200


async def test_event_hooks_see_each_request_and_response(server: Server) -> None:
    seen: list[Any] = []

    async def sign(request: fastio.Request) -> fastio.Request:
        seen.append(("request", request.method, request.url))
        headers = dict(request.headers.items()) | {"X-Signature": "s1"}
        return fastio.Request(request.method, request.url, headers=headers, json=request.json)

    async def check(response: fastio.Response) -> None:
        seen.append(("response", response.status))
        response.raise_for_status()

    hooks = {"request": [sign], "response": [check]}
    async with fastio.Client(
        event_hooks=hooks, base_url=server.url, headers={"X-Client": "c"}
    ) as client:
        # A hook sees the request as it will go: absolute URL, the client's headers.
        relative = await client.get("/echo")
        assert relative.json()["headers"]["x-client"] == ["c"]
        assert seen[-2] == ("request", "GET", server.url + "/echo")
        seen.clear()
        answer = await client.post(server.url + "/echo", json={"n": 1})
        assert answer.json()["headers"]["x-signature"] == ["s1"]
        assert answer.json()["body"] == '{"n":1}'
        with pytest.raises(fastio.HTTPStatusError):
            await client.get(server.url + "/status/404")
        async with client.stream("GET", server.url + "/bytes/10") as streamed:
            assert len(await streamed.aread()) == 10
    assert seen[:2] == [("request", "POST", server.url + "/echo"), ("response", 200)]
    assert ("response", 404) in seen
    with pytest.raises(ValueError, match="'request' and 'response'"):
        fastio.Client(event_hooks={"requests": []})


async def test_hooks_and_a_mock_transport_together() -> None:
    hooked: list[str] = []

    async def tag(request: fastio.Request) -> fastio.Request:
        hooked.append(request.url)
        return request.copy_with(headers={**request.headers, "X-Tag": "t"})

    async with fastio.Client(
        transport=MockTransport(echo),
        event_hooks={"request": [tag]},
        base_url="http://api.test/v1?version=2",
        params={"key": "k"},
    ) as client:
        answer = await client.get("/search?q=a b")
    assert answer.json()["headers"]["x-tag"] == "t"
    # The hook saw the URL the handler got: one join (the engine's), the
    # client's params once.
    assert hooked == [answer.json()["url"]] == ["http://api.test/v1/search?q=a%20b&key=k"]


async def test_a_request_hook_changes_headers_in_place(server: Server) -> None:
    async def sign(request: fastio.Request) -> None:
        request.headers["X-Signature"] = "s1"
        request.headers.update({"X-Other": "o"})
        del request.headers["X-Drop"]

    async with fastio.Client(event_hooks={"request": [sign]}, headers={"X-Drop": "d"}) as client:
        echoed = (await client.post(server.url + "/echo", json={"n": 1})).json()
    assert echoed["headers"]["x-signature"] == ["s1"]
    assert echoed["headers"]["x-other"] == ["o"]
    assert "x-drop" not in echoed["headers"]
    assert echoed["body"] == '{"n":1}'


def test_request_headers_change_and_response_headers_do_not() -> None:
    request = fastio.Request("GET", "http://api.test/", headers={"A": "1"})
    request.headers["b"] = "2"
    assert request.headers == {"a": "1", "b": "2"}
    assert request.copy_with().headers == {"a": "1", "b": "2"}
    with pytest.raises(ValueError, match="invalid value"):
        request.headers["c"] = "bad\r\nvalue"
    response = fastio.Response(200, headers={"A": "1"})
    with pytest.raises(TypeError, match="read-only"):
        response.headers["b"] = "2"


def test_a_loop_closed_between_requests_holds_no_task_of_fastios() -> None:
    done = run_script(
        """
        import asyncio, fastio
        from fastio.testing import MockTransport

        async def slow(request):
            await asyncio.sleep(30)

        client = fastio.Client(
            transport=MockTransport(lambda r: fastio.Response(200, text="ok")), timeout=5
        )
        for _ in range(2):
            loop = asyncio.new_event_loop()
            assert loop.run_until_complete(client.get("http://api.test/")).text == "ok"
            loop.close()
        slow_client = fastio.Client(transport=MockTransport(slow), timeout=0.2)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(slow_client.get("http://api.test/"))
        except fastio.TimeoutError:
            print("timed out")
        loop.close()
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timed out"
    assert "destroyed" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
