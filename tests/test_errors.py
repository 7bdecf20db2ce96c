"""The exception hierarchy users catch."""

from __future__ import annotations

import builtins
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from conftest import Certificates

import fastio


@pytest.mark.parametrize(
    ("error_class", "bases"),
    [
        (fastio.InternalError, (fastio.FastioError,)),
        (fastio.RequestError, (fastio.FastioError,)),
        (fastio.ConnectError, (fastio.RequestError,)),
        (fastio.DNSError, (fastio.ConnectError,)),
        (fastio.NameNotFound, (fastio.DNSError,)),
        (fastio.TLSError, (fastio.ConnectError,)),
        (fastio.TimeoutError, (fastio.RequestError, builtins.TimeoutError)),
        (fastio.PoolTimeout, (fastio.TimeoutError,)),
        (fastio.ConnectTimeout, (fastio.TimeoutError,)),
        (fastio.ReadTimeout, (fastio.TimeoutError,)),
        (fastio.ReadError, (fastio.RequestError,)),
        # Caught by `except ReadError`, as before fastio told them apart.
        (fastio.WriteError, (fastio.ReadError,)),
        (fastio.ProtocolError, (fastio.RequestError,)),
        (fastio.TooManyRedirects, (fastio.RequestError,)),
        (fastio.BodyTooLarge, (fastio.RequestError,)),
        # Where httpx users catch it: under RequestError.
        (fastio.DecodeError, (fastio.RequestError,)),
        (fastio.HTTPStatusError, (fastio.FastioError,)),
        (fastio.InvalidURL, (fastio.FastioError, ValueError)),
        (fastio.ClientClosed, (fastio.FastioError, RuntimeError)),
    ],
)
def test_hierarchy(error_class: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    for base in bases:
        assert issubclass(error_class, base)
    assert issubclass(error_class, Exception)


def test_errors_carry_their_url() -> None:
    error = fastio.TimeoutError("GET http://x/: timed out", url="http://x/")
    assert error.url == "http://x/"
    assert str(error) == "GET http://x/: timed out"
    assert fastio.FastioError("no url").url is None


def test_a_fastio_timeout_is_caught_as_the_builtin() -> None:
    with pytest.raises(builtins.TimeoutError):
        raise fastio.PoolTimeout("pool", url="http://x/")


# --- errors that name the right thing ----------------------------------------------------


@pytest.fixture
def mutual_tls_url(certificates: Certificates) -> Iterator[str]:
    """An HTTPS server (Python's ssl, in a thread) that requires a client
    certificate signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    context.load_verify_locations(certificates.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(5)
            with (
                contextlib.suppress(OSError),
                context.wrap_socket(connection, server_side=True) as tls,
            ):
                tls.recv(4096)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join()
    listener.close()


async def test_a_server_asking_for_a_client_certificate_is_a_tls_error(
    mutual_tls_url: str, certificates: Certificates
) -> None:
    async with fastio.Client(ca_bundle=certificates.ca) as client:
        with pytest.raises(fastio.TLSError, match="asked for a client certificate"):
            await client.get(mutual_tls_url)
    cert = (str(certificates.client_cert), str(certificates.client_key))
    async with fastio.Client(ca_bundle=certificates.ca, cert=cert) as client:
        assert (await client.get(mutual_tls_url)).text == "ok"


async def test_a_dead_proxy_is_a_proxy_error_naming_the_proxy(closed_port: int) -> None:
    proxy = f"http://user:S3CRET@127.0.0.1:{closed_port}"
    for target in ("http://127.0.0.1:9/", "https://127.0.0.1:9/"):
        async with fastio.Client(proxy=proxy) as client:
            with pytest.raises(fastio.ProxyError) as raised:
                await client.get(target)
        message = str(raised.value)
        assert isinstance(raised.value, fastio.ConnectError)
        assert f"the proxy http://***@127.0.0.1:{closed_port}/ failed" in message
        assert "S3CRET" not in message


def test_a_mock_response_with_an_impossible_status_is_a_value_error() -> None:
    for status in (10**6, 10**30, 99, -1):
        with pytest.raises(ValueError, match="status_code must be from 100 to 999"):
            fastio.Response(status)
