"""The progress bar of ``fetch_all``/``fetch_iter``/``fastio fetch``: tqdm on
stderr, fed on a timer from counters the Rust side updates, so showing
progress costs no wake-up per request.

tqdm: small, pure Python, no dependencies of its own, and it already knows
rates, ETAs and terminal widths."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastio._fastio import _Progress

if TYPE_CHECKING:
    from tqdm import tqdm

#: How often the bar reads the counters.
TICK_SECONDS = 0.1


def on_a_terminal() -> bool:
    """Whether a bar would be seen: stderr is a terminal (not a pipe, a file
    or a log collector, where it would be thousands of lines)."""
    stderr = sys.stderr
    return stderr is not None and stderr.isatty()


def length_of(urls: Iterable[Any]) -> int | None:
    """The number of URLs when the iterable knows it (a list, a tuple)."""
    try:
        return len(urls)  # type: ignore[arg-type]
    except TypeError:
        return None


class ProgressBar:
    """done/total, req/s, errors and ETA for one batch of requests."""

    def __init__(self, total: int | None, *, label: str = "fetch") -> None:
        self.counts = _Progress()
        self._total = total
        self._label = label
        self._bar: tqdm[Any] | None = None
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Shows the bar and starts updating it (needs a running loop)."""
        if self._bar is not None:
            return
        # Imported here: tqdm is most of `import fastio`'s cost otherwise.
        from tqdm import tqdm

        self._bar = tqdm(
            total=self._total,
            desc=self._label,
            unit="req",
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
        )
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            self._update()
            await asyncio.sleep(TICK_SECONDS)

    def _update(self) -> None:
        if self._bar is None:
            return
        self._bar.update(self.counts.done - self._bar.n)
        self._bar.set_postfix_str(f"errors={self.counts.failed}", refresh=False)

    def close(self) -> None:
        """Shows the final counts and stops."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._bar is not None:
            self._update()
            self._bar.close()
            self._bar = None
