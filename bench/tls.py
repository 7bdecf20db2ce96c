"""TLS benchmarks, fastio against its peers in the same run: a crawl over
many hosts, and an API over HTTP/2.

nginx (1 worker) serves 127.0.0.1 over TLS with a trustme certificate for
``*.bench.test``, offering HTTP/2 by ALPN; every client trusts that CA and
maps the host names to 127.0.0.1 itself (no DNS lookup leaves the machine).

- crawl: 10,000 GETs over 1,000 host names (10 each, in a shuffled order),
  concurrency 200, at most 4 connections per host where the client has such
  a cap; nginx logs each request's connection, so a run's TLS handshakes
  are counted. The pure Rust crawler runs it again under each TLS client
  configuration (certificate verifier, crypto provider), to choose by.
- api: 20,000 GETs to one host at 256 concurrent requests, over HTTP/2
  where the client speaks it (aiohttp does not).
- httpx: the same GETs from 64 and from 1,000 tasks through an
  ``httpx.AsyncClient`` over fastio's transport and over pyreqwest's,
  beside httpx's own, pyreqwest and ``fastio.Client``.

Each case runs every client in a fresh process, in rounds; pure Rust reqwest
(``bench/reqwest_ceiling``'s ``reqwest-crawl``, a tokio task per request) is
the ceiling.

    python bench/tls.py [--quick] [--rounds N] [--markdown FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

# The neighbours first; then bench/ leaves the import path, where
# bench/http.py would shadow the standard library's `http`.
import machine
import runs
from nginx import start_nginx_tls
from runs import cpu_per_request, cpu_ratio, in_rounds, raise_file_limit, rate, ratio

sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

import argparse
import asyncio
import datetime
import json
import random
import socket
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

CRAWL = runs.ROOT / "target" / "ceiling" / "release" / "reqwest-crawl"
HOSTS = 1000
PER_HOST_REQUESTS = 10
CRAWL_CONCURRENCY = 200
PER_HOST = 4
API_CONCURRENCY = 256


def crawl_urls(port: int, hosts: int) -> list[str]:
    """Ten GETs to each of `hosts` names, shuffled the same way every run."""
    urls = [
        f"https://h{host}.bench.test:{port}/small"
        for host in range(hosts)
        for _ in range(PER_HOST_REQUESTS)
    ]
    random.Random(1).shuffle(urls)
    return urls


def host_names(urls: list[str]) -> list[str]:
    return sorted({url.split("/")[2].split(":")[0] for url in urls})


# --- the clients: each GETs every URL, at most `concurrency` at once, and
# returns (body bytes, the HTTP version of the last response) -------------------

Client = Callable[[list[str], int, Path, bool], Awaitable[tuple[int, str]]]


def fastio_client(urls: list[str], concurrency: int, ca: Path, h2: bool) -> Any:
    """The fastio Client both fastio clients use."""
    import fastio

    return fastio.Client(
        ca_bundle=ca,
        resolve=dict.fromkeys(host_names(urls), "127.0.0.1"),
        max_connections=concurrency,
        per_host=None if h2 else PER_HOST,
    )


async def fastio_fetch_all(
    urls: list[str], concurrency: int, ca: Path, h2: bool
) -> tuple[int, str]:
    async with fastio_client(urls, concurrency, ca, h2) as client:
        responses = await client.fetch_all(urls, concurrency=concurrency)
    return sum(len(response.content) for response in responses), responses[-1].http_version


async def fastio_tasks(urls: list[str], concurrency: int, ca: Path, h2: bool) -> tuple[int, str]:
    async with fastio_client(urls, concurrency, ca, h2) as client:
        return await gets(urls, concurrency, client.get)


class _LoopbackResolver:
    """aiohttp's resolver interface: every name is 127.0.0.1."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


async def aiohttp_client(urls: list[str], concurrency: int, ca: Path, h2: bool) -> tuple[int, str]:
    import aiohttp

    connector = aiohttp.TCPConnector(
        limit=concurrency,
        limit_per_host=0 if h2 else PER_HOST,
        resolver=_LoopbackResolver(),  # type: ignore[arg-type]
        ssl=ssl.create_default_context(cafile=str(ca)),
    )
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> int:
            async with session.get(url) as response:
                return len(await response.read())

        return await workers(urls, concurrency, one), "HTTP/1.1"


async def httpx_client(urls: list[str], concurrency: int, ca: Path, h2: bool) -> tuple[int, str]:
    import httpcore
    import httpx

    class Loopback(httpcore.AsyncNetworkBackend):
        """Connects every host name to 127.0.0.1 (httpx has no resolve map)."""

        def __init__(self) -> None:
            self.inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            return await self.inner.connect_tcp("127.0.0.1", port, *args, **kwargs)

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = httpx.AsyncHTTPTransport(
        verify=ssl.create_default_context(cafile=str(ca)), http2=h2, limits=limits
    )
    transport._pool._network_backend = Loopback()
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:
        return await gets(urls, concurrency, client.get)


def pyreqwest_builder(urls: list[str], concurrency: int, ca: Path, h2: bool) -> Any:
    """A pyreqwest client builder trusting `ca`, mapping the names to 127.0.0.1."""
    from pyreqwest.client import ClientBuilder

    builder = ClientBuilder().add_root_certificate_pem(ca.read_bytes()).max_connections(concurrency)
    port = int(urls[0].split(":")[2].split("/")[0])
    for host in host_names(urls):
        builder = builder.resolve(host, "127.0.0.1", port)
    return builder.http2(True) if h2 else builder


async def pyreqwest_client(
    urls: list[str], concurrency: int, ca: Path, h2: bool
) -> tuple[int, str]:
    async with pyreqwest_builder(urls, concurrency, ca, h2).build() as client:

        async def one(url: str) -> int:
            response = await client.get(url).build().send()
            return len(await response.bytes())

        return await workers(urls, concurrency, one), "HTTP/2" if h2 else "HTTP/1.1"


async def httpx_over_fastio(
    urls: list[str], concurrency: int, ca: Path, h2: bool
) -> tuple[int, str]:
    """httpx over fastio's transport (fastio.httpx)."""
    import httpx

    from fastio.httpx import AsyncHTTPTransport

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = AsyncHTTPTransport(
        verify=str(ca),
        http2=h2,
        limits=limits,
        resolve=dict.fromkeys(host_names(urls), "127.0.0.1"),
        per_host=None if h2 else PER_HOST,
    )
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:
        return await gets(urls, concurrency, client.get)


async def httpx_over_pyreqwest(
    urls: list[str], concurrency: int, ca: Path, h2: bool
) -> tuple[int, str]:
    """httpx over pyreqwest's transport."""
    import httpx
    from pyreqwest.compatibility.httpx import HttpxTransport

    transport = HttpxTransport(pyreqwest_builder(urls, concurrency, ca, h2).build())
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:
        return await gets(urls, concurrency, client.get)


async def gets(
    urls: list[str], concurrency: int, get: Callable[[str], Awaitable[Any]]
) -> tuple[int, str]:
    """`workers` awaiting `get(url)` for responses with `content` and
    `http_version` (fastio's and httpx's): body bytes, the last version."""
    version = ""

    async def one(url: str) -> int:
        nonlocal version
        response = await get(url)
        version = response.http_version
        return len(response.content)

    return await workers(urls, concurrency, one), version


async def workers(urls: list[str], concurrency: int, one: Callable[[str], Awaitable[int]]) -> int:
    """`concurrency` asyncio tasks taking URLs from one list, as users write it."""
    pending = iter(urls)
    total = 0

    async def worker() -> None:
        nonlocal total
        for url in pending:
            size = await one(url)
            total += size

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


CLIENTS: dict[str, Client] = {
    "fastio fetch_all": fastio_fetch_all,
    "fastio Client.get from tasks": fastio_tasks,
    "aiohttp": aiohttp_client,
    "aiohttp + uvloop": aiohttp_client,
    "httpx": httpx_client,
    "pyreqwest": pyreqwest_client,
    "fastio transport under httpx": httpx_over_fastio,
    "pyreqwest transport under httpx": httpx_over_pyreqwest,
}


def run_client(name: str, urls_file: Path, concurrency: int, ca: Path, h2: bool) -> dict[str, Any]:
    """Runs in the child process: one client, one case."""
    raise_file_limit()
    urls = urls_file.read_text().split()
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if name.endswith("uvloop"):
        import uvloop

        factory = uvloop.new_event_loop
    client = CLIENTS[name]

    async def main() -> dict[str, Any]:
        cpu_started = time.process_time()
        started = time.perf_counter()
        total, version = await client(urls, concurrency, ca, h2)
        return {
            "s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
            "bytes": total,
            "version": version,
        }

    with asyncio.Runner(loop_factory=factory) as runner:
        import resource

        measured = runner.run(main())
    measured["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return measured


# --- the run ---------------------------------------------------------------------------


class Case:
    """One table: its URLs, concurrency, and where handshakes are counted."""

    def __init__(
        self,
        title: str,
        urls: list[str],
        concurrency: int,
        h2: bool,
        log: Path | None,
        clients: list[str] | None = None,
    ) -> None:
        self.title, self.urls, self.concurrency = title, urls, concurrency
        self.h2, self.log = h2, log
        self.clients = clients or list(CLIENTS)

    def child(self, name: str, urls_file: Path, ca: Path) -> runs.Run:
        command = [
            sys.executable,
            __file__,
            "--client",
            name,
            "--urls",
            str(urls_file),
            "--concurrency",
            str(self.concurrency),
            "--ca",
            str(ca),
        ] + (["--h2"] if self.h2 else [])
        return self.counted(lambda: runs.child_run(command))

    def ceiling(self, ca: Path, port: int, tls: str = "reqwest") -> runs.Run:
        runs.build_ceiling()
        per_host = self.concurrency if self.h2 else PER_HOST
        command = [
            str(CRAWL),
            str(ca),
            f"127.0.0.1:{port}",
            str(self.concurrency),
            str(per_host),
            tls,
        ]
        text = "\n".join(self.urls)
        return self.counted(lambda: runs.measured_process(command, stdin=text))

    def counted(self, run: runs.Run) -> runs.Run:
        """`run`, adding the connections nginx saw during it as "handshakes"."""

        def counting() -> dict[str, Any]:
            start = self.log.stat().st_size if self.log and self.log.exists() else 0
            measured = run()
            if self.log is not None and "error" not in measured:
                with self.log.open() as log:
                    log.seek(start)
                    measured["handshakes"] = len(set(log.read().split()))
            return measured

        return counting


def rows(case: Case, results: dict[str, dict[str, Any]], rust_name: str) -> list[str]:
    count = len(case.urls)
    rust = results[rust_name]
    rust_rate = rate(rust, count)
    pyreqwest_rate = rate(results["pyreqwest"], count)
    httpx_rate = rate(results["httpx"], count)
    handshakes = case.log is not None
    head = "| client | protocol | req/s | CPU µs/req |"
    head += " handshakes | handshakes/s |" if handshakes else ""
    head += " × pure Rust | × pure Rust CPU | × pyreqwest | × httpx | peak RSS |"
    lines = [case.title, "", head, "|" + "---|" * (head.count("|") - 1)]
    for name, measured in results.items():
        if "error" in measured:
            lines.append(f"| {name} | failed: {measured['error']} |")
            continue
        req_rate = rate(measured, count)
        row = f"| {name} | {measured.get('version', '')} | {req_rate:,.0f} | "
        row += f"{cpu_per_request(measured, count)} |"
        if handshakes:
            made = measured.get("handshakes", 0)
            row += f" {made:,} | {made / measured['s']:,.0f} |"
        row += (
            f" {ratio(req_rate, rust_rate)} | {cpu_ratio(measured, count, rust, count)} | "
            f"{ratio(req_rate, pyreqwest_rate)} | {ratio(req_rate, httpx_rate)} | "
            f"{measured.get('rss_mib', 0):.0f} MiB |"
        )
        lines.append(row)
    lines.append("")
    return lines


# The TLS client configurations compared in the crawl (reqwest-crawl's TLS
# argument): fastio has the first.
TLS_CONFIGURATIONS = {
    "reqwest's own (rustls-platform-verifier, aws-lc-rs): fastio's": "reqwest",
    "rustls-platform-verifier, aws-lc-rs, built by hand": "platform-aws-lc-rs",
    "rustls-platform-verifier, ring": "platform-ring",
    "webpki, the CA alone as root, aws-lc-rs": "webpki-aws-lc-rs",
    "webpki, the CA alone as root, ring": "webpki-ring",
}


def tls_rows(case: Case, ca: Path, port: int) -> list[str]:
    """The crawl from pure Rust under each TLS client configuration."""
    results = in_rounds(
        {name: case.ceiling(ca, port, tls) for name, tls in TLS_CONFIGURATIONS.items()}
    )
    count = len(case.urls)
    first = next(iter(results.values()))
    head = "| TLS configuration | req/s | CPU µs/req | handshakes/s | × the first | × its CPU |"
    lines = [
        "**The crawl from pure Rust reqwest under each TLS client configuration** (every "
        "handshake is a full one: each host is visited over one HTTP/2 connection)",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for name, measured in results.items():
        if "error" in measured:
            lines.append(f"| {name} | failed: {measured['error']} |")
            continue
        req_rate = rate(measured, count)
        made = measured.get("handshakes", 0)
        lines.append(
            f"| {name} | {req_rate:,.0f} | {cpu_per_request(measured, count)} | "
            f"{made / measured['s']:,.0f} | {ratio(req_rate, rate(first, count))} | "
            f"{cpu_ratio(measured, count, first, count)} |"
        )
    lines.append("")
    return lines


def run_all(quick: bool) -> list[str]:
    import trustme

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        authority = trustme.CA()
        certificate = authority.issue_cert("*.bench.test", "bench.test")
        ca, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
        authority.cert_pem.write_to_path(str(ca))
        certificate.cert_chain_pems[0].write_to_path(str(cert))
        for pem in certificate.cert_chain_pems[1:]:
            pem.write_to_path(str(cert), append=True)
        certificate.private_key_pem.write_to_path(str(key))
        server, crawl_port, api_port, log = start_nginx_tls(folder, cert, key)
        try:
            hosts = 100 if quick else HOSTS
            api_count = 2_000 if quick else 20_000
            cases = [
                Case(
                    f"**Crawl: {hosts * PER_HOST_REQUESTS:,} HTTPS GETs over {hosts:,} host "
                    f"names, concurrency {CRAWL_CONCURRENCY}, at most {PER_HOST} connections "
                    "per host** (pyreqwest and httpx have no per-host cap)",
                    crawl_urls(crawl_port, hosts),
                    CRAWL_CONCURRENCY,
                    False,
                    log,
                ),
                Case(
                    f"**API: {api_count:,} GETs to one host over TLS, {API_CONCURRENCY} at once, "
                    "HTTP/2 where the client speaks it** (aiohttp has no HTTP/2)",
                    [f"https://api.bench.test:{api_port}/small"] * api_count,
                    API_CONCURRENCY,
                    True,
                    None,
                ),
                *(
                    Case(
                        f"**httpx over HTTP/2 and TLS: {api_count:,} GETs to one host from "
                        f"{tasks:,} tasks**, over fastio's transport and pyreqwest's, beside "
                        "httpx's own, pyreqwest and fastio.Client",
                        [f"https://api.bench.test:{api_port}/small"] * api_count,
                        tasks,
                        True,
                        None,
                        [
                            "fastio Client.get from tasks",
                            "fastio transport under httpx",
                            "pyreqwest transport under httpx",
                            "httpx",
                            "pyreqwest",
                        ],
                    )
                    for tasks in (64, 1000)
                ),
            ]
            rust_name = "pure Rust reqwest (a task per request)"
            for case, port in zip(cases, (crawl_port, api_port, api_port, api_port), strict=True):
                urls_file = folder / "urls.txt"
                urls_file.write_text("\n".join(case.urls))
                results = in_rounds(
                    {
                        rust_name: case.ceiling(ca, port),
                        **{name: case.child(name, urls_file, ca) for name in case.clients},
                    }
                )
                lines += rows(case, results, rust_name)
                if not case.h2:
                    lines += tls_rows(case, ca, port)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client")
    parser.add_argument("--urls", type=Path)
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--ca", type=Path)
    parser.add_argument("--h2", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case")
    args = parser.parse_args()
    if args.client:
        measured = run_client(args.client, args.urls, args.concurrency, args.ca, args.h2)
        print(json.dumps(measured))
        return
    runs.ROUNDS = max(1, args.rounds)
    raise_file_limit()
    lines = run_all(args.quick)
    header = [
        f"Measured {datetime.date.today().isoformat()} on {machine.machine_line()}; nginx 1 "
        "worker over TLS 1.2 (trustme CA; this nginx offers no 1.3) on 127.0.0.1, 12-byte body; "
        f"{runs.ROUNDS} rounds, each running every client once in a fresh process (httpx only "
        "in the first); the fastest run shown; CPU µs/req: the median run's process CPU time, "
        "every thread, per request. Handshakes: the connections nginx saw during the run.",
        "",
    ]
    runs.publish(header + lines, args.markdown)


if __name__ == "__main__":
    main()
