"""fastio.httpx: httpx (and httpx2) clients sending through fastio's engine,
against fastio's test server, its fault listener, hypercorn over TLS and
proxy.py."""

from __future__ import annotations

import asyncio
import gzip
import importlib
import importlib.util
import json
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from conftest import Certificates

from fastio._fastio import Server
from fastio.httpx import AsyncHTTPTransport, HTTPTransport

MODULES = [
    pytest.param(name, marks=pytest.mark.skipif(not installed, reason=f"{name} not installed"))
    for name, installed in (
        ("httpx", importlib.util.find_spec("httpx") is not None),
        ("httpx2", importlib.util.find_spec("httpx2") is not None),
    )
]


@pytest.fixture(params=MODULES)
def httpx(request: pytest.FixtureRequest) -> ModuleType:
    """httpx, then its fork httpx2: the transport serves both."""
    return importlib.import_module(request.param)


def client(httpx: ModuleType, **options: Any) -> Any:
    timeout = options.pop("timeout", 10)
    return httpx.AsyncClient(transport=AsyncHTTPTransport(**options), timeout=timeout)


async def test_a_get_comes_back_as_httpx_response(httpx: ModuleType, server: Server) -> None:
    async with client(httpx) as http:
        response = await http.get(server.url + "/json", params={"q": "1"})
        echoed = (await http.get(server.url + "/echo")).json()
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.json()["name"] == "fastio"
    assert response.http_version == "HTTP/1.1"
    assert response.reason_phrase == "OK"
    assert response.extensions["http_version"] == b"HTTP/1.1"
    assert response.request.url.params["q"] == "1"
    # httpx's own headers go as httpx set them; fastio adds nothing it decodes.
    assert echoed["headers"]["user-agent"] == [http.headers["user-agent"]]
    assert echoed["headers"]["accept-encoding"] == [http.headers["accept-encoding"]]


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_bodies_come_back_as_sent_and_httpx_decodes_once(
    httpx: ModuleType, server: Server, coding: str
) -> None:
    async with client(httpx) as http:
        response = await http.get(f"{server.url}/{coding}")
        assert response.headers["content-encoding"] == coding
        assert response.json()["compressed"] == coding
        async with http.stream("GET", f"{server.url}/{coding}") as streamed:
            raw = b"".join([chunk async for chunk in streamed.aiter_raw()])
    decoded = gzip.decompress(raw) if coding == "gzip" else __import__("zlib").decompress(raw)
    assert json.loads(decoded)["compressed"] == coding


async def test_a_response_is_streamed_not_buffered(httpx: ModuleType, server: Server) -> None:
    async with client(httpx) as http:
        started = time.monotonic()
        async with http.stream("GET", server.url + "/stream/20?every=0.1") as response:
            lines = response.aiter_lines()
            first = await lines.__anext__()
            first_at = time.monotonic() - started
            rest = [line async for line in lines]
    assert json.loads(first) == {"line": 0}
    assert len(rest) == 19
    # The first line arrives long before the body's 2 seconds.
    assert first_at < 1.5


async def test_request_bodies_bytes_and_streamed(httpx: ModuleType, server: Server) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"one ", b"two ", b"three"):
            await asyncio.sleep(0.01)
            yield piece

    async with client(httpx) as http:
        sent = (await http.post(server.url + "/echo", content=b"hello")).json()
        streamed = (await http.post(server.url + "/echo", content=pieces())).json()
        form = (await http.post(server.url + "/echo", data={"a": "b"})).json()
    assert sent["body"] == "hello"
    assert sent["headers"]["content-length"] == ["5"]
    assert streamed["body"] == "one two three"
    assert streamed["headers"]["transfer-encoding"] == ["chunked"]
    assert form["body"] == "a=b"


async def test_redirects_and_cookies_stay_httpxs(httpx: ModuleType, server: Server) -> None:
    async with client(httpx) as http:
        first = await http.get(server.url + "/redirect/2")
        assert first.status_code == 302  # the transport sends one request
        followed = await http.get(server.url + "/redirect/2", follow_redirects=True)
        assert followed.status_code == 200
        assert len(followed.history) == 2
        await http.get(server.url + "/set-cookies/1/3")
        echoed = (await http.get(server.url + "/echo")).json()
    # httpx's jar sends the cookie; fastio keeps none of its own to add.
    assert echoed["headers"]["cookie"] == ["c00000=xxx"]


async def test_timeouts_map_to_httpxs(
    httpx: ModuleType, server: Server, unanswered_port: int
) -> None:
    async with client(httpx, timeout=httpx.Timeout(10, connect=0.3)) as http:
        with pytest.raises(httpx.ConnectTimeout) as connect:
            await http.get(f"http://127.0.0.1:{unanswered_port}/")
    assert connect.value.request.url.port == unanswered_port
    async with client(httpx, timeout=httpx.Timeout(10, read=0.3)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url + "/delay/10")
        with pytest.raises(httpx.WriteTimeout):
            await http.post(
                server.fault_url + "/hang",
                content=b"x" * (64 << 20),
                timeout=httpx.Timeout(10, write=0.5),
            )
    limits = httpx.Limits(max_connections=1)
    async with client(httpx, limits=limits, timeout=httpx.Timeout(10, pool=0.3)) as http:
        async with http.stream("GET", server.url + "/stream/50?every=0.1"):
            with pytest.raises(httpx.PoolTimeout):
                await http.get(server.url + "/json")
        # Leaving the stream gave its connection back.
        assert (await http.get(server.url + "/json")).status_code == 200


async def test_errors_map_to_httpxs(httpx: ModuleType, server: Server, closed_port: int) -> None:
    async with client(httpx) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{closed_port}/")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.fault_url + "/garbage")
        with pytest.raises(httpx.ReadError) as mid_body:
            await http.get(server.fault_url + "/reset-mid-body")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.fault_url + "/huge-headers")
        # Reset while the body is still going out: httpcore's WriteError.
        with pytest.raises(httpx.WriteError):
            await http.post(server.fault_url + "/reset", content=b"x" * (16 << 20))
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/")
    assert mid_body.value.request.url.path == "/reset-mid-body"
    async with client(httpx, proxy=f"http://user:S3CRET@127.0.0.1:{closed_port}") as proxied:
        with pytest.raises(httpx.ProxyError) as proxy:
            await proxied.get(server.url + "/json")
    assert "S3CRET" not in str(proxy.value)


async def test_hostile_servers_through_the_transport(httpx: ModuleType, server: Server) -> None:
    """The engine's limits hold under httpx: a body that trickles, a server
    that never answers, a body shorter than declared, one declared huge."""
    async with client(httpx, timeout=httpx.Timeout(10, read=0.5)) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.fault_url + "/slowloris")
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.fault_url + "/hang")
        with pytest.raises(httpx.ReadError):
            await http.get(server.fault_url + "/short-body")
        async with http.stream("GET", server.fault_url + "/huge-length") as response:
            assert response.headers["content-length"] == "1099511627776"
            with pytest.raises(httpx.ReadTimeout):
                await response.aread()
        assert time.monotonic() - started < 10


async def test_a_body_that_contradicts_its_length_is_a_local_protocol_error(
    httpx: ModuleType, server: Server
) -> None:
    async with client(httpx) as http:
        with pytest.raises(httpx.LocalProtocolError, match="Content-Length is 5"):
            await http.post(server.url + "/echo", content=b"abc", headers={"Content-Length": "5"})


@pytest.mark.parametrize(("present", "absent"), [("httpx", "httpx2"), ("httpx2", "httpx")])
def test_importing_needs_only_one_of_httpx_and_httpx2(present: str, absent: str) -> None:
    """With the other one made unimportable, fastio.httpx builds on the one there is."""
    script = (
        f"import sys; sys.modules[{absent!r}] = None\n"
        "import fastio.httpx\n"
        "print(fastio.httpx.AsyncHTTPTransport.__mro__[1].__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().startswith(present)


async def test_a_proxy_with_credentials(httpx: ModuleType, http_proxy: str, server: Server) -> None:
    proxy = httpx.Proxy(http_proxy, auth=("user", "secret"))
    async with client(httpx, proxy=proxy) as http:
        assert (await http.get(server.url + "/json")).status_code == 200
    async with client(httpx, proxy=http_proxy) as refused:
        assert (await refused.get(server.url + "/json")).status_code == 407


async def test_tls_options(
    httpx: ModuleType, h2_server: str, mtls_server: str, certificates: Certificates
) -> None:
    ca = str(certificates.ca)
    async with client(httpx, verify=ca, http2=True) as http:
        response = await http.get(h2_server + "/")
    assert response.http_version == "HTTP/2"
    async with client(httpx, verify=ca) as http1_only:
        assert (await http1_only.get(h2_server + "/")).http_version == "HTTP/1.1"
    async with client(httpx) as untrusted:
        with pytest.raises(httpx.ConnectError, match="TLS"):
            await untrusted.get(h2_server + "/")
    async with client(httpx, verify=False) as unverified:
        assert (await unverified.get(h2_server + "/")).status_code == 200
    pair = (str(certificates.client_cert), str(certificates.client_key))
    async with client(httpx, verify=ca, cert=pair) as mutual:
        assert (await mutual.get(mtls_server + "/")).status_code == 200
    with pytest.raises(TypeError, match="SSLContext"):
        AsyncHTTPTransport(verify=ssl.create_default_context())


async def test_options_fastio_cannot_honour_are_refused(httpx: ModuleType, server: Server) -> None:
    with pytest.raises(ValueError, match="Unix domain socket"):
        AsyncHTTPTransport(uds="/tmp/socket")
    with pytest.raises(ValueError, match="socket_options"):
        AsyncHTTPTransport(socket_options=[(6, 1, 1)])
    with pytest.raises(ValueError, match="local_address"):
        AsyncHTTPTransport(local_address="not an address")
    async with client(httpx, local_address="127.0.0.1") as http:
        assert (await http.get(server.url + "/json")).status_code == 200
    async with client(httpx, resolve={"api.test": "127.0.0.1"}, per_host=2) as http:
        answered = await http.get(f"http://api.test:{server.port}/json")
        assert answered.status_code == 200


async def test_connect_retries(httpx: ModuleType, closed_port: int) -> None:
    async with client(httpx, retries=2) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{closed_port}/", content=b"x")
    # Three attempts with backoff between them (POST too: nothing was sent).
    assert time.monotonic() - started > 0.1


async def test_cancelling_frees_the_slot(httpx: ModuleType, server: Server) -> None:
    limits = httpx.Limits(max_connections=1)
    async with client(httpx, limits=limits, timeout=httpx.Timeout(10, pool=2)) as http:
        slow = asyncio.ensure_future(http.get(server.url + "/delay/30"))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        started = time.monotonic()
        assert (await http.get(server.url + "/json")).status_code == 200
    assert time.monotonic() - started < 2


async def test_many_requests_at_once(httpx: ModuleType, server: Server) -> None:
    async with client(httpx) as http:
        responses = await asyncio.gather(
            *(http.get(f"{server.url}/json?n={n}") for n in range(300))
        )
    assert [response.status_code for response in responses] == [200] * 300


def test_the_sync_transport(httpx: ModuleType, server: Server) -> None:
    with httpx.Client(transport=HTTPTransport(), timeout=10) as http:
        assert http.get(server.url + "/json").json()["name"] == "fastio"
        with http.stream("GET", server.url + "/stream/5?every=0.01") as response:
            lines = list(response.iter_lines())
        assert len(lines) == 5
        echoed = http.post(server.url + "/echo", content=iter([b"a", b"b"])).json()
        assert echoed["body"] == "ab"
        with pytest.raises(httpx.ReadTimeout):
            http.get(server.url + "/delay/10", timeout=httpx.Timeout(10, read=0.3))
