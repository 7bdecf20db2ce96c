"""``python -m fastio``: the same as the ``fastio`` command."""

from __future__ import annotations

from fastio.cli import main

if __name__ == "__main__":
    main()
