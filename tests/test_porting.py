"""What a porter from httpx reaches for first: the names, values and
errors httpx code expects (the differences left are in the docs)."""

from __future__ import annotations

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
