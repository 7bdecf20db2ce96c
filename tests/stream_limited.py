"""A raw HTTP/2 server that lets a client open one stream at a time, on
127.0.0.1, over h2c or TLS (ALPN h2): what waiting for a stream looks like.
``/hold`` is never answered, so while one is open no other request gets a
stream; every other path is answered ``ok`` once its request has ended."""

from __future__ import annotations

import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def _serve(sock: socket.socket) -> None:
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    connection.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1}
    )
    connection.initiate_connection()
    paths: dict[int, bytes] = {}
    with sock:
        try:
            sock.sendall(connection.data_to_send())
            while data := sock.recv(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        paths[event.stream_id] = dict(event.headers or [])[b":path"]
                    elif (
                        isinstance(event, h2.events.StreamEnded)
                        and paths.pop(event.stream_id, b"/hold") != b"/hold"
                    ):
                        connection.send_headers(
                            event.stream_id, [(":status", "200"), ("content-length", "2")]
                        )
                        connection.send_data(event.stream_id, b"ok", end_stream=True)
                sock.sendall(connection.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return


def serve_one_stream_at_a_time(tls: ssl.SSLContext | None = None) -> tuple[int, socket.socket]:
    """Starts the server in daemon threads; its port, and its listening
    socket (close it to stop taking connections)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
                if tls is not None:
                    sock = tls.wrap_socket(sock, server_side=True)
            except OSError:
                if listener.fileno() == -1:
                    return
                continue
            threading.Thread(target=_serve, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], listener
