"""fastio.Client: every option against real servers on 127.0.0.1 (fastio's
test server, pytest-httpbin, hypercorn over TLS with trustme certificates,
proxy.py and pproxy)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import types
from typing import Any

import pytest
from conftest import Certificates, free_port
from helpers import cancel_and_time, open_connections_settle

import fastio
from fastio._fastio import Server

# --- defaults merged into requests ---------------------------------------------------


async def test_base_url_headers_params_and_cookies_are_defaults(server: Server) -> None:
    async with fastio.Client(
        base_url=server.url + "/",
        headers={"X-Team": "fastio", "X-Replace": "default"},
        params={"api": "1"},
        cookies={"session": "abc"},
    ) as client:
        echo = (
            await client.get(
                "echo", headers={"X-Replace": "mine"}, params={"q": "x"}, cookies={"extra": "1"}
            )
        ).json()
    assert echo["path"] == "/echo"
    assert echo["query"] == {"api": "1", "q": "x"}
    assert echo["headers"]["x-team"] == ["fastio"]
    assert echo["headers"]["x-replace"] == ["mine"]
    assert echo["headers"]["cookie"] == ["session=abc; extra=1"]


async def test_absolute_urls_ignore_the_base_url(server: Server) -> None:
    async with fastio.Client(base_url="http://127.0.0.1:1/never") as client:
        response = await client.get(server.url + "/json")
    assert response.status == 200


@pytest.mark.parametrize(
    ("auth", "expected"),
    [(("user", "pass"), "Basic dXNlcjpwYXNz"), ("token-123", "Bearer token-123")],
)
async def test_auth_basic_or_bearer(server: Server, auth: Any, expected: str) -> None:
    async with fastio.Client(auth=auth) as client:
        echo = (await client.get(server.url + "/echo")).json()
    assert echo["headers"]["authorization"] == [expected]


async def test_client_credentials_are_dropped_across_hosts(server: Server) -> None:
    other_host = server.url.replace("127.0.0.1", "localhost") + "/echo"
    async with fastio.Client(auth="secret-token", cookies={"session": "abc"}) as client:
        same = (await client.get(server.url + "/redirect-to", params={"url": "/echo"})).json()
        cross = (await client.get(server.url + "/redirect-to", params={"url": other_host})).json()
    assert same["headers"]["authorization"] == ["Bearer secret-token"]
    assert "authorization" not in cross["headers"]
    assert "cookie" not in cross["headers"]


async def test_user_agent(server: Server) -> None:
    async with fastio.Client(user_agent="crawler/2.0") as client:
        echo = (await client.get(server.url + "/echo")).json()
    assert echo["headers"]["user-agent"] == ["crawler/2.0"]
    default = (await fastio.fetch(server.url + "/echo")).json()
    assert default["headers"]["user-agent"] == [f"fastio/{fastio.__version__}"]


async def test_the_cookie_jar_keeps_cookies_per_client(server: Server) -> None:
    async with fastio.Client() as client, fastio.Client() as other:
        await client.get(server.url + "/headers")  # sets a=1 and b=2
        kept = (await client.get(server.url + "/echo")).json()
        fresh = (await other.get(server.url + "/echo")).json()
    [cookie_header] = kept["headers"]["cookie"]
    assert sorted(cookie_header.split("; ")) == ["a=1", "b=2"]
    assert "cookie" not in fresh["headers"]
    await fastio.fetch(server.url + "/headers")
    module_level = (await fastio.fetch(server.url + "/echo")).json()
    assert "cookie" not in module_level["headers"]


# --- methods and bodies --------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "head", "options", "delete"])
async def test_methods_without_a_body(server: Server, method: str) -> None:
    async with fastio.Client(base_url=server.url) as client:
        response = await getattr(client, method)("/echo", params={"m": method})
    assert response.status == 200
    if method != "head":
        assert response.json()["method"] == method.upper()
        assert response.json()["query"] == {"m": method}


@pytest.mark.parametrize("method", ["post", "put", "patch"])
async def test_methods_with_a_body(server: Server, method: str) -> None:
    async with fastio.Client(base_url=server.url) as client:
        as_json = (await getattr(client, method)("/echo", json={"n": 1})).json()
        as_form = (await getattr(client, method)("/echo", data={"n": "2"})).json()
        as_bytes = (await getattr(client, method)("/echo", content=b"raw")).json()
        generic = (await client.request(method.upper(), "/echo", content="text")).json()
    assert as_json["method"] == method.upper()
    assert as_json["body"] == '{"n":1}'
    assert as_form["body"] == "n=2"
    assert as_bytes["body"] == "raw"
    assert generic["body"] == "text"


async def test_every_argument_of_request_takes_effect(server: Server) -> None:
    # Client.request hands its arguments to the engine by position: each
    # must arrive in its own place.
    async with fastio.Client(base_url=server.url) as client:
        sent = await client.request(
            "PUT",
            "/echo",
            params={"p": "1"},
            headers={"X-Given": "h"},
            cookies={"c": "v"},
            json={"j": 1},
            auth=("user", "secret"),
            timeout=5,
        )
        form = await client.request("POST", "/echo", data={"f": "2"})
        raw = await client.request("POST", "/echo", content=b"raw")
        redirect = await client.request("GET", "/redirect/1", follow_redirects=False)
        with pytest.raises(fastio.BodyTooLarge):
            await client.request("GET", "/bytes/5000", max_body_size=100)
        with pytest.raises(fastio.TimeoutError):
            await client.request("GET", "/delay/5", timeout=0.1)
        retried = await client.request("GET", "/status/503", retries=2)
    echoed = sent.json()
    assert (echoed["method"], echoed["query"], echoed["body"]) == ("PUT", {"p": "1"}, '{"j":1}')
    assert echoed["headers"]["x-given"] == ["h"]
    assert echoed["headers"]["cookie"] == ["c=v"]
    assert echoed["headers"]["authorization"][0].startswith("Basic ")
    assert form.json()["body"] == "f=2"
    assert raw.json()["body"] == "raw"
    assert redirect.status == 302
    assert retried.status == 503
    assert server.request_count("/status/503") == 3


async def test_files_are_sent_as_multipart(httpbin: Any, tmp_path: Any) -> None:
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"from a file object")
    async with fastio.Client() as client:
        with upload.open("rb") as handle:
            response = await client.post(
                httpbin.url + "/post",
                data={"field": "value"},
                files={
                    "plain": b"just bytes",
                    "named": ("report.csv", b"a,b\n1,2\n", "text/csv"),
                    "handle": ("notes.txt", handle),
                },
            )
    echoed = response.json()
    assert echoed["form"] == {"field": "value"}
    assert echoed["files"] == {
        "plain": "just bytes",
        "named": "a,b\n1,2\n",
        "handle": "from a file object",
    }
    assert echoed["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")


async def test_fetch_all_uses_the_client_settings(server: Server) -> None:
    async with fastio.Client(base_url=server.url, headers={"X-Batch": "yes"}) as client:
        responses = await client.fetch_all(["/echo", "/echo?x=1", server.url + "/echo"])
    assert [response.json()["headers"]["x-batch"] for response in responses] == [["yes"]] * 3
    assert responses[1].json()["query"] == {"x": "1"}


# --- timeouts ------------------------------------------------------------------


async def test_the_client_timeout_is_the_default(server: Server) -> None:
    async with fastio.Client(timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(fastio.TimeoutError):
            await client.get(server.url + "/delay/10")
        assert time.monotonic() - started < 2
        longer = await client.get(server.url + "/delay/0.3", timeout=5)
    assert longer.status == 200


async def test_connect_timeout(unanswered_port: int) -> None:
    async with fastio.Client(connect_timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(fastio.TimeoutError):
            await client.get(f"http://127.0.0.1:{unanswered_port}/")
        assert time.monotonic() - started < 2


async def test_read_timeout(server: Server) -> None:
    async with fastio.Client(read_timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(fastio.TimeoutError):
            await client.get(server.url + "/delay/10")
        assert time.monotonic() - started < 2
        streaming = await client.get(server.url + "/stream/20")  # 5 ms between reads
    assert len(streaming.text.splitlines()) == 20


# --- limits --------------------------------------------------------------------


async def test_pool_timeout_when_no_slot_frees(server: Server) -> None:
    async with fastio.Client(per_host=1, pool_timeout=0.2) as client:
        holder = asyncio.ensure_future(client.get(server.url + "/delay/2"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(fastio.PoolTimeout) as raised:
            await client.get(server.url + "/json")
        assert time.monotonic() - started < 1.5
        assert isinstance(raised.value, fastio.TimeoutError)
        assert "per_host=1" in str(raised.value)
        holder.cancel()


async def test_max_connections_bounds_connections(server: Server) -> None:
    async with fastio.Client(max_connections=2) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.get(server.url + "/delay/0.3") for _ in range(6)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.85  # three rounds of two
    # Unlimited, it would take six connections. A connection goes back to
    # reqwest's pool a moment after its body ends, so the next request may
    # open one more rather than wait: fewer than six is what is certain.
    assert server.accepted_connections < 6


async def test_limits_as_httpx_names_them(server: Server) -> None:
    # No idle connection kept: each request opens its own.
    async with fastio.Client(limits=fastio.Limits(max_keepalive_connections=0)) as client:
        for _ in range(3):
            await client.get(server.url + "/json")
    assert server.accepted_connections == 3
    # An idle connection is dropped after keepalive_expiry.
    async with fastio.Client(limits=fastio.Limits(keepalive_expiry=0.2)) as client:
        await client.get(server.url + "/json")
        assert await open_connections_settle(server, at_most=0, within=3) == 0
        await client.get(server.url + "/json")
    assert server.accepted_connections == 5
    # The cap, from any object with httpx.Limits' three fields.
    capped = types.SimpleNamespace(
        max_connections=2, max_keepalive_connections=None, keepalive_expiry=5.0
    )
    async with fastio.Client(limits=capped) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.get(server.url + "/delay/0.3") for _ in range(6)))
        assert time.monotonic() - started >= 0.85  # three rounds of two
    with pytest.raises(ValueError, match="give one"):
        fastio.Client(max_connections=5, limits=fastio.Limits())
    with pytest.raises(ValueError, match="max_keepalive_connections must be 0 or more"):
        fastio.Client(limits=fastio.Limits(max_keepalive_connections=-1))
    assert fastio.Limits(max_connections=3) == fastio.Limits(max_connections=3)


async def test_per_host_limits_each_host_separately(server: Server) -> None:
    hosts = [server.url, server.url.replace("127.0.0.1", "localhost")]
    async with fastio.Client(per_host=1) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.get(host + "/delay/0.3") for host in hosts * 2))
        elapsed = time.monotonic() - started
    assert 0.55 <= elapsed < 3  # two rounds: the hosts ran side by side
    assert server.accepted_connections < 4  # unlimited: four (see above)


async def test_rate_limit_spaces_requests_per_host(server: Server) -> None:
    async with fastio.Client(rate_limit=10) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.get(server.url + "/json") for _ in range(5)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.38  # starts at 0, 0.1, 0.2, 0.3, 0.4 s


async def test_a_cancelled_request_frees_its_slot(server: Server) -> None:
    async with fastio.Client(per_host=1, pool_timeout=2) as client:
        for _ in range(3):
            slow = asyncio.ensure_future(client.get(server.url + "/delay/10"))
            await asyncio.sleep(0.1)
            assert await cancel_and_time(slow) < 1.0
        response = await client.get(server.url + "/json")
        assert response.status == 200
    # The cancelled requests' connections were closed, not left open.
    assert await open_connections_settle(server, at_most=1) <= 1


async def test_waiting_requests_are_served_in_order(server: Server) -> None:
    finished: list[int] = []

    async def numbered(client: fastio.Client, number: int) -> None:
        await client.get(server.url + "/delay/0.02")
        finished.append(number)

    async with fastio.Client(per_host=1) as client:
        await asyncio.gather(*(numbered(client, number) for number in range(8)))
    assert finished == list(range(8))


async def test_a_timed_out_request_frees_its_slot(server: Server) -> None:
    async with fastio.Client(per_host=1, pool_timeout=2) as client:
        for _ in range(3):
            with pytest.raises(fastio.TimeoutError):
                await client.get(server.url + "/delay/10", timeout=0.2)
        response = await client.get(server.url + "/json")
        assert response.status == 200
    # The abandoned connections were closed, not left holding the server.
    assert await open_connections_settle(server, at_most=1) <= 1


async def test_max_body_size_counts_decoded_bytes(server: Server) -> None:
    async with fastio.Client(max_body_size=1000) as client:
        with pytest.raises(fastio.BodyTooLarge) as raised:
            await client.get(server.url + "/bytes/100000")
        assert raised.value.url == server.url + "/bytes/100000"
        small = await client.get(server.url + "/bytes/1000")
        assert len(small.content) == 1000
        # The gzip body is small on the wire but over 2000 bytes decoded.
        with pytest.raises(fastio.BodyTooLarge):
            await client.get(server.url + "/gzip")


# --- redirects -----------------------------------------------------------------


async def test_follow_redirects_off_returns_the_redirect(server: Server) -> None:
    async with fastio.Client(follow_redirects=False) as client:
        response = await client.get(server.url + "/redirect/2")
    assert response.status == 302
    assert response.headers["location"] == "/redirect/1"


async def test_max_redirects(server: Server) -> None:
    async with fastio.Client(max_redirects=2) as client:
        assert (await client.get(server.url + "/redirect/2")).status == 200
        with pytest.raises(fastio.TooManyRedirects, match="more than 2 redirects"):
            await client.get(server.url + "/redirect/3")


async def test_allow_https_to_http(httpbin_secure: Any, server: Server) -> None:
    target = {"url": server.url + "/json"}
    async with fastio.Client(verify=False) as strict:
        with pytest.raises(fastio.TooManyRedirects, match="https to http"):
            await strict.get(httpbin_secure.url + "/redirect-to", params=target)
    async with fastio.Client(verify=False, allow_https_to_http=True) as lax:
        response = await lax.get(httpbin_secure.url + "/redirect-to", params=target)
    assert response.url == server.url + "/json"


# --- TLS and HTTP/2 --------------------------------------------------------------


async def test_an_unknown_ca_is_refused(h2_server: str) -> None:
    async with fastio.Client() as client:
        with pytest.raises(fastio.TLSError):
            await client.get(h2_server + "/")


async def test_verify_false_accepts_an_unknown_ca(h2_server: str) -> None:
    async with fastio.Client(verify=False) as client:
        response = await client.get(h2_server + "/")
    assert response.status == 200


async def test_ca_bundle_trusts_the_ca(h2_server: str, certificates: Certificates) -> None:
    async with fastio.Client(ca_bundle=certificates.ca) as client:
        response = await client.get(h2_server + "/hello")
    assert response.json()["path"] == "/hello"


async def test_http2_is_negotiated_by_alpn(h2_server: str, certificates: Certificates) -> None:
    async with fastio.Client(ca_bundle=str(certificates.ca)) as client:
        response = await client.get(h2_server + "/")
    assert response.http_version == "HTTP/2"
    assert response.json()["http_version"] == "2"


async def test_http2_false_keeps_http1(h2_server: str, certificates: Certificates) -> None:
    async with fastio.Client(ca_bundle=certificates.ca, http2=False) as client:
        response = await client.get(h2_server + "/")
    assert response.http_version == "HTTP/1.1"
    assert response.json()["http_version"] == "1.1"


async def test_http2_prior_knowledge_over_cleartext(server: Server) -> None:
    async with fastio.Client(http2=True) as client:
        response = await client.get(server.url + "/echo")
    assert response.http_version == "HTTP/2"
    assert response.json()["http_version"] == "HTTP/2.0"


async def test_a_client_certificate(mtls_server: str, certificates: Certificates) -> None:
    async with fastio.Client(ca_bundle=certificates.ca) as anonymous:
        with pytest.raises(fastio.RequestError):
            await anonymous.get(mtls_server + "/")
    async with fastio.Client(
        ca_bundle=certificates.ca, cert=(certificates.client_cert, certificates.client_key)
    ) as identified:
        response = await identified.get(mtls_server + "/")
    assert response.status == 200


def test_bad_tls_files_raise_at_once(tmp_path: Any) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("nothing here")
    with pytest.raises(ValueError, match="ca_bundle"):
        fastio.Client(ca_bundle=not_pem)
    with pytest.raises(OSError, match="ca_bundle"):
        fastio.Client(ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="cert"):
        fastio.Client(cert=not_pem)


# --- proxies, environment, resolution ------------------------------------------------


async def test_an_http_proxy_is_used(http_proxy: str, server: Server) -> None:
    credentials = http_proxy.replace("http://", "http://user:secret@")
    async with fastio.Client(proxy=credentials) as client:
        response = await client.get(server.url + "/json")
    assert response.status == 200
    async with fastio.Client(proxy=http_proxy) as no_credentials:
        refused = await no_credentials.get(server.url + "/json")
    assert refused.status == 407  # the proxy, not the server, answered


async def test_a_socks5_proxy_is_used(socks_proxy: str, server: Server) -> None:
    async with fastio.Client(proxy=socks_proxy) as client:
        response = await client.get(server.url + "/json")
    assert response.status == 200
    async with fastio.Client(proxy=f"socks5://127.0.0.1:{free_port()}") as down:
        with pytest.raises(fastio.ConnectError):
            await down.get(server.url + "/json")


async def test_an_https_proxy_is_used(
    https_proxy: str, server: Server, h2_server: str, certificates: Certificates
) -> None:
    """TLS to the proxy itself: plain HTTP forwarded through it, and HTTPS
    tunnelled through it (TLS inside TLS)."""
    credentials = https_proxy.replace("https://", "https://user:secret@")
    async with fastio.Client(proxy=credentials, ca_bundle=str(certificates.ca)) as client:
        forwarded = await client.get(server.url + "/json")
        tunnelled = await client.get(h2_server + "/")
    assert forwarded.status == 200
    assert tunnelled.status == 200
    async with fastio.Client(proxy=https_proxy, ca_bundle=str(certificates.ca)) as no_credentials:
        assert (await no_credentials.get(server.url + "/json")).status == 407
        with pytest.raises(fastio.ProxyError, match=r"407|authorization"):
            await no_credentials.get(h2_server + "/")


async def test_a_socks5_proxy_gets_the_address_resolve_gives(
    socks_proxy: str, server: Server
) -> None:
    """socks5 (not socks5h): the name is resolved here, with resolve= first."""
    async with fastio.Client(proxy=socks_proxy, resolve={"api.test": "127.0.0.1"}) as client:
        response = await client.get(f"http://api.test:{server.port}/json")
    assert response.status == 200


async def test_proxy_credentials_never_show(server: Server, closed_port: int) -> None:
    client = fastio.Client(proxy=f"http://alice:hunter2@127.0.0.1:{closed_port}")
    assert "hunter2" not in repr(client)
    assert "alice" not in repr(client)
    with pytest.raises(fastio.ConnectError) as raised:
        await client.get(server.url + "/json")
    assert "hunter2" not in str(raised.value)
    await client.aclose()


async def test_trust_env_reads_proxy_variables(
    server: Server, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    async with fastio.Client() as trusting:
        with pytest.raises(fastio.ProxyError, match="the proxy failed"):
            await trusting.get(server.url + "/json")
    async with fastio.Client(trust_env=False) as ignoring:
        assert (await ignoring.get(server.url + "/json")).status == 200


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
async def test_tls_1_2_and_1_3_servers(certificates: Certificates, version: str) -> None:
    """Many servers still speak TLS 1.2 only; fastio speaks both."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, version)
    versions: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        versions.append(writer.get_extra_info("ssl_object").version())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server, fastio.Client(ca_bundle=certificates.ca) as client:
        response = await client.get(f"https://127.0.0.1:{port}/")
    assert response.text == "ok"
    assert versions == [version.replace("_", ".")]


async def test_cookie_jar_false_keeps_no_cookies(server: Server) -> None:
    async with fastio.Client(cookie_jar=False) as client:
        await client.get(server.url + "/set-cookies/1/3")
        echoed = (await client.get(server.url + "/echo")).json()
    assert "cookie" not in echoed["headers"]
    async with fastio.Client() as keeping:
        await keeping.get(server.url + "/set-cookies/1/3")
        assert (await keeping.get(server.url + "/echo")).json()["headers"]["cookie"] == [
            "c00000=xxx"
        ]


async def test_local_address_is_where_connections_come_from() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    loop = asyncio.get_running_loop()

    async def answer() -> str:
        connection, (peer, _) = await loop.sock_accept(listener)
        await loop.sock_recv(connection, 65536)
        await loop.sock_sendall(connection, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        connection.close()
        return str(peer)

    answering = asyncio.ensure_future(answer())
    async with fastio.Client(local_address="127.0.0.2") as client:
        assert (await client.get(f"http://127.0.0.1:{port}/")).status == 200
    assert await answering == "127.0.0.2"
    listener.close()
    with pytest.raises(ValueError, match="local_address"):
        fastio.Client(local_address="localhost")


async def test_resolve_overrides_dns(server: Server) -> None:
    async with fastio.Client(resolve={"fastio.test": "127.0.0.1"}) as client:
        response = await client.get(f"http://fastio.test:{server.port}/json")
    assert response.status == 200
    # localhost sent to an address nothing listens on: the override is used.
    async with fastio.Client(resolve={"localhost": "127.0.0.2"}) as misdirected:
        with pytest.raises(fastio.ConnectError):
            await misdirected.get(f"http://localhost:{server.port}/json")


# --- lifecycle and bad options ----------------------------------------------------------


async def test_a_closed_client_raises_client_closed(server: Server) -> None:
    client = fastio.Client()
    assert (await client.get(server.url + "/json")).status == 200
    await client.aclose()
    assert client.closed
    assert "closed" in repr(client)
    with pytest.raises(fastio.ClientClosed) as raised:
        client.get(server.url + "/json")
    assert isinstance(raised.value, RuntimeError)
    assert raised.value.url == server.url + "/json"
    with pytest.raises(fastio.ClientClosed):
        client.fetch_all([server.url + "/json"])


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"base_url": "not a url"}, fastio.InvalidURL, "invalid URL"),
        ({"max_connections": 0}, ValueError, "max_connections"),
        ({"per_host": -1}, ValueError, "per_host"),
        ({"rate_limit": 0}, ValueError, "rate_limit"),
        ({"rate_limit": float("nan")}, ValueError, "rate_limit"),
        ({"max_redirects": -1}, ValueError, "max_redirects"),
        ({"timeout": -2}, ValueError, "positive"),
        ({"auth": 42}, TypeError, "auth"),
        ({"proxy": "ftp://127.0.0.1:21"}, ValueError, "proxy scheme"),
        ({"resolve": {"host": "not-an-ip"}}, ValueError, "IP address"),
        ({"user_agent": "bad\r\nagent"}, ValueError, "user_agent"),
        ({"max_body_size": -1}, ValueError, "max_body_size"),
        ({"headers": {"X": "a\nb"}}, ValueError, "invalid value for header"),
    ],
)
def test_bad_options_raise_at_once(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        fastio.Client(**options)
