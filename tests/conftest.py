"""Shared helpers for fastio's tests."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

import fastio.testing
from fastio._fastio import Server

T = TypeVar("T")

# A command started in the background by a shell without job control (as a
# CI runner may start this suite) has SIGINT ignored, and children inherit
# that: the tests that press Ctrl-C in a child would see nothing happen.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def run_on_each_loop(
    request: pytest.FixtureRequest,
) -> Callable[[Callable[[], Coroutine[Any, Any, T]]], T]:
    """Runs a coroutine function to completion on the default loop and on uvloop."""
    factory = LOOP_FACTORIES[request.param]

    def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main())

    return run


@pytest.fixture
def server() -> Iterator[Server]:
    """fastio's own test server on 127.0.0.1 (see fastio.testing for its routes)."""
    with fastio.testing.serve() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Waits until something accepts on 127.0.0.1:port (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


@contextmanager
def running(command: list[str], port: int) -> Iterator[None]:
    """Runs a server process (in the tests folder) for the duration of the
    block; its output is shown if it fails to start."""
    with (
        tempfile.TemporaryFile() as output,
        subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=Path(__file__).parent
        ) as process,
    ):
        try:
            try:
                wait_for_port(port, process)
            except RuntimeError as failure:
                output.seek(0)
                shown = output.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"{failure}\n{shown}") from None
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Certificates:
    """trustme-made PEM files: a CA, a server certificate for 127.0.0.1 and
    localhost, and a client certificate, all signed by the CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    import trustme

    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    client = authority.issue_cert("client@fastio.test")
    files = Certificates(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    authority.cert_pem.write_to_path(str(files.ca))
    server.private_key_pem.write_to_path(str(files.server_key))
    files.server_cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    client.private_key_pem.write_to_path(str(files.client_key))
    files.client_cert.write_bytes(b"".join(blob.bytes() for blob in client.cert_chain_pems))
    return files


def hypercorn_command(port: int, certificates: Certificates, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hypercorn",
        "asgi_app:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--certfile",
        str(certificates.server_cert),
        "--keyfile",
        str(certificates.server_key),
        "--ca-certs",
        str(certificates.ca),
        *extra,
    ]


@pytest.fixture(scope="session")
def h2_server(certificates: Certificates) -> Iterator[str]:
    """hypercorn serving a tiny ASGI app over TLS (HTTP/2 by ALPN); its URL."""
    port = free_port()
    with running(hypercorn_command(port, certificates), port):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def mtls_server(certificates: Certificates) -> Iterator[str]:
    """As h2_server, but it requires a client certificate signed by the CA."""
    port = free_port()
    with running(hypercorn_command(port, certificates, "--verify-mode", "CERT_REQUIRED"), port):
        yield f"https://127.0.0.1:{port}"


def proxy_py(port: int, *extra: str) -> list[str]:
    """proxy.py on 127.0.0.1:`port`, wanting user:secret."""
    return [
        sys.executable,
        "-m",
        "proxy",
        "--hostname",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-workers",
        "1",
        "--num-acceptors",
        "1",
        "--basic-auth",
        "user:secret",
        *extra,
    ]


@pytest.fixture(scope="session")
def http_proxy() -> Iterator[str]:
    """proxy.py, an HTTP proxy that wants user:secret; its URL without credentials."""
    port = free_port()
    with running(proxy_py(port), port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def https_proxy(certificates: Certificates) -> Iterator[str]:
    """proxy.py over TLS (trustme's certificate for 127.0.0.1), wanting
    user:secret; its URL without credentials."""
    port = free_port()
    tls = ("--cert-file", str(certificates.server_cert), "--key-file", str(certificates.server_key))
    with running(proxy_py(port, *tls), port):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def socks_proxy() -> Iterator[str]:
    """pproxy as a SOCKS5 proxy; its URL."""
    port = free_port()
    # pproxy installs uvloop when it can and then fails under it; run it
    # with the default loop.
    launcher = (
        "import asyncio, sys; asyncio.set_event_loop(asyncio.new_event_loop());"
        "sys.modules['uvloop'] = None; import pproxy.server; sys.argv = sys.argv[:1] + "
        f"['-l', 'socks5://127.0.0.1:{port}']; pproxy.server.main()"
    )
    with running([sys.executable, "-c", launcher], port):
        yield f"socks5://127.0.0.1:{port}"


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose listen backlog is full, so a new connect is never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
