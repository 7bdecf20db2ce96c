"""What a porter from httpx reaches for first: the names, values and
errors httpx code expects (the differences left are in the docs)."""

from __future__ import annotations

import asyncio
import json
import pickle
from datetime import datetime, timedelta
from typing import Any

import pytest

import fastio
import fastio.testing
from fastio._fastio import Server


async def test_params_take_bools_and_none_as_httpx_sends_them(server: Server) -> None:
    response = await fastio.fetch(
        server.url + "/echo", params={"yes": True, "no": False, "empty": None, "n": 1}
    )
    assert response.json()["query"] == {"yes": "true", "no": "false", "empty": "", "n": "1"}


async def test_response_status_helpers(server: Server) -> None:
    ok = await fastio.fetch(server.url + "/json")
    assert (ok.status_code, ok.is_success, ok.is_error, ok.is_redirect) == (200, True, False, False)
    missing = await fastio.fetch(server.url + "/status/404")
    assert (missing.status_code, missing.is_success, missing.is_error) == (404, False, True)
    async with fastio.Client(follow_redirects=False) as client:
        moved = await client.get(server.url + "/redirect/1")
    assert moved.is_redirect
    assert not moved.is_error


async def test_a_raised_bulk_failure_names_its_index(server: Server) -> None:
    good = server.url + "/bytes/1"
    urls = [good] * 5 + [server.fault_url + "/reset"] + [good] * 5
    with pytest.raises(fastio.ReadError) as raised:
        await fastio.fetch_all(urls, concurrency=4)
    assert raised.value.index == 5
    async with fastio.Client() as client:
        with pytest.raises(fastio.ReadError) as from_client:
            await client.fetch_all(urls, concurrency=4)
    assert from_client.value.index == 5


async def test_a_broken_encoding_is_caught_as_a_request_error(server: Server) -> None:
    with pytest.raises(fastio.RequestError) as raised:
        await fastio.fetch(server.url + "/bad-gzip")
    assert isinstance(raised.value, fastio.DecodeError)


async def test_response_cookies_and_links(server: Server) -> None:
    link = '<https://api.test/items?page=2>; rel="next", <https://api.test/items?page=9>; rel=last'
    response = await fastio.fetch(
        server.url + "/headers",
        params={"Set-Cookie": "session=abc; Path=/; HttpOnly", "Link": link},
    )
    assert response.cookies == {"session": "abc", "a": "1", "b": "2"}
    assert response.links == {
        "next": {"url": "https://api.test/items?page=2", "rel": "next"},
        "last": {"url": "https://api.test/items?page=9", "rel": "last"},
    }
    plain = await fastio.fetch(server.url + "/json")
    assert (plain.cookies, plain.links) == ({}, {})


async def test_per_request_auth_and_follow_redirects(server: Server) -> None:
    async with fastio.Client(auth="client-token") as client:
        own = (await client.get(server.url + "/echo")).json()["headers"]
        basic = (await client.get(server.url + "/echo", auth=("u", "p"))).json()["headers"]
        bearer = await client.post(server.url + "/echo", auth="other", json={})
        stopped = await client.get(server.url + "/redirect/1", follow_redirects=False)
        with fastio.testing.serve() as other:
            moved = await client.get(
                server.url + "/redirect-to",
                params={"url": other.url + "/echo"},
                auth=("u", "p"),
            )
    assert own["authorization"] == ["Bearer client-token"]
    assert basic["authorization"] == ["Basic dTpw"]
    assert bearer.json()["headers"]["authorization"] == ["Bearer other"]
    assert stopped.status == 302
    assert "authorization" not in moved.json()["headers"]  # another origin
    async with fastio.Client(follow_redirects=False) as strict:
        assert (await strict.get(server.url + "/redirect/1")).status == 302
        followed = await strict.get(server.url + "/redirect/1", follow_redirects=True)
    assert followed.status == 200


def test_responses_and_headers_can_be_made_for_fakes() -> None:
    made = fastio.Response(200, json={"ok": True}, url="https://api.test/x")
    assert (made.status_code, made.ok, made.url, made.method) == (
        200,
        True,
        "https://api.test/x",
        "GET",
    )
    assert made.json() == {"ok": True}
    assert made.headers["Content-Type"] == "application/json"
    text = fastio.Response(404, text="gone", headers={"X-Trace": "1"}, method="post")
    assert (text.text, text.method, text.headers["x-trace"]) == ("gone", "POST", "1")
    with pytest.raises(fastio.HTTPStatusError):
        text.raise_for_status()
    assert fastio.Response(204).content == b""
    with pytest.raises(ValueError, match="at most one"):
        fastio.Response(200, text="a", content=b"b")
    headers = fastio.Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X", "y")])
    assert headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert headers["x"] == "y"
    assert dict(fastio.Headers()) == {}


async def test_client_headers_cookies_and_base_url_change_later_requests(server: Server) -> None:
    async with fastio.Client(headers={"X-Team": "a"}, auth="old-token") as client:
        assert client.headers["x-team"] == "a"
        client.headers["Authorization"] = "Bearer new-token"  # after a login
        client.headers["X-Extra"] = "1"
        del client.headers["X-Team"]
        client.cookies["session"] = "abc"
        client.base_url = server.url
        sent = (await client.get("/echo")).json()["headers"]
        assert "new-token" not in repr(client.headers)
        assert dict(client.cookies) == {"session": "abc"}
        client.headers = {"X-Only": "2"}
        client.base_url = None
        with pytest.raises(fastio.InvalidURL):
            client.get("/echo")
        only = (await client.get(server.url + "/echo")).json()["headers"]
    assert sent["authorization"] == ["Bearer new-token"]
    assert sent["x-extra"] == ["1"]
    assert "x-team" not in sent
    assert sent["cookie"] == ["session=abc"]
    assert only["x-only"] == ["2"]
    assert "authorization" not in only


# --- aiohttp idioms -------------------------------------------------------------------


def _echo_hook_client(**options: object) -> fastio.Client:
    """A client whose requests go through Python (a response hook)."""

    async def seen(response: fastio.Response) -> None:
        pass

    return fastio.Client(event_hooks={"response": [seen]}, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("through", ["engine", "hooks"])
async def test_a_request_is_an_async_context_manager(server: Server, through: str) -> None:
    client = fastio.Client() if through == "engine" else _echo_hook_client()
    async with client:
        async with client.get(server.url + "/json") as response:
            assert response.status == 200
            assert response.json()["name"] == "fastio"
        async with client.post(server.url + "/echo", content=b"abc") as posted:
            assert posted.json()["body"] == "abc"
        # The Response itself too, as aiohttp's.
        async with await client.get(server.url + "/json") as same:
            assert same.ok
        # An error inside the block goes on out of it.
        with pytest.raises(KeyError):
            async with client.get(server.url + "/json"):
                raise KeyError("inside")
        # Still a coroutine to asyncio.
        task = asyncio.create_task(client.get(server.url + "/json"))
        assert (await task).status == 200
    async with fastio.fetch(server.url + "/json") as fetched:
        assert fetched.status == 200


async def test_leaving_a_streamed_response_block_releases_it(server: Server) -> None:
    async with fastio.Client() as client:
        response = await client.stream("GET", server.url + "/bytes/100000").__aenter__()
        async with response:
            pass
        with pytest.raises(fastio.StreamClosed):
            await response.aread()


@pytest.mark.parametrize("through", ["engine", "hooks"])
async def test_raise_for_status_on_the_client_raises_from_the_request(
    server: Server, through: str
) -> None:
    client = (
        fastio.Client(raise_for_status=True)
        if through == "engine"
        else _echo_hook_client(raise_for_status=True)
    )
    async with client:
        with pytest.raises(fastio.HTTPStatusError) as raised:
            await client.get(server.url + "/status/404")
        assert raised.value.status == 404
        assert raised.value.response.status == 404
        assert (await client.get(server.url + "/status/204")).status == 204
        with pytest.raises(fastio.HTTPStatusError, match="server error 503"):
            async with client.get(server.url + "/status/503"):
                pass
        with pytest.raises(fastio.HTTPStatusError):
            async with client.stream("GET", server.url + "/status/500"):
                pass
        # Bulk calls return such responses as results.
        results = await client.fetch_all([server.url + "/status/404"])
        assert results[0].status == 404
    async with fastio.Client() as plain:
        assert (await plain.get(server.url + "/status/404")).status == 404


async def test_a_body_that_is_not_json_is_a_fastio_error_and_a_json_one(server: Server) -> None:
    response = await fastio.fetch(server.url + "/")
    with pytest.raises(fastio.RequestError) as raised:
        response.json()
    error = raised.value
    assert isinstance(error, fastio.JSONDecodeError)
    assert isinstance(error, fastio.DecodeError)
    assert isinstance(error, json.JSONDecodeError)
    assert isinstance(error, ValueError)
    assert error.url == response.url
    assert str(error).startswith(f"GET {response.url}: the body is not JSON")
    assert error.lineno == 1
    copied = pickle.loads(pickle.dumps(error))
    assert (type(copied), copied.url, copied.pos) == (fastio.JSONDecodeError, error.url, error.pos)


async def test_names_porters_reach_for(server: Server) -> None:
    missing = await fastio.fetch(server.url + "/status/404")
    assert (missing.reason_phrase, missing.is_client_error, missing.is_server_error) == (
        "Not Found",
        True,
        False,
    )
    broken = await fastio.fetch(server.url + "/status/502")
    assert (broken.reason_phrase, broken.is_client_error, broken.is_server_error) == (
        "Bad Gateway",
        False,
        True,
    )


async def test_verify_takes_a_ca_file_as_httpx_does(h2_server: str, certificates: Any) -> None:
    async with fastio.Client(verify=str(certificates.ca)) as client:
        assert (await client.get(h2_server + "/")).status == 200
    async with fastio.Client(verify=certificates.ca) as client:  # a Path
        assert (await client.get(h2_server + "/")).status == 200
    with pytest.raises(ValueError, match="give one"):
        fastio.Client(verify=str(certificates.ca), ca_bundle=str(certificates.ca))
    async with fastio.Client() as untrusting:
        with pytest.raises(fastio.TLSError):
            await untrusting.get(h2_server + "/")


async def test_a_request_hook_changes_the_request_with_copy_with(server: Server) -> None:
    async def sign(request: fastio.Request) -> fastio.Request:
        return request.copy_with(headers={**request.headers, "X-Signature": "abc"})

    async with fastio.Client(event_hooks={"request": [sign]}, headers={"X-Client": "1"}) as client:
        echoed = (await client.post(server.url + "/echo", json={"a": 1}, params={"q": "v"})).json()
    # The new header, and nothing the copy did not name was dropped.
    assert echoed["headers"]["x-signature"] == ["abc"]
    assert echoed["headers"]["x-client"] == ["1"]
    assert echoed["query"] == {"q": "v"}
    assert json.loads(echoed["body"]) == {"a": 1}
    request = fastio.Request("GET", "http://a.test/", params={"q": "1"}, timeout=5)
    moved = request.copy_with(url="http://b.test/")
    assert (moved.method, moved.url, moved.params, moved.timeout) == (
        "GET",
        "http://b.test/",
        {"q": "1"},
        5,
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'cookies'"):
        request.copy_with(cookies={})


async def test_build_request_and_send(server: Server) -> None:
    async with fastio.Client(headers={"X-Client": "1"}) as client:
        request = client.build_request(
            "POST", server.url + "/echo", json={"a": 1}, params={"q": "v"}
        )
        assert isinstance(request, fastio.Request)
        echoed = (await client.send(request)).json()
        assert (echoed["method"], echoed["query"], json.loads(echoed["body"])) == (
            "POST",
            {"q": "v"},
            {"a": 1},
        )
        assert echoed["headers"]["x-client"] == ["1"]
        streamed = await client.send(
            client.build_request("GET", server.url + "/bytes/1000"), stream=True
        )
        assert len(await streamed.aread()) == 1000
        await streamed.aclose()


async def test_elapsed_is_seconds_and_answers_as_a_timedelta(server: Server) -> None:
    response = await fastio.fetch(server.url + "/delay/0.2")
    elapsed = response.elapsed
    assert 0.2 <= elapsed < 5  # a float, as before
    assert f"{elapsed:.1f}".startswith(("0.2", "0.3", "0.4"))
    assert elapsed.total_seconds() == float(elapsed)  # httpx's timedelta
    assert timedelta(seconds=0.1) < elapsed < timedelta(seconds=5)
    same = timedelta(seconds=float(elapsed))
    assert (elapsed.days, elapsed.seconds, elapsed.microseconds) == (
        same.days,
        same.seconds,
        same.microseconds,
    )
    sent_at = datetime(2026, 1, 1)
    assert sent_at + elapsed == sent_at + timedelta(seconds=float(elapsed))
    assert elapsed - timedelta(seconds=0.2) >= timedelta(0)
    assert json.dumps({"elapsed": round(elapsed, 3)})


async def test_request_extensions_travel_with_the_request(server: Server) -> None:
    seen: list[Any] = []

    async def trace(request: fastio.Request) -> None:
        seen.append(dict(request.extensions))

    request = fastio.Request("GET", server.url + "/json", extensions={"trace_id": "t1"})
    request.extensions["span"] = 2
    assert request.copy_with().extensions == {"trace_id": "t1", "span": 2}
    assert pickle.loads(pickle.dumps(request)).extensions == {"trace_id": "t1", "span": 2}
    async with fastio.Client(event_hooks={"request": [trace]}) as client:
        await client.send(request)
    assert seen == [{"trace_id": "t1", "span": 2}]
    assert fastio.Request("GET", "http://a.test/").extensions == {}
    with pytest.raises(TypeError, match="extensions must be a dict"):
        fastio.Request("GET", "http://a.test/", extensions=3)  # type: ignore[arg-type]
