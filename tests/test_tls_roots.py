"""Clients that trust the system's roots alone (the default) share one TLS
configuration built once per process: the roots read once, one session
cache. The system roots here are a trustme CA named by SSL_CERT_FILE (read
by the platform verifier as by OpenSSL), in a child process; the server is
hypercorn over TLS, offering HTTP/2 by ALPN."""

from __future__ import annotations

import http.server
import os
import ssl
import subprocess
import sys
import textwrap
import threading
from typing import ClassVar

from conftest import Certificates


def run_with_system_roots(script: str, certificates: Certificates) -> str:
    environment = {**os.environ, "SSL_CERT_FILE": str(certificates.ca)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_default_clients_verify_with_the_system_roots_and_negotiate_http2(
    h2_server: str, certificates: Certificates
) -> None:
    output = run_with_system_roots(
        f"""
        import asyncio, fastio

        async def main():
            for _ in range(3):
                async with fastio.Client() as client:
                    print((await client.get("{h2_server}/")).http_version)
            async with fastio.Client(http2=False) as client:
                print((await client.get("{h2_server}/")).http_version)
            print((await fastio.fetch("{h2_server}/")).http_version)

        asyncio.run(main())
        """,
        certificates,
    )
    assert output.split() == ["HTTP/2", "HTTP/2", "HTTP/2", "HTTP/1.1", "HTTP/2"]


def test_default_clients_refuse_a_certificate_the_system_does_not_trust(
    h2_server: str, certificates: Certificates
) -> None:
    # The system roots are some other CA's: hypercorn's certificate fails.
    import trustme

    other = trustme.CA()
    stranger = certificates.ca.parent / "stranger.pem"
    other.cert_pem.write_to_path(str(stranger))
    strangers = Certificates(
        stranger,
        certificates.server_cert,
        certificates.server_key,
        certificates.client_cert,
        certificates.client_key,
    )
    output = run_with_system_roots(
        f"""
        import asyncio, fastio

        async def main():
            async with fastio.Client() as client:
                try:
                    await client.get("{h2_server}/")
                except fastio.TLSError as error:
                    print("refused", type(error).__name__)

        asyncio.run(main())
        """,
        strangers,
    )
    assert output.split() == ["refused", "TLSError"]


class _Recording(http.server.BaseHTTPRequestHandler):
    """Answers 200 and notes whether its connection resumed a TLS session."""

    resumed: ClassVar[list[bool]] = []

    def do_GET(self) -> None:
        connection = self.connection
        assert isinstance(connection, ssl.SSLSocket)
        self.resumed.append(connection.session_reused)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_new_default_client_resumes_the_tls_sessions_of_earlier_ones(
    certificates: Certificates,
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificates.server_cert), str(certificates.server_key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}/"
    try:
        run_with_system_roots(
            f"""
            import asyncio, fastio

            async def main():
                for _ in range(3):
                    async with fastio.Client(resolve={{"localhost": "127.0.0.1"}}) as client:
                        assert (await client.get("{url}")).status == 200

            asyncio.run(main())
            """,
            certificates,
        )
    finally:
        server.shutdown()
        server.server_close()
    # Each client its own connection: the first a full handshake, the
    # others resumed from the session cache the clients share.
    assert _Recording.resumed == [False, True, True]
