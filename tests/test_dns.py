"""Name resolution by fastio's own resolver, against the project's DNS
server on 127.0.0.1 (fastio.testing.serve_dns: `.test` names are
127.0.0.1, others do not exist, `servfail.test` fails): each name asked
once while its TTL lasts, one query for concurrent lookups, a missing name
told apart from a DNS server that fails, and `resolve=` still first."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import fastio
import fastio.testing
from fastio._fastio import Server
from fastio.testing import DnsServer


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with fastio.testing.serve_dns(latency=0.05, ttl=300) as running:
        yield running


async def test_each_name_is_asked_once_while_its_ttl_lasts(server: Server, dns: DnsServer) -> None:
    async with fastio.Client(dns_servers=[dns.address]) as client:
        urls = [f"http://host{number % 10}.test:{server.port}/json" for number in range(200)]
        # 200 requests at once: 20 share each name's one query.
        responses = await asyncio.gather(*(client.get(url) for url in urls))
        assert {response.status for response in responses} == {200}
        assert dns.queries == 10
        assert all(dns.queries_for(f"host{number}.test") == 1 for number in range(10))
        # Answered from the cache; fetch_all on the same client too.
        results = await client.fetch_all(urls, concurrency=50)
        assert len(results) == 200
    assert dns.queries == 10


async def test_one_query_for_lookups_made_while_it_is_asked(server: Server) -> None:
    # Slow, yet under the 333 ms after which the resolver sends a UDP
    # query again (as a lost datagram would need).
    with fastio.testing.serve_dns(latency=0.2) as slow:
        async with fastio.Client(dns_servers=[slow.address]) as client:
            url = f"http://one.test:{server.port}/json"
            tasks = [asyncio.ensure_future(client.get(url)) for _ in range(50)]
            # A caller that gives up does not stop the query for the others.
            tasks[0].cancel()
            done = await asyncio.gather(*tasks[1:])
            assert {response.status for response in done} == {200}
        assert slow.queries_for("one.test") == 1


async def test_a_name_is_asked_again_when_its_ttl_ends(server: Server) -> None:
    with fastio.testing.serve_dns(ttl=1) as short:
        async with fastio.Client(dns_servers=[short.address]) as client:
            url = f"http://brief.test:{server.port}/json"
            assert (await client.get(url)).status == 200
            assert (await client.get(url)).status == 200
            assert short.queries_for("brief.test") == 1
            await asyncio.sleep(1.5)
            # A connection kept alive is not a lookup: ask through a new one.
            async with fastio.Client(dns_servers=[short.address]) as other:
                assert (await other.get(url)).status == 200
        assert short.queries_for("brief.test") == 2


async def test_a_missing_name_is_name_not_found_and_remembered(dns: DnsServer) -> None:
    async with fastio.Client(dns_servers=[dns.address], retries=3) as client:
        started = time.monotonic()
        with pytest.raises(fastio.NameNotFound) as missing:
            await client.get("http://nowhere.example/")
        asked = dns.queries_for("nowhere.example")
        assert 1 <= asked <= 2  # A, then AAAA
        # Not retried (the name will not appear), and answered from the
        # cache next time: no more queries.
        with pytest.raises(fastio.NameNotFound):
            await client.get("http://nowhere.example/other")
        assert dns.queries_for("nowhere.example") == asked
        assert time.monotonic() - started < 5
    error = missing.value
    assert isinstance(error, fastio.DNSError)
    assert isinstance(error, fastio.ConnectError)
    assert "name not found: nowhere.example" in str(error)
    assert error.url == "http://nowhere.example/"


async def test_a_failing_dns_server_is_a_dns_error_not_a_missing_name(
    dns: DnsServer,
) -> None:
    async with fastio.Client(dns_servers=[dns.address]) as client:
        with pytest.raises(fastio.DNSError) as failed:
            await client.get("http://servfail.test/")
    assert not isinstance(failed.value, fastio.NameNotFound)
    assert "servfail.test failed" in str(failed.value)


async def test_a_dns_server_that_never_answers_is_a_dns_error_in_bounded_time() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        async with fastio.Client(dns_servers=[address]) as client:
            started = time.monotonic()
            with pytest.raises(fastio.DNSError) as failed:
                await client.get("http://quiet.test/")
            assert time.monotonic() - started < 8
    assert not isinstance(failed.value, fastio.NameNotFound)
    assert "no answer within" in str(failed.value)


async def test_resolve_overrides_are_asked_first(server: Server, dns: DnsServer) -> None:
    async with fastio.Client(
        dns_servers=[dns.address], resolve={"pinned.example": "127.0.0.1"}
    ) as client:
        response = await client.get(f"http://pinned.example:{server.port}/json")
    assert response.status == 200
    assert dns.queries == 0


@pytest.mark.parametrize(
    ("servers", "error", "message"),
    [
        ("127.0.0.1:53", TypeError, "list of addresses"),
        ([], ValueError, "empty"),
        (["dns.example"], ValueError, "not an IP address"),
        (["127.0.0.1:99999"], ValueError, "not an IP address"),
        ([53], TypeError, "as str"),
    ],
)
def test_bad_dns_servers_are_refused(servers: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        fastio.Client(dns_servers=servers)  # type: ignore[arg-type]


def test_the_cli_asks_the_given_dns_server_and_records_a_missing_name(
    server: Server, dns: DnsServer
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastio",
            "fetch",
            "--dns-server",
            dns.address,
            f"http://cli.test:{server.port}/json",
            "http://missing.example/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    by_url = {record["url"]: record for record in map(json.loads, done.stdout.splitlines())}
    assert by_url[f"http://cli.test:{server.port}/json"]["status"] == 200
    assert by_url["http://missing.example/"]["error_type"] == "NameNotFound"
    assert dns.queries_for("cli.test") == 1
    assert done.returncode == 1


async def test_a_crawl_looks_names_up_ahead_of_their_requests(server: Server) -> None:
    """fetch_all asks the names of the requests waiting for their turn while
    earlier ones run: one request at a time, a name's query goes out while
    the request before it still waits for its own answer (without looking
    ahead, a query only ever follows the previous request)."""
    with fastio.testing.serve_dns(latency=0.3) as slow:
        async with fastio.Client(dns_servers=[slow.address]) as client:
            urls = [f"http://h{number}.test:{server.port}/bytes/{number}" for number in range(6)]
            results = await client.fetch_all(urls, concurrency=1)
        assert [len(response.content) for response in results] == list(range(6))
        assert slow.queries == 6  # the request's own lookup joins the one asked ahead
        # Lookups start in pairs once the client is built: a request's own
        # (its name not asked ahead) and the next one's, 0.3 s before that
        # request reaches the server.
        ahead = [
            slow.query_times(f"h{number + 1}.test")[0] + 0.1
            < server.request_times(f"/bytes/{number}")[0]
            for number in range(1, 5)
        ]
    assert any(ahead), ahead
