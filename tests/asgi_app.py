"""A tiny ASGI app that hypercorn serves in the Client tests (HTTP/2 over TLS)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answers every request with its HTTP version, path and body, as JSON."""
    if scope["type"] != "http":
        return
    received = b""
    while True:
        message = await receive()
        received += message.get("body", b"")
        if not message.get("more_body"):
            break
    body = json.dumps(
        {
            "http_version": scope["http_version"],
            "path": scope["path"],
            "body": received.decode("utf-8", "replace"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
