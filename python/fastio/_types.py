"""The argument types the public API shares."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from types import EllipsisType
from typing import Any, Protocol

from fastio._fastio import DEFAULT_KEEPALIVE_EXPIRY, DEFAULT_MAX_CONNECTIONS
from fastio._fastio import Timeout as _Timeout

# One limit: seconds, None (no limit) or ``...`` (the default).
Limit = float | None | EllipsisType
# Seconds (the total), None (no limit), ``...`` (the default) or a fastio.Timeout.
Timeout = float | None | EllipsisType | _Timeout
# bool is sent as "true"/"false" and None as "", as httpx does.
Scalar = str | int | float | bool | None
Params = Mapping[str, Scalar | Sequence[Scalar]] | Iterable[tuple[str, Scalar]] | None
Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None
# (user, password) for Basic, or a bearer token.
Auth = tuple[str, str] | str | None
Cookies = Mapping[str, str] | Iterable[tuple[str, str]] | None
FileContent = bytes | str | Any
Files = Mapping[str, FileContent | tuple[str, FileContent] | tuple[str, FileContent, str]] | None
Data = Mapping[str, Scalar | Sequence[Scalar]] | bytes | str | None
Path = str | os.PathLike[str]
Content = bytes | bytearray | memoryview | str | AsyncIterable[bytes] | None


class PoolLimits(Protocol):
    """What ``Client(limits=...)`` reads: :class:`Limits` or ``httpx.Limits``."""

    @property
    def max_connections(self) -> int | None: ...
    @property
    def max_keepalive_connections(self) -> int | None: ...
    @property
    def keepalive_expiry(self) -> float | None: ...


class Limits:
    """Connection pool limits, as httpx's ``Limits`` (``Client(limits=...)``
    also takes an ``httpx.Limits``): ``max_connections`` open at most (None:
    no cap), ``max_keepalive_connections`` idle ones kept per host (None:
    as many as may be open), ``keepalive_expiry`` seconds an idle one is
    kept (None: until the server closes it)."""

    __slots__ = ("keepalive_expiry", "max_connections", "max_keepalive_connections")

    def __init__(
        self,
        *,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        self.keepalive_expiry = keepalive_expiry

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Limits) and (
            self.max_connections,
            self.max_keepalive_connections,
            self.keepalive_expiry,
        ) == (other.max_connections, other.max_keepalive_connections, other.keepalive_expiry)

    def __hash__(self) -> int:
        return hash((self.max_connections, self.max_keepalive_connections, self.keepalive_expiry))

    def __repr__(self) -> str:
        return (
            f"Limits(max_connections={self.max_connections}, "
            f"max_keepalive_connections={self.max_keepalive_connections}, "
            f"keepalive_expiry={self.keepalive_expiry})"
        )
