"""What every benchmark script shares: running each case in rounds of fresh
processes, measuring a child's CPU time and peak RSS, building the pure Rust
ceiling, and the ratios the tables show."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CEILING = ROOT / "target" / "ceiling" / "release" / "reqwest-ceiling"

# Each case runs this many rounds; a round runs every client (and the
# ceiling) once, each in a fresh process, one after the other, so a slow
# spell of this shared 2-core machine falls on all of them alike (one run
# swung by up to 30%). The tables show each one's fastest run (the lag
# table: its run with the median worst lag). Scripts may change it.
ROUNDS = 5

Run = Callable[[], dict[str, Any]]

# Peers 10-100x behind the others (httpx and its fork httpx2, niquests): one
# run, on fewer requests; their noise changes nothing.
SLOW_PEERS = ("httpx", "niquests")


def is_slow(name: str) -> bool:
    """Whether `name` is one of the slow peers (see SLOW_PEERS)."""
    return name.startswith(SLOW_PEERS)


def in_rounds(runs: dict[str, Run], *, by_lag: bool = False) -> dict[str, dict[str, Any]]:
    """Runs each of `runs` ROUNDS times, round-robin; returns each one's pick."""
    done: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for round_number in range(ROUNDS):
        for name, run in runs.items():
            if not is_slow(name) or round_number == 0:
                done[name].append(run())
    return {name: pick(measured, by_lag) for name, measured in done.items()}


def pick(runs: list[dict[str, Any]], by_lag: bool) -> dict[str, Any]:
    """The fastest run (by_lag: the median by worst lag), with the median
    time of all the runs as "median_s"."""
    finished = [run for run in runs if "error" not in run]
    if not finished:
        return runs[0]
    median_s = statistics.median(run["s"] for run in finished)
    cpu = [run["cpu_s"] for run in finished if "cpu_s" in run]
    if by_lag:
        chosen = sorted(finished, key=lambda run: run["lag_worst_ms"])[len(finished) // 2]
    else:
        chosen = min(finished, key=lambda run: run["s"])
    return {**chosen, "median_s": median_s, "median_cpu_s": statistics.median(cpu) if cpu else None}


def child_arguments(description: str) -> argparse.Namespace:
    """The arguments of a script that runs each case in a child of itself
    (``--child CASE --port P --count N``) and prints or writes its table."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown")
    parser.add_argument("--child")
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int)
    return parser.parse_args()


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def child_run(command: list[str]) -> dict[str, Any]:
    """Runs a client's child process; its JSON line, or {"error": ...}."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def build_ceiling() -> None:
    """Builds the pure Rust client (or brings it up to date)."""
    subprocess.run(
        [
            "cargo",
            "build",
            "--quiet",
            "--release",
            "--manifest-path",
            str(HERE / "reqwest_ceiling" / "Cargo.toml"),
            "--target-dir",
            str(ROOT / "target" / "ceiling"),
        ],
        check=True,
    )


def measured_process(command: list[str], stdin: str | None = None) -> dict[str, Any]:
    """Runs a program that prints one JSON line, adding its own CPU time
    (every thread, its start-up included) and peak RSS."""
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else None,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        if stdin is not None:
            assert process.stdin is not None
            process.stdin.write(stdin)
            process.stdin.close()
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed with {process.returncode}")
    result: dict[str, Any] = json.loads(output)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["rss_mib"] = usage.ru_maxrss / 1024
    return result


def rate(measured: dict[str, Any], count: int) -> float:
    if "error" in measured:
        return float("nan")
    return count / float(measured["s"])


def ratio(value: float, reference: float) -> str:
    if reference != reference or reference == 0:  # NaN: the reference failed
        return ""
    return f"{value / reference:.2f}"


def cpu_per_request(measured: dict[str, Any], count: int) -> str:
    """The median run's CPU time (all threads) per request, in µs."""
    cpu = measured.get("median_cpu_s")
    return "" if cpu is None else f"{cpu / count * 1e6:.1f}"


def cpu_ratio(measured: dict[str, Any], count: int, rust: dict[str, Any], rust_count: int) -> str:
    cpu, rust_cpu = measured.get("median_cpu_s"), rust.get("median_cpu_s")
    if cpu is None or not rust_cpu:
        return ""
    return f"{(cpu / count) / (rust_cpu / rust_count):.2f}"


@contextlib.contextmanager
def test_server() -> Iterator[str]:
    """fastio's test server in a process of its own (its work is not counted
    as the client's); its URL."""
    with subprocess.Popen(
        [sys.executable, "-m", "fastio.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None
        try:
            yield server.stdout.readline().strip()
        finally:
            server.terminate()
            server.wait(timeout=10)


def publish(lines: list[str], markdown: Path | None) -> None:
    """Prints a table (its first line says when and where it was measured)
    and writes it to `markdown` when given."""
    table = "\n".join(lines)
    print(table)
    if markdown:
        markdown.write_text(table + "\n")
