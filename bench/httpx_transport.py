"""httpx over fastio's transport (``fastio.httpx``), against httpx's own
transport (httpcore) and pyreqwest's httpx transport, beside
``fastio.Client`` (the ceiling), all in one run, with httpx's own floor:
the same client over a transport that answers at once, with no network
(what httpx's own code costs the loop per request).

An ``httpx.AsyncClient`` awaited from C asyncio tasks GETs nginx's 12-byte
body (1 worker, 127.0.0.1, HTTP/1.1) at concurrency 64 and 1,000, each
client in a fresh process, in rounds; a 1 ms asyncio ticker runs beside
every run and its worst lag is reported (the run with the median worst
lag). The clients are bench/http.py's.

    python bench/httpx_transport.py [--quick] [--rounds N] [--markdown FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import machine
import runs
from nginx import serving
from runs import cpu_per_request, in_rounds, rate, ratio

sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

import argparse
import datetime
from typing import Any

HTTP = Path(__file__).resolve().parent / "http.py"
FASTIO = "fastio transport under httpx"
PYREQWEST = "pyreqwest transport under httpx"
HTTPCORE = "httpx (its own transport, httpcore)"
FLOOR = "a transport that costs nothing, nginx's answer replayed (httpx's own floor)"
CEILING = "fastio Client.get from tasks"
CLIENTS = {
    FASTIO: FASTIO,
    PYREQWEST: PYREQWEST,
    HTTPCORE: "httpx",
    FLOOR: "instant transport under httpx",
    CEILING: CEILING,
}


def child(name: str, url: str, count: int, concurrency: int) -> runs.Run:
    command = [
        sys.executable,
        str(HTTP),
        "--client",
        CLIENTS[name],
        "--url",
        url,
        "--count",
        str(count),
        "--concurrency",
        str(concurrency),
        "--lag",
    ]
    return lambda: runs.child_run(command)


def rows(concurrency: int, results: dict[str, dict[str, Any]], counts: dict[str, int]) -> list[str]:
    reference = rate(results[PYREQWEST], counts[PYREQWEST])
    own = rate(results[HTTPCORE], counts[HTTPCORE])
    lines = [
        f"**httpx.AsyncClient.get from {concurrency:,} tasks**",
        "",
        "| transport | req/s | CPU µs/req | worst loop lag | × pyreqwest's transport "
        "| × httpx's own |",
        "|---|---|---|---|---|---|",
    ]
    for name, measured in results.items():
        count = counts[name]
        if "error" in measured:
            lines.append(f"| {name} | failed: {measured['error']} | | | | |")
            continue
        speed = rate(measured, count)
        lines.append(
            f"| {name} | {speed:,.0f} | {cpu_per_request(measured, count)} | "
            f"{measured['lag_worst_ms']:.1f} ms | {ratio(speed, reference)} | {ratio(speed, own)} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=runs.ROUNDS)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    runs.ROUNDS = max(1, args.rounds)
    runs.raise_file_limit()
    requests = 2_000 if args.quick else 20_000
    counts = {name: requests for name in CLIENTS}
    # httpx's own transport runs at a tenth of the others: fewer requests, one run.
    counts[HTTPCORE] = requests // 10
    lines: list[str] = []
    with serving() as base:
        for concurrency in (64, 1000):
            results = in_rounds(
                {name: child(name, base + "/small", counts[name], concurrency) for name in CLIENTS},
                by_lag=True,
            )
            lines += rows(concurrency, results, counts)
    header = [
        f"Measured {datetime.date.today().isoformat()} on {machine.machine_line()}; nginx "
        f"1 worker on 127.0.0.1, HTTP/1.1, 12-byte body; {requests:,} GETs per run "
        f"(httpx's own transport: {counts[HTTPCORE]:,}, one run); {runs.ROUNDS} rounds of "
        "fresh processes, the run with the median worst lag shown (req/s and CPU from it; "
        "CPU: every thread of the process over the timed part, per request).",
        "",
    ]
    runs.publish(header + lines, args.markdown)


if __name__ == "__main__":
    main()
