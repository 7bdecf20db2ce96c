"""One JSON-ready record per fetched URL: what ``fastio fetch`` writes as
JSON Lines, defined once for every tool that reports results.

Example::

    async for item in fastio.fetch_iter(urls, return_exceptions=True):
        print(orjson.dumps(fastio.records.result_record(item)).decode())
"""

from __future__ import annotations

import base64
from typing import Any

from fastio._fastio import Response, _shown_header, _shown_url
from fastio.exceptions import FastioError

__all__ = ["FIELDS", "result_record"]

#: The fields of every record, in order; ``text`` or ``body_b64`` only with a body.
FIELDS = (
    "url",
    "final_url",
    "method",
    "status",
    "reason",
    "headers",
    "elapsed",
    "timings",
    "size",
    "error_type",
    "error",
)

_TEXTUAL = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "+json",
    "+xml",
)


def _is_textual(response: Response) -> bool:
    content_type = response.headers.get("content-type", "") or ""
    return any(marker in content_type.lower() for marker in _TEXTUAL)


def _timings(item: Response | BaseException) -> dict[str, Any] | None:
    """A response's (or a failure's) timings as a record holds them:
    seconds rounded to the µs."""
    timings = getattr(item, "timings", None)
    if timings is None:
        return None
    return {
        name: round(value, 6) if isinstance(value, float) else value
        for name, value in timings.as_dict().items()
    }


def result_record(
    item: Response | BaseException, *, url: str | None = None, body: bool = False
) -> dict[str, Any]:
    """The record of one URL's result: a Response, or the exception it
    failed with. ``url`` is the URL as given, when the item does not carry
    it. With ``body``, a textual body that decodes is included as ``text``,
    any other as ``body_b64``.

    Example::

        record = result_record(await fastio.fetch(url))
        assert record["status"] == 200 and record["error"] is None
    """
    if isinstance(item, Response):
        record: dict[str, Any] = {
            "url": _shown_url(item.request_url),
            "final_url": _shown_url(item.url),
            "method": item.method,
            "status": item.status,
            "reason": item.reason,
            "headers": {name: _shown_header(name, value) for name, value in item.headers.items()},
            "elapsed": round(item.elapsed, 6),
            "timings": _timings(item),
            "size": item.body_size,
            "error_type": None,
            "error": None,
        }
        if body:
            content = item.content
            text = None
            if _is_textual(item):
                try:
                    text = content.decode(item.encoding)
                except (LookupError, UnicodeDecodeError):
                    text = None
            if text is not None:
                record["text"] = text
            else:
                record["body_b64"] = base64.b64encode(content).decode("ascii")
        return record
    given = item.url if isinstance(item, FastioError) and item.url else url
    failed_url = _shown_url(given) if given is not None else None
    return {
        "url": failed_url,
        "final_url": None,
        "method": None,
        "status": None,
        "reason": None,
        "headers": None,
        "elapsed": None,
        "timings": _timings(item),
        "size": None,
        "error_type": type(item).__name__,
        "error": str(item),
    }
