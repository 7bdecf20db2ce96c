"""``fastio.testing.MockTransport`` (requests answered from Python, no
socket) and ``event_hooks``, as httpx users write them."""

from __future__ import annotations

from typing import Any

import pytest

import fastio
from fastio.testing import MockTransport, Server


def echo(request: fastio.Request) -> fastio.Response:
    return fastio.Response(
        200,
        json={
            "method": request.method,
            "url": request.url,
            "headers": dict(request.headers.items()),
            "json": request.json,
        },
        url=request.url,
        method=request.method,
    )


async def test_a_mock_transport_answers_without_a_socket() -> None:
    transport = MockTransport(echo)
    async with fastio.Client(
        transport=transport, base_url="http://api.test/v1", headers={"X-Client": "c"}
    ) as client:
        got = await client.get("/users", headers={"X-Mine": "m"})
        posted = await client.post("http://other.test/x", json={"a": 1})
    assert got.json()["url"] == "http://api.test/v1/users"
    assert got.json()["headers"] == {"x-client": "c", "x-mine": "m"}
    assert posted.json()["method"] == "POST"
    assert posted.json()["json"] == {"a": 1}


async def test_async_handlers_errors_and_bulk_calls() -> None:
    async def handler(request: fastio.Request) -> fastio.Response:
        if request.url.endswith("/down"):
            raise fastio.ConnectError("down", url=request.url)
        return fastio.Response(200, text=request.url)

    async with fastio.Client(transport=MockTransport(handler)) as client:
        with pytest.raises(fastio.ConnectError):
            await client.get("http://api.test/down")
        urls = [f"http://api.test/{n}" for n in range(5)] + ["http://api.test/down"]
        results = await client.fetch_all(urls, return_exceptions=True, concurrency=2)
        assert [r.text for r in results[:5]] == urls[:5]  # type: ignore[union-attr]
        assert isinstance(results[5], fastio.ConnectError)
        seen = [item async for item in client.fetch_iter(urls[:5])]
        assert sorted(response.text for response in seen) == sorted(urls[:5])
        wrong = fastio.Client(transport=MockTransport(lambda _: "no"))  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match=r"must return a fastio\.Response"):
            await wrong.get("http://a.test/")


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
