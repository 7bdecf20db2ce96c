"""fastio's exception hierarchy.

Every exception fastio raises for its own failures derives from
:class:`FastioError`, so ``except fastio.FastioError`` catches them all, and
``except Exception`` still sees them.
"""

from __future__ import annotations

__all__ = ["FastioError", "InternalError"]


class FastioError(Exception):
    """Base class of every error fastio raises for its own failures."""


class InternalError(FastioError):
    """A bug inside fastio, such as a panic in a Rust task.

    The message says what went wrong; please report it with the message.
    """
