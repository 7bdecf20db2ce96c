"""Server faults: every one ends in the right fastio exception, naming the
URL, within its timeout, and leaves the client usable; in a batch, nothing
good is dropped or duplicated. Servers: fastio's test server and its raw
fault listener, and TLS servers with trustme certificates that are wrong
on purpose."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

import fastio
from fastio._fastio import Server

# --- TLS servers whose certificate is wrong ------------------------------------------


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve_tls(cert_file: Path, key_file: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_file), str(key_file))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return path


def _tls_server(
    authority: trustme.CA, folder: Path, *identities: str, **validity: datetime.datetime
) -> Iterator[str]:
    leaf = authority.issue_cert(*identities, **validity)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))
    yield from _serve_tls(cert_file, key_file)


@pytest.fixture(scope="module")
def good_tls(authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _tls_server(authority, tmp_path_factory.mktemp("good"), "127.0.0.1")


@pytest.fixture(scope="module")
def wrong_host_tls(
    authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from _tls_server(authority, tmp_path_factory.mktemp("wrong"), "other.example")


@pytest.fixture(scope="module")
def expired_tls(authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    now = datetime.datetime.now(datetime.UTC)
    yield from _tls_server(
        authority,
        tmp_path_factory.mktemp("expired"),
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


# --- one client through every fault ----------------------------------------------------


async def expect_failure(
    client: fastio.Client,
    url: str,
    error_class: type[fastio.FastioError],
    within: float,
    **arguments: object,
) -> fastio.FastioError:
    started = time.monotonic()
    with pytest.raises(error_class) as raised:
        await client.get(url, **arguments)  # type: ignore[arg-type]
    assert time.monotonic() - started < within, f"{url} took too long"
    assert raised.value.url == url
    assert url in str(raised.value)
    return raised.value


FAULTS = [
    ("/reset", fastio.ReadError),
    ("/reset-mid-body", fastio.ReadError),
    ("/short-body", fastio.ReadError),
    ("/bad-chunked", fastio.ProtocolError),
    ("/garbage", fastio.ProtocolError),
    ("/huge-headers", fastio.ProtocolError),
]


async def test_every_fault_raises_and_the_client_stays_usable(
    server: Server, closed_port: int
) -> None:
    async with fastio.Client(timeout=5, max_body_size=1_000_000) as client:

        async def still_usable() -> None:
            assert (await client.get(server.url + "/json")).json()["name"] == "fastio"

        await expect_failure(client, f"http://127.0.0.1:{closed_port}/", fastio.ConnectError, 2)
        await still_usable()
        for path, error_class in FAULTS:
            await expect_failure(client, server.fault_url + path, error_class, 3)
            await still_usable()
        await expect_failure(
            client, server.fault_url + "/hang", fastio.TimeoutError, 2, timeout=0.3
        )
        await still_usable()
        await expect_failure(
            client, server.fault_url + "/slowloris", fastio.TimeoutError, 2, timeout=0.5
        )
        await still_usable()
        await expect_failure(client, server.url + "/redirect-loop", fastio.TooManyRedirects, 3)
        await still_usable()
        await expect_failure(client, server.url + "/bad-gzip", fastio.DecodeError, 3)
        await still_usable()
        # 10 GB offered, refused after the first megabyte.
        await expect_failure(client, server.url + "/bytes/10000000000", fastio.BodyTooLarge, 3)
        await still_usable()


BIG_BODY = b"x" * (16 * 1024 * 1024)  # far more than the socket buffers take at once


async def pieces_of(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1 << 20):
        yield body[start : start + (1 << 20)]


@pytest.mark.parametrize("how", ["bytes", "async iterator", "under a write timeout"])
async def test_a_connection_lost_while_sending_the_body_is_a_write_error(
    server: Server, how: str
) -> None:
    """The server reads the head and resets while the body is still going
    out: a WriteError (still a ReadError to code that catches that), where
    a reset with nothing left to send stays a plain ReadError."""
    url = server.fault_url + "/reset"
    write = 5 if how == "under a write timeout" else None
    async with fastio.Client(timeout=fastio.Timeout(10, write=write)) as client:
        content = pieces_of(BIG_BODY) if how == "async iterator" else BIG_BODY
        with pytest.raises(fastio.WriteError) as raised:
            await client.post(url, content=content)
        with pytest.raises(fastio.ReadError) as plain:
            await client.get(url)
        assert (await client.get(server.url + "/json")).status == 200
    assert isinstance(raised.value, fastio.ReadError)
    assert "while sending the request" in str(raised.value)
    assert raised.value.url == url
    assert type(plain.value) is fastio.ReadError


async def test_a_slowloris_body_is_cut_by_read_timeout(server: Server) -> None:
    async with fastio.Client(read_timeout=0.3, timeout=None) as client:
        error = await expect_failure(
            client, server.fault_url + "/slowloris", fastio.TimeoutError, 3
        )
    assert "timed out" in str(error)


async def drain(response: fastio.Response) -> None:
    async for _ in response.aiter_bytes():
        pass


async def test_a_streamed_slowloris_body_times_out_between_pieces(server: Server) -> None:
    async with (
        fastio.Client(timeout=0.5) as client,
        client.stream("GET", server.fault_url + "/slowloris") as response,
    ):
        started = time.monotonic()
        with pytest.raises(fastio.TimeoutError):
            await drain(response)
    assert time.monotonic() - started < 3


async def test_tls_faults(
    good_tls: str, wrong_host_tls: str, expired_tls: str, ca_file: Path
) -> None:
    async with fastio.Client(ca_bundle=ca_file, timeout=5) as trusting:
        assert (await trusting.get(good_tls)).text == "hello"
        wrong = await expect_failure(trusting, wrong_host_tls, fastio.TLSError, 3)
        expired = await expect_failure(trusting, expired_tls, fastio.TLSError, 3)
        assert (await trusting.get(good_tls)).status == 200
    # The cause, not only the URL: the certificate is for another name.
    assert "not valid for name" in str(wrong)
    assert "expired" in str(expired).lower()
    async with fastio.Client(timeout=5) as default_roots:
        # Signed by a CA nobody trusts: as good as self-signed.
        await expect_failure(default_roots, good_tls, fastio.TLSError, 3)


async def test_a_batch_of_good_and_faulty_urls_loses_and_repeats_nothing(
    server: Server, closed_port: int
) -> None:
    faulty = {
        f"http://127.0.0.1:{closed_port}/x": fastio.ConnectError,
        server.fault_url + "/reset": fastio.ReadError,
        server.fault_url + "/reset-mid-body": fastio.ReadError,
        server.fault_url + "/bad-chunked": fastio.ProtocolError,
        server.fault_url + "/garbage": fastio.ProtocolError,
        server.fault_url + "/hang": fastio.TimeoutError,
        server.url + "/redirect-loop": fastio.TooManyRedirects,
        "not a url": fastio.InvalidURL,
    }
    urls: list[str] = []
    for number in range(1000):
        urls.append(server.url + f"/bytes/{number}")
        if number % 100 == 0:
            urls.extend(faulty)
    async with fastio.Client() as client:
        results = await client.fetch_all(urls, concurrency=50, timeout=1, return_exceptions=True)
    assert len(results) == len(urls)
    for index, (url, result) in enumerate(zip(urls, results, strict=True)):
        if url in faulty:
            assert isinstance(result, faulty[url]), (url, result)
            assert result.index == index
        else:
            assert isinstance(result, fastio.Response), (url, result)
            assert result.request_url == url
            assert len(result.content) == int(url.rsplit("/", 1)[1])
    counts = server.request_counts()
    assert all(counts[f"/bytes/{number}"] == 1 for number in range(1000))
