"""A client's default headers or cookies as a mutable mapping over the
native session."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping

from fastio._fastio import _shown_header

__all__ = ["DefaultsView"]


class DefaultsView(MutableMapping[str, str]):
    """A client's default headers or cookies: reads and writes go to the
    native session, so a change applies to the requests made after it."""

    def __init__(
        self,
        read: Callable[[], list[tuple[str, str]]],
        write: Callable[[list[tuple[str, str]]], None],
        *,
        fold_case: bool,
    ) -> None:
        self._read = read
        self._write = write
        self._fold_case = fold_case

    def _key(self, name: str) -> str:
        return name.lower() if self._fold_case else name

    def __getitem__(self, name: str) -> str:
        values = [value for key, value in self._read() if self._key(key) == self._key(name)]
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __setitem__(self, name: str, value: str) -> None:
        kept = [(key, old) for key, old in self._read() if self._key(key) != self._key(name)]
        self._write([*kept, (name, value)])

    def __delitem__(self, name: str) -> None:
        pairs = self._read()
        kept = [(key, value) for key, value in pairs if self._key(key) != self._key(name)]
        if len(kept) == len(pairs):
            raise KeyError(name)
        self._write(kept)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self._read()))

    def __len__(self) -> int:
        return len(dict.fromkeys(self._key(key) for key, _ in self._read()))

    def __repr__(self) -> str:
        # Credentials never show, as in error messages.
        return repr({name: _shown_header(name, value) for name, value in self.items()})
