"""The argument types the public API shares."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from types import EllipsisType
from typing import Any

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
