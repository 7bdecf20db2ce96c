"""Every Response carries where its time went (fastio.Timings): the phases
of the connection it opened, the wait for its head, whether the connection
was reused, the peer, the attempts; the CLI records them and sums them up
with --stats. Against the test server, its DNS server, and hypercorn over
TLS."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
from conftest import Certificates, free_port

import fastio
import fastio.testing
from fastio._fastio import Server


async def test_a_new_connection_shows_its_phases_and_a_reused_one_none(
    server: Server,
) -> None:
    with fastio.testing.serve_dns(latency=0.05) as dns:
        async with fastio.Client(dns_servers=[dns.address]) as client:
            first = await client.get(f"http://timed.test:{server.port}/json")
            again = await client.get(f"http://timed.test:{server.port}/json")
    timings = first.timings
    assert timings is not None
    assert timings.dns is not None
    assert timings.dns >= 0.04
    assert timings.connect is not None
    assert timings.connect < 5
    assert timings.tls is None  # plain HTTP
    assert timings.reused is False
    assert timings.peer == f"127.0.0.1:{server.port}"
    assert timings.attempts == 1
    assert timings.first_byte is not None
    assert timings.dns + timings.connect <= timings.first_byte <= timings.total
    assert timings.total == first.elapsed
    reused = again.timings
    assert reused is not None
    assert reused.reused is True
    assert (reused.dns, reused.connect, reused.tls) == (None, None, None)
    assert reused.peer == f"127.0.0.1:{server.port}"
    assert set(reused.as_dict()) == {
        "dns",
        "connect",
        "tls",
        "first_byte",
        "total",
        "reused",
        "peer",
        "attempts",
    }
    assert "reused=True" in repr(reused)


async def test_an_address_needs_no_lookup_and_tls_is_timed(
    server: Server, h2_server: str, certificates: Certificates
) -> None:
    async with fastio.Client() as client:
        plain = (await client.get(server.url + "/json")).timings
    assert plain is not None
    assert plain.dns is None
    assert plain.connect is not None
    async with fastio.Client(ca_bundle=certificates.ca) as client:
        secured = (await client.get(h2_server)).timings
    assert secured is not None
    assert secured.tls is not None
    assert secured.tls > 0
    assert secured.connect is not None


async def test_retries_count_in_attempts(server: Server) -> None:
    async with fastio.Client(retries=3, retry_backoff=0.01) as client:
        response = await client.get(server.url + "/flaky/timings?fail=2&status=503")
    assert response.status == 200
    assert response.timings is not None
    assert response.timings.attempts == 3


async def test_every_shape_of_response_has_timings(server: Server) -> None:
    async with fastio.Client() as client:
        results = await client.fetch_all([server.url + f"/bytes/{n}" for n in range(20)])
        async with client.stream("GET", server.url + "/bytes/1000") as streamed:
            await streamed.aread()
    assert all(response.timings is not None for response in results)
    assert streamed.timings is not None
    assert streamed.timings.first_byte is not None
    assert streamed.timings.first_byte > 0
    assert fastio.Response(200, content=b"by hand").timings is None


async def test_a_failure_carries_the_phases_its_connect_reached(server: Server) -> None:
    with fastio.testing.serve_dns(latency=0.05) as dns:
        async with fastio.Client(
            dns_servers=[dns.address], timeout=fastio.Timeout(read=0.3)
        ) as client:
            # The head never comes: the connection's phases, no first byte.
            with pytest.raises(fastio.ReadTimeout) as slow:
                await client.get(f"http://slow.test:{server.port}/delay/3")
            # The name is not found: the lookup's time, no connect.
            with pytest.raises(fastio.NameNotFound) as missing:
                await client.get("http://nowhere.example/")
    timings = slow.value.timings
    assert timings is not None
    assert timings.dns is not None
    assert timings.dns >= 0.04
    assert timings.connect is not None
    assert timings.first_byte is None
    assert 0.25 <= timings.total < 5
    assert timings.peer == f"127.0.0.1:{server.port}"
    assert (timings.reused, timings.attempts) == (False, 1)
    assert "first_byte" not in repr(timings)
    assert timings.as_dict()["first_byte"] is None
    not_found = missing.value.timings
    assert not_found is not None
    assert not_found.dns is not None
    assert (not_found.connect, not_found.peer, not_found.first_byte) == (None, None, None)


async def test_a_failure_while_reading_the_body_has_its_first_byte(server: Server) -> None:
    async with fastio.Client(timeout=fastio.Timeout(read=0.3)) as client:
        with pytest.raises(fastio.ReadTimeout) as stalled:
            await client.get(server.url + "/stream/2?every=2")
    timings = stalled.value.timings
    assert timings is not None
    # The head came: its wait, and the phases of the connection it opened.
    assert timings.first_byte is not None
    assert timings.total >= timings.first_byte
    assert timings.total >= 0.25
    assert timings.connect is not None
    assert timings.reused is False
    assert timings.peer == f"127.0.0.1:{server.port}"


async def test_a_refused_request_counts_its_attempts_and_pickles_without_timings(
    closed_port: int,
) -> None:
    async with fastio.Client(retries=2, retry_backoff=0.01) as client:
        with pytest.raises(fastio.ConnectError) as refused:
            await client.get(f"http://127.0.0.1:{closed_port}/")
    timings = refused.value.timings
    assert timings is not None
    assert timings.attempts == 3
    assert timings.dns is None  # an address
    assert timings.connect is not None
    assert timings.reused is False
    again = pickle.loads(pickle.dumps(refused.value))
    assert again.timings is None
    assert str(again) == str(refused.value)
    assert fastio.FastioError("made by hand").timings is None


def test_the_cli_records_timings_and_sums_them_up(server: Server) -> None:
    urls = [server.url + f"/bytes/{n}" for n in range(10)] + [server.url + "/delay/0.3"]
    refused = f"http://127.0.0.1:{free_port()}/"
    done = subprocess.run(
        [sys.executable, "-m", "fastio", "fetch", "--stats", "-c", "2", *urls, refused],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    failed = next(record for record in records if record["url"] == refused)
    assert failed["error_type"] == "ConnectError"
    assert failed["timings"]["first_byte"] is None
    assert failed["timings"]["connect"] is not None
    records.remove(failed)
    assert all(record["timings"]["first_byte"] > 0 for record in records)
    slow = next(record for record in records if record["url"].endswith("/delay/0.3"))
    assert slow["timings"]["first_byte"] >= 0.25
    assert "first_byte" in done.stderr
    assert "p50 / p90 / p99 / max" in done.stderr
    assert "slowest hosts" in done.stderr
