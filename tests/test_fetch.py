"""fastio.fetch against real servers on 127.0.0.1: fastio's own test server
and pytest-httpbin (an independent implementation, plain and TLS)."""

from __future__ import annotations

import asyncio
import builtins
import gc
import math
import time
from typing import Any

import pytest
from helpers import cancel_and_time

import fastio
from fastio._fastio import Server

# --- requests and bodies -------------------------------------------------------


async def test_get_returns_a_complete_response(server: Server) -> None:
    response = await fastio.fetch(server.url + "/json")
    assert response.status == 200
    assert response.reason == "OK"
    assert response.ok
    assert response.method == "GET"
    assert response.url == server.url + "/json"
    assert response.request_url == server.url + "/json"
    assert response.http_version == "HTTP/1.1"
    assert 0 < response.elapsed < 10
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "name": "fastio",
        "numbers": [1, 2, 3],
        "nested": {"ok": True, "none": None},
        "text": "héllo ✓",
    }
    assert response.content == response.text.encode()
    assert response.history == []
    assert response.raise_for_status() is response
    assert "200 OK" in repr(response)


async def test_body_sizes_arrive_whole(server: Server) -> None:
    for size in (0, 1, 65_536, 5_000_000):
        response = await fastio.fetch(f"{server.url}/bytes/{size}")
        assert len(response.content) == size
        assert response.headers["content-length"] == str(size)
    chunked = await fastio.fetch(f"{server.url}/chunked/200000")
    assert len(chunked.content) == 200_000
    assert "content-length" not in chunked.headers
    streamed = await fastio.fetch(f"{server.url}/stream/5")
    assert [line for line in streamed.text.splitlines()] == [f'{{"line": {n}}}' for n in range(5)]


async def test_params_headers_and_json_are_sent(server: Server) -> None:
    response = await fastio.fetch(
        server.url + "/echo?fixed=1",
        method="post",
        params={"q": "fast io", "n": 3},
        headers={"X-Trace": "abc", "Accept": "application/json"},
        json={"items": [1, 2], "name": "ü"},
    )
    echo = response.json()
    assert echo["method"] == "POST"
    assert echo["query"] == {"fixed": "1", "q": "fast io", "n": "3"}
    assert echo["headers"]["x-trace"] == ["abc"]
    assert echo["headers"]["content-type"] == ["application/json"]
    assert echo["body"] == '{"items":[1,2],"name":"ü"}'


async def test_form_data_and_raw_content(server: Server) -> None:
    form = (
        await fastio.fetch(server.url + "/echo", method="POST", data={"a": "1", "b": ["x", "y"]})
    ).json()
    assert form["body"] == "a=1&b=x&b=y"
    assert form["headers"]["content-type"] == ["application/x-www-form-urlencoded"]
    raw = (await fastio.fetch(server.url + "/echo", method="PUT", content=b"\x00\x01raw")).json()
    assert raw["method"] == "PUT"
    assert raw["body_base64"] == "AAFyYXc="
    text = (await fastio.fetch(server.url + "/echo", method="PATCH", data="plain text")).json()
    assert text["body"] == "plain text"


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS", "PURGE"])
async def test_methods(server: Server, method: str) -> None:
    response = await fastio.fetch(server.url + "/echo", method=method)
    assert response.status == 200
    if method != "HEAD":
        assert response.json()["method"] == method
    else:
        assert response.content == b""


async def test_error_statuses_are_responses_not_failures(server: Server) -> None:
    response = await fastio.fetch(server.url + "/status/404")
    assert response.status == 404
    assert response.reason == "Not Found"
    assert not response.ok
    with pytest.raises(fastio.HTTPStatusError) as raised:
        response.raise_for_status()
    assert raised.value.response is response
    assert raised.value.url == server.url + "/status/404"
    assert "404" in str(raised.value)
    assert server.url + "/status/404" in str(raised.value)
    server_error = await fastio.fetch(server.url + "/status/503")
    with pytest.raises(fastio.HTTPStatusError, match="server error 503"):
        server_error.raise_for_status()


async def test_text_uses_the_declared_charset(server: Server) -> None:
    latin = await fastio.fetch(server.url + "/text", params={"charset": "latin-1", "value": "café"})
    assert latin.content == "café".encode("latin-1")
    assert latin.text == "café"
    unknown = await fastio.fetch(
        server.url + "/text", params={"charset": "no-such-charset", "value": "ok"}
    )
    assert unknown.text == "ok"
    raw = await fastio.fetch(server.url + "/bytes-raw")
    assert raw.text == "ok \ufffd\ufffd end"


async def test_json_of_a_non_json_body_is_a_value_error(server: Server) -> None:
    response = await fastio.fetch(server.url + "/bytes/10")
    with pytest.raises(ValueError, match=r"[Ee]xpect|JSON|char"):
        response.json()


async def test_headers_are_case_insensitive_and_multi_valued(server: Server) -> None:
    response = await fastio.fetch(server.url + "/headers", params={"X-Custom": "yes"})
    headers = response.headers
    assert headers["X-CUSTOM"] == "yes"
    assert "x-custom" in headers
    assert "Set-Cookie" in headers
    assert 42 not in headers
    assert headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert headers["set-cookie"] == "a=1, b=2"
    assert headers.get("missing") is None
    assert headers.get("missing", "fallback") == "fallback"
    assert ("set-cookie", "a=1") in headers.multi_items()
    assert ("set-cookie", "b=2") in headers.multi_items()
    as_dict = dict(headers)
    assert as_dict["x-custom"] == "yes"
    assert len(headers) == len(as_dict)
    with pytest.raises(KeyError):
        headers["missing"]


@pytest.mark.parametrize("path", ["/gzip", "/brotli", "/zstd"])
async def test_compressed_bodies_are_decoded(server: Server, path: str) -> None:
    response = await fastio.fetch(server.url + path)
    body = response.json()
    assert body["padding"] == "x" * 2000


# --- redirects -----------------------------------------------------------------


async def test_redirects_are_followed_with_history(server: Server) -> None:
    response = await fastio.fetch(server.url + "/redirect/3")
    assert response.status == 200
    assert response.url == server.url + "/redirect/0"
    assert response.request_url == server.url + "/redirect/3"
    assert [earlier.status for earlier in response.history] == [302, 302, 302]
    assert [earlier.url for earlier in response.history] == [
        server.url + f"/redirect/{n}" for n in (3, 2, 1)
    ]


async def test_responses_are_left_out_of_the_cycle_collector(server: Server) -> None:
    # A Response never refers back to anything that refers to it, so the
    # cycle collector need not walk it (nor a fetch_all list's thousands).
    redirected = await fastio.fetch(server.url + "/redirect/2")
    listed = await fastio.fetch_all([server.url + "/bytes/10"] * 3)
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/bytes/10") as streamed,
    ):
        assert not gc.is_tracked(streamed)
        assert len(await streamed.aread()) == 10
    for response in [redirected, *redirected.history, *listed]:
        assert not gc.is_tracked(response)
    gc.collect()
    assert [earlier.status for earlier in redirected.history] == [302, 302]
    assert [len(response.content) for response in listed] == [10, 10, 10]
    assert redirected.headers["content-length"] == str(len(redirected.content))


async def test_a_redirect_loop_raises_too_many_redirects(server: Server) -> None:
    with pytest.raises(fastio.TooManyRedirects) as raised:
        await fastio.fetch(server.url + "/redirect-loop")
    assert raised.value.url == server.url + "/redirect-loop"
    assert "more than 10 redirects" in str(raised.value)
    assert server.request_count("/redirect-loop") == 11


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(303, "GET", ""), (307, "POST", "kept"), (308, "POST", "kept")],
)
async def test_redirects_change_or_keep_the_method_as_browsers_do(
    server: Server, status: int, method: str, body: str
) -> None:
    response = await fastio.fetch(
        server.url + "/redirect-to",
        method="POST",
        params={"url": "/echo", "status": status},
        content=b"kept",
    )
    assert response.json()["method"] == method
    assert response.json()["body"] == body
    assert response.history[0].status == status


async def test_credentials_are_dropped_on_a_cross_host_redirect(server: Server) -> None:
    secrets = {"Authorization": "Bearer secret", "Cookie": "session=1", "X-Other": "kept"}
    same_host = await fastio.fetch(
        server.url + "/redirect-to", params={"url": "/echo"}, headers=secrets
    )
    assert same_host.json()["headers"]["authorization"] == ["Bearer secret"]
    other_host = server.url.replace("127.0.0.1", "localhost") + "/echo"
    cross_host = await fastio.fetch(
        server.url + "/redirect-to", params={"url": other_host}, headers=secrets
    )
    sent = cross_host.json()["headers"]
    assert "authorization" not in sent
    assert "cookie" not in sent
    assert sent["x-other"] == ["kept"]


# --- failures --------------------------------------------------------------------


def assert_names_the_url(error: fastio.FastioError, url: str) -> None:
    assert error.url == url
    assert url in str(error)
    assert str(error).startswith("GET ")


async def test_connection_refused_is_a_connect_error(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/"
    with pytest.raises(fastio.ConnectError) as raised:
        await fastio.fetch(url)
    assert_names_the_url(raised.value, url)
    assert "connect" in str(raised.value).lower()
    assert isinstance(raised.value, fastio.RequestError)


@pytest.mark.parametrize(
    ("path", "error_class"),
    [
        ("/reset", fastio.ReadError),
        ("/reset-mid-body", fastio.ReadError),
        ("/short-body", fastio.ReadError),
        ("/bad-chunked", fastio.ProtocolError),
        ("/garbage", fastio.ProtocolError),
    ],
)
async def test_broken_servers_raise_the_right_error(
    server: Server, path: str, error_class: type[fastio.FastioError]
) -> None:
    url = server.fault_url + path
    with pytest.raises(error_class) as raised:
        await fastio.fetch(url)
    assert_names_the_url(raised.value, url)


async def test_a_broken_encoding_is_a_decode_error(server: Server) -> None:
    url = server.url + "/bad-gzip"
    with pytest.raises(fastio.DecodeError) as raised:
        await fastio.fetch(url)
    assert_names_the_url(raised.value, url)


async def test_a_timeout_cuts_a_slow_server(server: Server) -> None:
    url = server.url + "/delay/10"
    started = time.monotonic()
    with pytest.raises(fastio.TimeoutError) as raised:
        await fastio.fetch(url, timeout=0.2)
    assert time.monotonic() - started < 2.0
    assert isinstance(raised.value, builtins.TimeoutError)
    assert_names_the_url(raised.value, url)
    assert "0.2 s" in str(raised.value)


async def test_a_hanging_server_is_cut_by_the_timeout(server: Server) -> None:
    with pytest.raises(fastio.TimeoutError):
        await fastio.fetch(server.fault_url + "/hang", timeout=0.2)


async def test_timeout_none_waits(server: Server) -> None:
    response = await fastio.fetch(server.url + "/delay/0.3", timeout=None)
    assert response.status == 200


async def test_cancelling_a_fetch_returns_promptly(server: Server) -> None:
    task = asyncio.ensure_future(fastio.fetch(server.url + "/delay/10"))
    await asyncio.sleep(0.1)
    assert await cancel_and_time(task) < 1.0


# --- bad arguments -----------------------------------------------------------


@pytest.mark.parametrize("url", ["not a url", "/relative/path", "ftp://127.0.0.1/", "http://", ""])
def test_invalid_urls_raise_at_once(url: str) -> None:
    with pytest.raises(fastio.InvalidURL) as raised:
        fastio.fetch(url)
    assert isinstance(raised.value, ValueError)
    assert raised.value.url == url


@pytest.mark.parametrize("url", [None, b"http://127.0.0.1/", 42])
def test_a_non_str_url_is_a_type_error(url: Any) -> None:
    with pytest.raises(TypeError, match="URL must be a str"):
        fastio.fetch(url)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"method": "BAD METHOD"}, ValueError, "invalid HTTP method"),
        ({"headers": {"X-Evil": "a\r\nInjected: 1"}}, ValueError, "invalid value for header"),
        ({"headers": {"Bad Name": "x"}}, ValueError, "invalid header name"),
        ({"headers": {"X-Number": 5}}, TypeError, "header values must be str"),
        ({"headers": 42}, TypeError, "headers must be a mapping"),
        ({"json": {"a": 1}, "content": b"x"}, ValueError, "at most one of"),
        ({"content": 42}, TypeError, "content must be bytes or str"),
        ({"params": {"flag": object()}}, TypeError, "not object"),
        ({"timeout": math.nan}, ValueError, "positive number"),
        ({"timeout": -1}, ValueError, "positive number"),
        ({"timeout": 0}, ValueError, "positive number"),
        ({"timeout": "5"}, TypeError, "timeout must be a number"),
        ({"json": {"not serializable": object()}}, TypeError, "not JSON serializable"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    server: Server, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        fastio.fetch(server.url + "/echo", **arguments)


# --- an independent server: pytest-httpbin ----------------------------------------


async def test_httpbin_get_with_params(httpbin: Any) -> None:
    response = await fastio.fetch(httpbin.url + "/get", params={"q": "fastio"})
    assert response.status == 200
    assert response.json()["args"] == {"q": "fastio"}


async def test_httpbin_post_json(httpbin: Any) -> None:
    response = await fastio.fetch(httpbin.url + "/post", method="POST", json={"k": [1, 2]})
    assert response.json()["json"] == {"k": [1, 2]}


async def test_httpbin_redirects_and_gzip(httpbin: Any) -> None:
    redirected = await fastio.fetch(httpbin.url + "/redirect/2")
    assert redirected.status == 200
    assert len(redirected.history) == 2
    gzipped = await fastio.fetch(httpbin.url + "/gzip")
    assert gzipped.json()["gzipped"] is True


async def test_httpbin_status(httpbin: Any) -> None:
    response = await fastio.fetch(httpbin.url + "/status/418")
    assert response.status == 418


async def test_self_signed_tls_is_refused_by_default(httpbin_secure: Any) -> None:
    url = httpbin_secure.url + "/get"
    with pytest.raises(fastio.TLSError) as raised:
        await fastio.fetch(url)
    assert isinstance(raised.value, fastio.ConnectError)
    assert raised.value.url == url
    assert "certificate" in str(raised.value).lower()


async def test_self_signed_tls_is_accepted_with_verify_false(httpbin_secure: Any) -> None:
    response = await fastio.fetch(httpbin_secure.url + "/get", verify=False)
    assert response.status == 200
    assert response.url.startswith("https://")


async def test_a_redirect_from_https_to_http_is_refused(
    httpbin_secure: Any, server: Server
) -> None:
    url = httpbin_secure.url + "/redirect-to"
    with pytest.raises(fastio.TooManyRedirects, match="https to http"):
        await fastio.fetch(url, params={"url": server.url + "/json"}, verify=False)
