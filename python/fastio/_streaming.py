"""Text and line iteration over a Response body, for ``Response.aiter_text``
and ``Response.aiter_lines`` (the bytes come from ``aiter_bytes``)."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

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


async def aiter_lines(response: Response) -> AsyncIterator[str]:
    """The body's lines (split as ``str.splitlines`` does), without their
    endings; a "\\r\\n" split between two pieces counts once."""
    pending = ""
    async for text in aiter_text(response):
        lines = (pending + text).splitlines(keepends=True)
        pending = ""
        last = lines[-1]
        if _without_ending(last) == last or last.endswith("\r"):
            pending = lines.pop()
        for line in lines:
            yield _without_ending(line)
    if pending:
        yield _without_ending(pending)
