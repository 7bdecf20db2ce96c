"""Text and line iteration over a Response body, for ``Response.aiter_text``
and ``Response.aiter_lines`` (the bytes come from ``aiter_bytes``)."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastio._fastio import _shown_url
from fastio.exceptions import BodyTooLarge

if TYPE_CHECKING:
    from fastio._fastio import Response


def _decoder(encoding: str) -> codecs.IncrementalDecoder:
    try:
        factory = codecs.getincrementaldecoder(encoding)
    except LookupError:
        factory = codecs.getincrementaldecoder("utf-8")
    return factory(errors="replace")


async def aiter_text(response: Response, chunk_size: int | None = None) -> AsyncIterator[str]:
    """The body decoded as it arrives; a character split between two pieces
    is decoded whole."""
    decoder = _decoder(response.encoding)
    async for piece in response.aiter_bytes(chunk_size):
        text = decoder.decode(piece)
        if text:
            yield text
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest


def _without_ending(line: str) -> str:
    parts = line.splitlines()
    return parts[0] if parts else line


#: The longest line ``aiter_lines`` holds while waiting for its end: the
#: server chooses how long a line is, fastio how much memory it may take.
MAX_LINE = 16 * 1024 * 1024


async def aiter_lines(response: Response) -> AsyncIterator[str]:
    """The body's lines (split as ``str.splitlines`` does), without their
    endings; a "\\r\\n" split between two pieces counts once. A line longer
    than :data:`MAX_LINE` characters raises :class:`fastio.BodyTooLarge`.

    An unfinished line is kept as its pieces, so each piece is scanned once."""
    parts: list[str] = []
    size = 0
    async for text in aiter_text(response):
        if parts and parts[-1].endswith("\r"):
            # A "\r" that ended the last piece ended its line, together with
            # a "\n" that starts this one.
            yield _without_ending("".join(parts))
            parts, size = [], 0
            text = text.removeprefix("\n")
            if not text:
                continue
        lines = text.splitlines(keepends=True)
        for line in lines[:-1]:
            if parts:
                line = "".join(parts) + line
                parts, size = [], 0
            yield _without_ending(line)
        last = lines[-1]
        if _without_ending(last) == last or last.endswith("\r"):
            parts.append(last)
            size += len(last)
            if size > MAX_LINE:
                shown = _shown_url(response.url)
                raise BodyTooLarge(
                    f"{response.method} {shown}: a line is longer than {MAX_LINE} "
                    "characters; read the body with aiter_bytes() instead",
                    url=shown,
                )
            continue
        if parts:
            last = "".join(parts) + last
            parts, size = [], 0
        yield _without_ending(last)
    if parts:
        yield _without_ending("".join(parts))
