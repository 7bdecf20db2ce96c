"""``Response.elapsed``: seconds as a float (``f"{r.elapsed:.3f}"``,
``r.elapsed * 1000``, ``r.elapsed < 0.5``) that also answers as httpx's
timedelta does (``r.elapsed.total_seconds()``, ``r.elapsed <
timedelta(seconds=1)``, ``sent_at + r.elapsed``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

__all__ = ["Elapsed"]


class Elapsed(float):
    """Seconds, as a float that also behaves as a ``datetime.timedelta``
    where one is used: ``total_seconds()``, ``days``/``seconds``/
    ``microseconds``, comparison with and arithmetic on timedeltas."""

    __slots__ = ()

    def total_seconds(self) -> float:
        return float(self)

    def as_timedelta(self) -> timedelta:
        """The same duration as a ``datetime.timedelta``."""
        return timedelta(seconds=float(self))

    @property
    def days(self) -> int:
        return self.as_timedelta().days

    @property
    def seconds(self) -> int:
        """Whole seconds within the last day, as ``timedelta.seconds``."""
        return self.as_timedelta().seconds

    @property
    def microseconds(self) -> int:
        return self.as_timedelta().microseconds

    @staticmethod
    def _float(other: Any) -> Any:
        return other.total_seconds() if isinstance(other, timedelta) else other

    def __eq__(self, other: object) -> bool:
        return bool(float(self) == self._float(other))

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __lt__(self, other: Any) -> bool:
        return bool(float(self) < self._float(other))

    def __le__(self, other: Any) -> bool:
        return bool(float(self) <= self._float(other))

    def __gt__(self, other: Any) -> bool:
        return bool(float(self) > self._float(other))

    def __ge__(self, other: Any) -> bool:
        return bool(float(self) >= self._float(other))

    def __hash__(self) -> int:
        return float.__hash__(self)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, timedelta):
            return self.as_timedelta() + other
        return float(self) + other

    def __radd__(self, other: Any) -> Any:
        if isinstance(other, (timedelta, datetime)):
            return other + self.as_timedelta()
        return other + float(self)

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, timedelta):
            return self.as_timedelta() - other
        return float(self) - other

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, (timedelta, datetime)):
            return other - self.as_timedelta()
        return other - float(self)

    def __repr__(self) -> str:
        return float.__repr__(self)
