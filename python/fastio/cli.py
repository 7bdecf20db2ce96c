"""The ``fastio`` command (also ``python -m fastio``): ``demo``, ``fetch`` and
``serve``.

argparse: in the standard library, so the command costs no dependency, and
it already gives subcommands, ``--help`` and exit code 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import os
import random
import re
import stat
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

import fastio
from fastio._fastio import DEFAULT_CONCURRENCY, _shown_url
from fastio.records import result_record

#: Exit codes of ``fastio fetch``.
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The records could not be written (a full disk, a failing device): EX_IOERR.
EXIT_OUTPUT = 74
#: ``fastio fetch ... | head``: the reader closed the pipe (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


class UsageError(Exception):
    """Bad usage found after parsing (an unreadable input file, a bad option value)."""


class OutputError(Exception):
    """The records could not be written; the run stops."""


# --- input ---------------------------------------------------------------------------


def url_lines(lines: Iterable[str]) -> Iterator[str]:
    """URLs from lines of text: stripped (of a byte-order mark too), without
    blank lines and ``#`` comments."""
    for line in lines:
        url = line.strip().removeprefix("\ufeff").strip()
        if url and not url.startswith("#"):
            yield url


def input_urls(arguments: list[str], source: str | None) -> Iterator[str]:
    """The URLs given as arguments, then those of the ``-i`` file (or stdin
    for ``-``), read a line at a time."""
    yield from arguments
    if source is None:
        return
    if source == "-":
        yield from url_lines(sys.stdin)
        return
    with open(source, encoding="utf-8-sig", errors="replace") as lines:
        yield from url_lines(lines)


#: The fields a ``--requests`` line may have, as ``fastio.Request`` takes them.
REQUEST_FIELDS = {"method", "url", "params", "headers", "json", "data", "content"}


def request_of(line: str, number: int, method: str) -> fastio.Request:
    """One ``--requests`` line (a JSON object) as a Request; a line that is
    not one becomes a Request whose URL says why, so its record does."""
    try:
        fields = orjson.loads(line)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        unknown = set(fields) - REQUEST_FIELDS
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        if not isinstance(fields.get("url"), str):
            raise ValueError('no "url" string')
        return fastio.Request(fields.pop("method", method), fields.pop("url"), **fields)
    except (ValueError, TypeError) as error:
        return fastio.Request(method, f"line {number} of --requests: {error}")


def input_requests(source: str, method: str) -> Iterator[fastio.Request]:
    """The requests of a ``--requests`` file (or stdin for ``-``), one JSON
    object per line, read a line at a time."""
    lines = sys.stdin if source == "-" else open(source, encoding="utf-8-sig", errors="replace")  # noqa: SIM115
    try:
        for number, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield request_of(line, number, method)
    finally:
        if lines is not sys.stdin:
            lines.close()


def count_input(arguments: list[str], source: str | None) -> int | None:
    """How many URLs there are, when that can be known without consuming the
    input: a regular file is read once more, a line at a time; a pipe, a
    FIFO or stdin is read once, by the fetch, so its count is unknown."""
    total = len(arguments)
    if source is None:
        return total
    if source == "-" or not stat.S_ISREG(os.stat(source).st_mode):
        return None
    with open(source, encoding="utf-8", errors="replace") as lines:
        total += sum(1 for _ in url_lines(lines))
    return total


def resume_key(url: str) -> str:
    """What ``--resume`` compares: the URL as its record shows it
    (normalised as sent, credentials hidden), for input lines and records alike."""
    return _shown_url(url)


def recorded_urls(path: str | None) -> set[str]:
    """The URLs an earlier run already wrote to ``path`` (for ``--resume``);
    lines that are not records (cut short, or not JSON objects) are skipped."""
    done: set[str] = set()
    if path is None or not os.path.exists(path):
        return done
    with open(path, "rb") as records:
        for line in records:
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                url = record.get("url") if isinstance(record, dict) else None
                if isinstance(url, str):
                    done.add(resume_key(url))
    return done


def open_records(path: str) -> IO[bytes]:
    """``path`` for appending records. A last line an earlier run left cut
    short (killed mid-write) is removed, so the file stays valid JSON Lines;
    ``--resume`` fetches that URL again, as it has no record."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb+") as existing:
        end = existing.seek(0, os.SEEK_END)
        keep = end
        # Back from the end to just after the last newline, a block at a time.
        while keep > 0:
            start = max(0, keep - 65536)
            existing.seek(start)
            block = existing.read(keep - start)
            if end == keep and block.endswith(b"\n"):
                break
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        if keep < end:
            existing.truncate(keep)
    return open(path, "ab")  # closed by fetch_command


# --- output --------------------------------------------------------------------------


def safe_file_name(url: str) -> str:
    """A file name for ``url``'s body: readable, only ``[A-Za-z0-9._-]`` (so
    no path traversal, no hidden files), and unique per URL by a hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1]).strip("._-")[:80]
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return f"{readable or 'url'}-{digest}"


class Summary:
    """Counts by status class and by error type, for the closing line."""

    def __init__(self, fail_status: bool) -> None:
        self.fail_status = fail_status
        self.statuses: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()

    def add(self, item: fastio.Response | BaseException) -> None:
        if isinstance(item, fastio.Response):
            self.statuses[f"{item.status // 100}xx"] += 1
            if self.fail_status and item.status >= 400:
                self.errors["HTTPStatusError"] += 1
        else:
            self.errors[type(item).__name__] += 1

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def total(self) -> int:
        return (
            sum(self.statuses.values()) + sum(self.errors.values()) - self.errors["HTTPStatusError"]
        )

    def line(self, interrupted: bool) -> str:
        seconds = time.monotonic() - self.started
        rate = self.total / seconds if seconds > 0 else 0.0
        statuses = ", ".join(f"{name}: {count}" for name, count in sorted(self.statuses.items()))
        errors = ", ".join(f"{name}: {count}" for name, count in self.errors.most_common())
        parts = [
            f"{self.total} URLs in {seconds:.2f} s ({rate:,.0f}/s)",
            f"responses ({statuses or 'none'})",
            f"errors ({errors or 'none'})",
        ]
        if interrupted:
            parts.append("interrupted")
        return "fastio fetch: " + "; ".join(parts)


class Stats:
    """``--stats``: percentiles of each phase of the requests' timings, and
    the hosts slowest on average; bounded memory (a uniform sample of the
    timings, at most ``HOSTS`` hosts ranked)."""

    PHASES = ("dns", "connect", "tls", "first_byte", "total")
    SAMPLE = 100_000
    HOSTS = 100_000

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {phase: [] for phase in self.PHASES}
        self.seen: dict[str, int] = dict.fromkeys(self.PHASES, 0)
        self.reused = 0
        self.responses = 0
        self.hosts: dict[str, list[float]] = {}  # host: [count, sum of totals]
        self.random = random.Random(0)

    def add(self, response: fastio.Response) -> None:
        timings = response.timings
        if timings is None:
            return
        self.responses += 1
        self.reused += timings.reused
        for phase in self.PHASES:
            value = getattr(timings, phase)
            if value is not None:
                self.keep(phase, value)
        host = urllib.parse.urlsplit(response.url).netloc
        known = self.hosts.get(host)
        if known is not None:
            known[0] += 1
            known[1] += timings.total
        elif len(self.hosts) < self.HOSTS:
            self.hosts[host] = [1, timings.total]

    def keep(self, phase: str, value: float) -> None:
        # Reservoir sampling: every value kept with the same chance.
        self.seen[phase] += 1
        sample = self.samples[phase]
        if len(sample) < self.SAMPLE:
            sample.append(value)
        else:
            slot = self.random.randrange(self.seen[phase])
            if slot < self.SAMPLE:
                sample[slot] = value

    def lines(self) -> list[str]:
        lines = [
            f"timings of {self.responses} responses ({self.reused} over a reused connection), "
            "ms: p50 / p90 / p99 / max"
        ]
        for phase in self.PHASES:
            values = sorted(self.samples[phase])
            if not values:
                continue
            picks = [
                values[min(len(values) - 1, int(len(values) * share))] for share in (0.5, 0.9, 0.99)
            ]
            shown = " / ".join(f"{value * 1000:.1f}" for value in [*picks, values[-1]])
            lines.append(f"  {phase:<10} {shown}  ({self.seen[phase]} measured)")
        slowest = sorted(self.hosts.items(), key=lambda item: item[1][1] / item[1][0], reverse=True)
        if slowest:
            lines.append("slowest hosts (mean total ms, requests):")
            lines.extend(
                f"  {host}  {total / count * 1000:.1f}  ({count:.0f})"
                for host, (count, total) in slowest[:10]
            )
        return lines


# --- fetch ---------------------------------------------------------------------------


def mark_failed_status(record: dict[str, Any], response: fastio.Response) -> None:
    """With ``--fail-status``: a status of 400 or more is the record's error,
    as ``raise_for_status`` would raise it."""
    try:
        response.raise_for_status()
    except fastio.HTTPStatusError as error:
        record["error_type"] = type(error).__name__
        record["error"] = str(error)


def header_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, separator, text = value.partition(":")
        if not separator or not name.strip():
            raise UsageError(f"-H wants 'Name: value', not {value!r}")
        pairs.append((name.strip(), text.strip()))
    return pairs


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "per_host": args.per_host,
        "rate_limit": args.rate_limit,
        "timeout": args.timeout,
        "retries": args.retries,
        "http2": True if args.http2 else None,
        "proxy": args.proxy,
        "verify": not args.insecure,
        "max_body_size": args.max_body_size,
        "follow_redirects": not args.no_follow,
        "dns_servers": args.dns_server,
    }


@dataclass
class FetchPlan:
    """Everything ``fastio fetch`` checked and opened before the loop starts."""

    args: argparse.Namespace
    client: fastio.Client
    headers: list[tuple[str, str]]
    skip: set[str]
    total: int | None
    output: IO[bytes]
    save_dir: Path | None


def plan_fetch(args: argparse.Namespace, stdout: IO[bytes]) -> FetchPlan:
    """Checks the arguments and does the blocking file work (the resume file,
    counting the input, opening the output) before the event loop runs."""
    if args.requests is not None and (args.urls or args.input is not None):
        raise UsageError("--requests FILE gives the requests: no URLs or -i with it")
    if not args.urls and args.input is None and args.requests is None:
        raise UsageError("give URLs as arguments or with -i FILE (or -i - for stdin)")
    if args.json is not None:
        try:
            orjson.loads(args.json)
        except orjson.JSONDecodeError as error:
            raise UsageError(f"--json is not JSON: {error}") from error
    if args.method is None:
        # As curl does: a body makes the request a POST unless -X says otherwise.
        args.method = "POST" if args.json is not None or args.data is not None else "GET"
    if args.resume and args.output is None:
        raise UsageError("--resume needs -o FILE: the records of the earlier run")
    headers = header_pairs(args.header)
    try:
        client = fastio.Client(**client_options(args))
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from error
    try:
        skip = recorded_urls(args.output) if args.resume else set()
        total = count_input(args.urls, args.input if args.requests is None else args.requests)
        save_dir = Path(args.save_dir) if args.save_dir else None
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
        output = open_records(args.output) if args.output else stdout
    except OSError as error:
        raise UsageError(str(error)) from error
    if skip:
        total = None  # which of them were done shows only as they are read
    return FetchPlan(args, client, headers, skip, total, output, save_dir)


def input_items(args: argparse.Namespace, skip: set[str]) -> Iterator[str | fastio.Request]:
    """What to fetch: the URLs (each with the ``--json``/``--data`` body, if
    given) or the ``--requests`` lines, without those already recorded."""
    if args.requests is not None:
        for request in input_requests(args.requests, args.method):
            if resume_key(request.url) not in skip:
                yield request
        return
    body: dict[str, Any] = {}
    if args.json is not None:
        body["json"] = orjson.loads(args.json)
    elif args.data is not None:
        body["data"] = args.data
    for url in input_urls(args.urls, args.input):
        if resume_key(url) in skip:
            continue
        yield fastio.Request(args.method, url, **body) if body else url


async def fetch_command(plan: FetchPlan) -> int:
    """Runs ``fastio fetch``; returns its exit code."""
    args = plan.args
    urls = input_items(args, plan.skip)
    summary = Summary(args.fail_status)
    stats = Stats() if args.stats else None
    interrupted = False
    try:
        async with plan.client as client:
            results = client.fetch_iter(
                urls,
                concurrency=args.concurrency,
                method=args.method,
                headers=plan.headers,
                return_exceptions=True,
                # A body is held only to be written: otherwise it is counted.
                keep_body=args.body or plan.save_dir is not None,
                max_bytes_in_flight=args.max_bytes_in_flight,
                progress=not args.quiet,
                total=plan.total,
            )
            async with results:
                async for item in results:
                    record = result_record(item, body=args.body)
                    if args.fail_status and isinstance(item, fastio.Response):
                        mark_failed_status(record, item)
                    if plan.save_dir is not None and isinstance(item, fastio.Response):
                        body_path = plan.save_dir / safe_file_name(item.request_url)
                        body_path.write_bytes(item.content)
                        record["body_file"] = str(body_path)
                    # One line per result, flushed: an interruption loses
                    # nothing that finished.
                    write_record(plan.output, orjson.dumps(record) + b"\n")
                    summary.add(item)
                    if stats is not None and isinstance(item, fastio.Response):
                        stats.add(item)
    except asyncio.CancelledError:
        interrupted = True
    finally:
        with contextlib.suppress(OSError):
            plan.output.flush()
        if plan.output is not sys.stdout.buffer:
            with contextlib.suppress(OSError):
                plan.output.close()
    if not args.quiet or interrupted:
        print(summary.line(interrupted), file=sys.stderr)
    if stats is not None:
        print("\n".join(stats.lines()), file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if summary.failed else EXIT_OK


def write_record(output: IO[bytes], line: bytes) -> None:
    """Writes and flushes one record; a failure (a full disk) stops the run
    with an OutputError that says so. A closed pipe stays a BrokenPipeError."""
    try:
        output.write(line)
        output.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(f"cannot write the records: {error.strerror or error}") from error


def http_method(text: str) -> str:
    """An HTTP method: a token (RFC 9110), such as GET or PROPFIND."""
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", text):
        raise argparse.ArgumentTypeError(f"not an HTTP method: {text!r}")
    return text.upper()


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, not {value}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def per_host_limit(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):  # NaN too: no comparison holds
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


#: Every option's help shows its default.
FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_fetch_parser(commands: Any) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="fetch many URLs, writing one JSON line per URL as results complete",
        description=(
            "Fetches URLs (arguments, -i FILE, or -i - for stdin) concurrently and writes "
            "one JSON record per URL, as each completes, to stdout or -o FILE. "
            "Exit code: 0 all succeeded, 1 some failed, 2 bad usage, 74 the records "
            "could not be written (a full disk), 130 interrupted."
        ),
        formatter_class=FORMATTER,
    )
    fetch.add_argument("urls", nargs="*", metavar="URL", help="URLs to fetch, before -i's")
    fetch.add_argument(
        "-i", "--input", metavar="FILE", help="one URL per line (a file, pipe or FIFO); - for stdin"
    )
    fetch.add_argument("-o", "--output", metavar="FILE", help="append records here (JSONL)")
    fetch.add_argument(
        "-c",
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        help="requests in flight at most",
    )
    fetch.add_argument(
        "--per-host",
        type=per_host_limit,
        help="connections per host at most, or auto (each host's adapts to its answers)",
    )
    fetch.add_argument("--rate-limit", type=positive_float, help="requests per second per host")
    fetch.add_argument("--timeout", type=positive_float, default=30.0, help="seconds per attempt")
    fetch.add_argument(
        "--retries", type=non_negative_int, default=0, help="retries of a failed attempt"
    )
    fetch.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header; repeatable",
    )
    fetch.add_argument(
        "-X", "--method", type=http_method, help="HTTP method (default GET; POST with a body)"
    )
    body = fetch.add_mutually_exclusive_group()
    body.add_argument("--json", metavar="JSON", help="send this JSON as every request's body")
    body.add_argument("--data", metavar="TEXT", help="send this text as every request's body")
    fetch.add_argument(
        "--requests",
        metavar="FILE",
        help='one request per line, a JSON object: {"method", "url", "params", "headers", '
        '"json", "data", "content"}; - for stdin',
    )
    fetch.add_argument("--http2", action="store_true", help="HTTP/2 with prior knowledge")
    fetch.add_argument("--proxy", metavar="URL", help="http, https or socks5 proxy")
    fetch.add_argument(
        "--dns-server",
        action="append",
        metavar="IP[:PORT]",
        help="ask this DNS server instead of the system's (repeat for more)",
    )
    fetch.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    fetch.add_argument(
        "--max-body-size",
        type=non_negative_int,
        metavar="BYTES",
        help="largest body (decoded); by default 256 MiB",
    )
    fetch.add_argument(
        "--max-bytes-in-flight",
        type=positive_int,
        metavar="BYTES",
        help="most body bytes held at once by the responses being read; by default 1 GiB",
    )
    fetch.add_argument("--no-follow", action="store_true", help="do not follow redirects")
    fetch.add_argument(
        "--fail-status",
        action="store_true",
        help="a status of 400 or more is a failure (error_type HTTPStatusError)",
    )
    fetch.add_argument("--body", action="store_true", help="include each body (text or base64)")
    fetch.add_argument(
        "--save-dir",
        metavar="DIR",
        help="write each body to a file in DIR (named in the record's body_file)",
    )
    fetch.add_argument(
        "--resume", action="store_true", help="skip URLs already recorded in -o FILE"
    )
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    fetch.add_argument(
        "--stats",
        action="store_true",
        help="after the summary: percentiles of each phase's time, and the slowest hosts",
    )


def serve_command(args: argparse.Namespace) -> int:
    from fastio.testing.__main__ import main as serve_main

    try:
        serve_main(["--host", args.host, "--port", str(args.port)])
    except OSError as error:  # "cannot listen on ...": the port is taken, the host not ours
        print(f"fastio serve: {error}", file=sys.stderr)
        return EXIT_FAILURES
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="fastio", description="fastio: fast asyncio HTTP, run in Rust on tokio"
    )
    top.add_argument("--version", action="version", version=f"fastio {fastio.__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="fetch from an embedded local server and print the timings",
        formatter_class=FORMATTER,
    )
    demo.add_argument(
        "-n", "--requests", type=positive_int, default=20_000, help="requests to make"
    )
    demo.add_argument(
        "-c",
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        help="requests in flight at most",
    )
    demo.add_argument(
        "--compare", action="store_true", help="run the same work with aiohttp and httpx"
    )
    demo.add_argument(
        "--primitives", action="store_true", help="also time fastio.sleep and fastio.gather"
    )
    add_fetch_parser(commands)
    serve = commands.add_parser(
        "serve", help="run the embedded test server until Ctrl-C", formatter_class=FORMATTER
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=port_number, default=0, help="0 picks a free port")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        if args.command == "demo":
            from fastio import demo

            code = demo.main(args)
        elif args.command == "serve":
            code = serve_command(args)
        else:
            code = asyncio.run(fetch_command(plan_fetch(args, sys.stdout.buffer)))
    except UsageError as error:
        print(f"fastio {args.command}: {error}", file=sys.stderr)
        code = EXIT_USAGE
    except OutputError as error:
        print(f"fastio {args.command}: {error}", file=sys.stderr)
        code = EXIT_OUTPUT
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`fastio fetch ... | head -1`): stop quietly,
        # as other Unix tools do, with the status SIGPIPE would give.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    sys.exit(code)
