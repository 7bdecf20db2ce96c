"""Instructions per request, counted by callgrind: steady where time on a
shared machine is not.

Each client GETs nginx's 12-byte body a few thousand times at concurrency 64
under ``valgrind --tool=callgrind --separate-threads=yes``, twice, with two
request counts; the difference, over the extra requests, is the cost per
request (start-up and warm-up cancel out), split into the process's first
thread (the event loop, for the Python clients) and its other threads.
User-space instructions only: the kernel's work and the time spent waiting
are not counted, so this complements CPU time rather than replacing it.

    python bench/instructions.py [--quick] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import datetime
import glob
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nginx
import runs
from machine import machine_line

HERE = Path(__file__).resolve().parent
HYPER_CEILING = runs.CEILING.parent / "hyper-ceiling"
CONCURRENCY = 64
PYTHON_CLIENTS = [
    "fastio fetch_all",
    "fastio Client.get from tasks",
    "wreq",
    "pyreqwest",
]
RUST_CLIENTS = {
    "pure Rust reqwest (ceiling)": runs.CEILING,
    "pure Rust hyper-util, no reqwest": HYPER_CEILING,
}


def ensure_valgrind() -> None:
    if shutil.which("valgrind") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "valgrind"], check=True)


def command(client: str, url: str, count: int) -> list[str]:
    if client in RUST_CLIENTS:
        return [str(RUST_CLIENTS[client]), url, str(count), str(CONCURRENCY)]
    return [
        sys.executable,
        str(HERE / "http.py"),
        "--client",
        client,
        "--url",
        url,
        "--count",
        str(count),
        "--concurrency",
        str(CONCURRENCY),
    ]


def counted(client: str, url: str, count: int) -> tuple[int, int]:
    """Instructions of the first thread and of the others, for one run."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--separate-threads=yes"]
        subprocess.run(
            [*valgrind, f"--callgrind-out-file={out}", *command(client, url, count)],
            capture_output=True,
            check=True,
        )
        first = others = 0
        for path in glob.glob(f"{out}-*"):
            total = next(
                int(line.split()[1])
                for line in Path(path).read_text().splitlines()
                if line.startswith(("totals:", "summary:"))
            )
            if path.endswith("-01"):
                first += total
            else:
                others += total
        return first, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    fewer, more = (500, 1500) if args.quick else (1000, 4000)
    ensure_valgrind()
    runs.build_ceiling()
    rows = []
    with nginx.serving() as base:
        url = base + "/small"
        for client in [*RUST_CLIENTS, *PYTHON_CLIENTS]:
            low = counted(client, url, fewer)
            high = counted(client, url, more)
            extra = more - fewer
            first = (high[0] - low[0]) / extra
            others = (high[1] - low[1]) / extra
            rows.append((client, first, others))
            print(f"{client}: {first + others:,.0f}", file=sys.stderr)
    reqwest = rows[0][1] + rows[0][2]
    lines = [
        f"Measured {datetime.date.today()} on {machine_line()}; callgrind, GETs of nginx's "
        f"12-byte body at concurrency {CONCURRENCY}, ({more:,} - {fewer:,}) requests' "
        "difference per request; user-space instructions of every thread.",
        "",
        "| client | instructions per request | first thread (the event loop) | other threads "
        "| × pure Rust reqwest |",
        "|---|---|---|---|---|",
    ]
    for client, first, others in rows:
        total = first + others
        lines.append(
            f"| {client} | {total:,.0f} | {first:,.0f} | {others:,.0f} | {total / reqwest:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
