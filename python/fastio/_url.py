"""``Request.url``: a str (so comparing, formatting and JSON work as with
any URL string) that also has its parts, as httpx's ``request.url`` does."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from urllib.parse import SplitResult

__all__ = ["URL", "QueryParams"]


class QueryParams(Mapping[str, str]):
    """A query string's parameters: ``params["q"]`` is the first value of
    ``q``, ``get_list("q")`` all of them, ``multi_items()`` every pair."""

    __slots__ = ("_pairs",)

    def __init__(self, query: str = "") -> None:
        from urllib.parse import parse_qsl

        self._pairs = parse_qsl(query, keep_blank_values=True)

    def __getitem__(self, name: str) -> str:
        for key, value in self._pairs:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self._pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(key for key, _ in self._pairs))

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        return [value for key, value in self._pairs if key == name]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names included."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"QueryParams({self._pairs!r})"


class URL(str):
    """A URL as sent: a str with ``scheme``, ``host``, ``port``, ``path``,
    ``query``, ``params``, ``fragment`` and ``raw_path``. Its repr hides a
    password or token in it."""

    __slots__ = ()

    def _split(self) -> SplitResult:
        from urllib.parse import urlsplit

        return urlsplit(self)

    @property
    def scheme(self) -> str:
        return self._split().scheme

    @property
    def host(self) -> str:
        """The host name, lower-cased (an IPv6 address without brackets)."""
        return self._split().hostname or ""

    @property
    def port(self) -> int | None:
        """The port if the URL names one."""
        return self._split().port

    @property
    def path(self) -> str:
        """The path, percent-encoded as sent ("/" when empty)."""
        return self._split().path or "/"

    @property
    def query(self) -> str:
        """The query string without its "?"."""
        return self._split().query

    @property
    def params(self) -> QueryParams:
        return QueryParams(self.query)

    @property
    def fragment(self) -> str:
        return self._split().fragment

    @property
    def raw_path(self) -> str:
        """The path and query, as in the request line."""
        query = self.query
        return self.path + ("?" + query if query else "")

    def __repr__(self) -> str:
        from fastio._fastio import _shown_url

        return f"URL({_shown_url(self)!r})"
