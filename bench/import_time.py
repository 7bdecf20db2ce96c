"""How much ``import fastio`` adds to ``import asyncio``, and what peers add.

Each round runs a fresh interpreter per case with ``-X importtime`` and
sums the top-level imports' cumulative microseconds; the table shows the
median over the rounds and the difference to asyncio alone. Peers that are
not installed are left out.

    python bench/import_time.py [--rounds 15] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import statistics
import subprocess
import sys
from pathlib import Path

import machine
import runs

#: (label, statement), asyncio first: the others are measured against it.
CASES = [
    ("asyncio", "import asyncio"),
    ("fastio", "import asyncio, fastio"),
    ("aiohttp", "import asyncio, aiohttp"),
    ("httpx", "import asyncio, httpx"),
    ("pyreqwest", "import asyncio, pyreqwest"),
    ("wreq", "import asyncio, wreq"),
    ("pyqwest", "import asyncio, pyqwest"),
    ("eggfetch", "import asyncio, eggfetch"),
    ("requestx", "import asyncio, requestx"),
    ("niquests", "import asyncio, niquests"),
    ("httpx2", "import asyncio, httpx2"),
]


#: Bytecode caches written and used, as after a pip install (an editable
#: install under PYTHONDONTWRITEBYTECODE would compile fastio every time).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def import_micros(statement: str) -> int:
    """Microseconds the top-level imports of ``statement`` took, by -X importtime."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        # Top level: the name is indented by exactly one space.
        if cumulative.strip().isdigit() and name.startswith(" ") and not name.startswith("  "):
            total += int(cumulative)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    present = [
        (label, statement)
        for label, statement in CASES
        if label == "asyncio" or importlib.util.find_spec(label) is not None
    ]
    measured: dict[str, list[int]] = {label: [] for label, _ in present}
    for _, statement in present:
        import_micros(statement)  # writes the bytecode caches
    for _ in range(args.rounds):
        # Interleaved, so a slow spell of the machine hits every case alike.
        for label, statement in present:
            measured[label].append(import_micros(statement))
    base = statistics.median(measured["asyncio"])
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine.machine_line()}; "
        f"`python -X importtime`, the top-level imports' cumulative time, median of "
        f"{args.rounds} fresh interpreters per case, interleaved, bytecode cached (start-up "
        "imports, the same in every case, included).",
        "",
        "| import | ms (median) | over `import asyncio` | fastest–slowest ms |",
        "|---|---|---|---|",
    ]
    for label, values in measured.items():
        median = statistics.median(values)
        over = "" if label == "asyncio" else f"+{(median - base) / 1000:.1f} ms"
        lines.append(
            f"| {label} | {median / 1000:.1f} | {over} | "
            f"{min(values) / 1000:.1f}–{max(values) / 1000:.1f} |"
        )
    lines.append("")
    runs.publish(lines, args.markdown)


if __name__ == "__main__":
    main()
