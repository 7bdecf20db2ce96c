"""A pytest plugin for httpx's own test suite: no socket of Python's may
reach past loopback (the suite also runs in a network namespace of its own
where the machine allows one)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"the httpx suite may reach only loopback, not {host}")
    _connect(self, address)


_getaddrinfo = socket.getaddrinfo


def _local_names_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name not in (None, "localhost"):
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise socket.gaierror(
                socket.EAI_NONAME, f"the httpx suite looks up no name ({name})"
            ) from None
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]
socket.getaddrinfo = _local_names_only
