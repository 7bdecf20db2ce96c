"""Safe defaults and one timeout model: bounded pools, recovery when the
process runs out of descriptors, and ``fastio.Timeout`` with the same
meaning everywhere (a number is time on the wire, queueing excluded)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import fastio
import fastio.testing
from fastio.testing import Server


async def busiest(server: Server, work: asyncio.Future[Any]) -> int:
    """The most connections the server saw open at once while ``work`` ran."""
    most = 0
    while not work.done():
        most = max(most, server.open_connections)
        await asyncio.sleep(0.01)
    await work
    return most


# --- bounded by default ----------------------------------------------------------


async def test_a_plain_client_opens_at_most_100_connections(server: Server) -> None:
    async with fastio.Client() as client:
        url = server.url + "/delay/0.3"
        work = asyncio.gather(*(client.get(url) for _ in range(150)))
        assert await busiest(server, work) <= 100
        assert all(response.status == 200 for response in work.result())
        # Idle keep-alive connections are capped too.
        assert server.open_connections <= 100
    assert "max_connections=100" in repr(fastio.Client())


async def test_module_level_fetch_is_bounded_too(server: Server) -> None:
    url = server.url + "/delay/0.3"
    work = asyncio.gather(*(fastio.fetch(url) for _ in range(150)))
    assert await busiest(server, work) <= 100


async def test_no_cap_when_asked(server: Server) -> None:
    async with fastio.Client(max_connections=None) as client:
        url = server.url + "/delay/0.3"
        work = asyncio.gather(*(client.get(url) for _ in range(150)))
        assert await busiest(server, work) > 100


def test_running_out_of_descriptors_is_named_and_recovered_from(server: Server) -> None:
    """Under a descriptor limit of 64, 200 uncapped requests at once: the
    ones that cannot connect say why, the pool lets go of its idle
    connections at once, and the next requests succeed."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, resource
        import fastio

        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        async def main():
            async with fastio.Client(max_connections=None) as client:
                results = await client.fetch_all(
                    ["{server.url}/delay/0.3"] * 200, concurrency=200, return_exceptions=True
                )
                failed = [r for r in results if isinstance(r, fastio.FastioError)]
                assert failed, "the limit was never reached"
                assert all("file descriptor" in str(error) for error in failed), failed[0]
                assert all(isinstance(error, fastio.ConnectError) for error in failed)
                # The pool gave back its idle connections at once: the
                # process can open files again (not only after 15 s).
                await asyncio.sleep(0.2)
                held = len(os.listdir("/proc/self/fd"))
                files = [open(os.devnull) for _ in range(64 - held - 4)]
                for file in files:
                    file.close()
                # Recovered: the next requests run.
                again = await client.fetch_all(["{server.url}/json"] * 20, concurrency=20)
                assert all(response.status == 200 for response in again)
            print("ok", len(failed), held)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


# --- one timeout model ---------------------------------------------------------


def test_timeout_objects_are_values() -> None:
    timeout = fastio.Timeout(10, connect=5, pool=None)
    assert (timeout.total, timeout.connect, timeout.read, timeout.pool) == (10.0, 5.0, ..., None)
    assert timeout == fastio.Timeout(10.0, connect=5, pool=None)
    assert timeout != fastio.Timeout(10)
    assert hash(timeout) == hash(fastio.Timeout(10.0, connect=5, pool=None))
    assert repr(timeout) == "Timeout(total=10.0, connect=5.0, pool=None)"
    with pytest.raises(ValueError, match="positive number"):
        fastio.Timeout(connect=-1)
    with pytest.raises(TypeError):
        fastio.Timeout(read="5")  # type: ignore[arg-type]


async def test_the_total_excludes_waiting_for_a_slot(server: Server) -> None:
    async with fastio.Client(max_connections=1) as client:
        holder = asyncio.ensure_future(client.get(server.url + "/delay/0.6"))
        await asyncio.sleep(0.05)
        # Queued ~0.55 s behind the holder, then 0 s on the wire: in time.
        response = await client.get(server.url + "/json", timeout=0.3)
        assert response.status == 200
        await holder


async def test_the_total_excludes_waiting_in_fetch_all_too(server: Server) -> None:
    async with fastio.Client(max_connections=2) as client:
        urls = [server.url + "/delay/0.2"] * 6
        responses = await client.fetch_all(urls, concurrency=6, timeout=0.5)
        assert [response.status for response in responses] == [200] * 6


async def test_pool_bounds_the_wait_and_says_so(server: Server) -> None:
    async with fastio.Client(max_connections=1) as client:
        holder = asyncio.ensure_future(client.get(server.url + "/delay/2"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(
            fastio.PoolTimeout, match=r"no connection slot became free within 0\.2 s"
        ):
            await client.get(server.url + "/json", timeout=fastio.Timeout(5, pool=0.2))
        assert time.monotonic() - started < 1.5
        holder.cancel()


async def test_a_client_timeout_object_sets_every_part(
    server: Server, unanswered_port: int
) -> None:
    limits = fastio.Timeout(5, connect=0.3, read=0.3, pool=0.2)
    async with fastio.Client(timeout=limits, max_connections=1) as client:
        started = time.monotonic()
        with pytest.raises(fastio.TimeoutError):
            await client.get(f"http://127.0.0.1:{unanswered_port}/")
        with pytest.raises(fastio.TimeoutError):
            await client.get(server.url + "/delay/10")
        assert time.monotonic() - started < 3
    with pytest.raises(ValueError, match="not both"):
        fastio.Client(timeout=fastio.Timeout(connect=1), connect_timeout=2)


async def test_a_request_sets_its_own_connect_and_read_timeouts(
    server: Server, unanswered_port: int
) -> None:
    """As httpx: a request's Timeout(connect=, read=) replaces the client's
    for that request (a connection it opens; each wait between reads)."""
    async with fastio.Client(timeout=fastio.Timeout(30, connect=20, read=20)) as client:
        started = time.monotonic()
        with pytest.raises(fastio.ConnectTimeout, match="timed out"):
            await client.get(
                f"http://127.0.0.1:{unanswered_port}/", timeout=fastio.Timeout(connect=0.3)
            )
        assert time.monotonic() - started < 5
        started = time.monotonic()
        with pytest.raises(fastio.ReadTimeout, match="read timeout"):
            await client.get(server.url + "/delay/10", timeout=fastio.Timeout(read=0.3))
        [late] = await client.fetch_all(
            [server.url + "/delay/10"], timeout=fastio.Timeout(read=0.3), return_exceptions=True
        )
        assert isinstance(late, fastio.ReadTimeout)
        assert time.monotonic() - started < 5
        # The client's own limits still hold for the next request.
        assert (await client.get(server.url + "/delay/1")).status == 200
    async with fastio.Client(timeout=fastio.Timeout(connect=0.3, read=0.3)) as tight:
        assert (
            await tight.get(server.url + "/delay/1", timeout=fastio.Timeout(read=5))
        ).status == 200


async def endless() -> AsyncIterator[bytes]:
    while True:
        yield b"x" * (1 << 20)


#: More than the kernel's socket buffers and hyper's write buffer hold.
LARGE = b"x" * (64 << 20)

#: Every kind of body, each large enough to stall at a server that never reads.
BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "bytes": lambda: {"content": LARGE},
    "str": lambda: {"content": LARGE.decode()},
    "json": lambda: {"json": {"blob": LARGE.decode()}},
    "data": lambda: {"data": {"blob": LARGE.decode()}},
    "files": lambda: {"files": {"upload": ("big.bin", LARGE)}},
    "stream": lambda: {"content": endless()},
}


@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize("http2", [False, True])
async def test_write_bounds_every_body_on_every_protocol(
    server: Server, kind: str, http2: bool
) -> None:
    # HTTP/1.1: the fault listener reads the head, then nothing. HTTP/2: the
    # test server's /delay route never reads the body, so sends no
    # WINDOW_UPDATE past the first window.
    url = server.url + "/delay/60" if http2 else server.fault_url + "/hang"
    async with fastio.Client(http2=http2) as client:
        started = time.monotonic()
        with pytest.raises(fastio.WriteTimeout, match="write timeout") as raised:
            await client.post(url, timeout=fastio.Timeout(None, write=0.5), **BODIES[kind]())
        assert time.monotonic() - started < 15
    assert isinstance(raised.value, fastio.TimeoutError)
    assert str(raised.value).startswith(f"POST {url}:")


async def test_a_clients_write_timeout_covers_its_requests(server: Server) -> None:
    async with fastio.Client(timeout=fastio.Timeout(None, write=0.5)) as client:
        with pytest.raises(fastio.WriteTimeout):
            await client.put(server.fault_url + "/hang", content=LARGE)
        # A request may lift it.
        request = client.put(
            server.url + "/echo", content=b"small", timeout=fastio.Timeout(None, write=None)
        )
        assert (await request).status == 200
    results = await fastio.fetch_all(
        [fastio.Request("POST", server.fault_url + "/hang", content=LARGE)],
        timeout=fastio.Timeout(None, write=0.5),
        return_exceptions=True,
    )
    assert isinstance(results[0], fastio.WriteTimeout)


async def test_a_slow_body_source_is_not_a_write_timeout(server: Server) -> None:
    async def slow() -> AsyncIterator[bytes]:
        for _ in range(3):
            await asyncio.sleep(0.4)
            yield b"piece"

    async with fastio.Client() as client:
        response = await client.post(
            server.url + "/echo", content=slow(), timeout=fastio.Timeout(None, write=0.2)
        )
    assert response.json()["body"] == "piece" * 3


# --- work spreads over the worker threads -----------------------------------------------


@pytest.mark.parametrize("shape", ["fetch_all", "fetch_iter", "Client.get from tasks"])
async def test_no_task_holds_much_of_the_workers_time(server: Server, shape: str) -> None:
    """Amdahl's bound: a task polled for a share s of the workers' CPU time
    caps the speed-up from more cores at 1/s: requests polled inside one
    task (a bulk run's, or the loop's dispatcher) would hold most of it."""
    urls = [server.url + "/bytes/100"] * 3000
    async with fastio.Client(max_connections=64) as client:
        await client.fetch_all(urls[:100])
        fastio.testing.busiest_task_share()
        if shape == "fetch_all":
            await client.fetch_all(urls, concurrency=64)
        elif shape == "fetch_iter":
            async for _ in client.fetch_iter(urls, concurrency=64):
                pass
        else:

            async def worker(share: list[str]) -> None:
                for url in share:
                    await client.get(url)

            await asyncio.gather(*(worker(urls[n::64]) for n in range(64)))
        share = fastio.testing.busiest_task_share()
    # About 0.05 on an idle 2-core machine; polled in one task it is over
    # 0.5. The margin is for the parallel test workers sharing the CPUs.
    assert 0.0 < share < 0.2, share


def test_busiest_task_share_starts_at_zero() -> None:
    script = "import fastio.testing; print(fastio.testing.busiest_task_share())"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert float(done.stdout) == 0.0


# --- waiting for an HTTP/2 stream -----------------------------------------------------


@pytest.fixture(scope="module")
def stream_limited(certificates: Any) -> Iterator[tuple[str, str]]:
    """One server allowing one stream at a time, over h2c and over TLS: URLs."""
    import ssl

    from stream_limited import serve_one_stream_at_a_time

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificates.server_cert, certificates.server_key)
    tls.set_alpn_protocols(["h2"])
    plain_port, plain = serve_one_stream_at_a_time()
    tls_port, secure = serve_one_stream_at_a_time(tls)
    yield f"http://127.0.0.1:{plain_port}", f"https://127.0.0.1:{tls_port}"
    plain.close()
    secure.close()


REQUESTS_WAITING_FOR_A_STREAM: list[tuple[str, dict[str, Any]]] = [
    ("GET", {}),
    ("HEAD", {}),
    ("DELETE", {}),
    ("POST", {"content": b"x" * 100}),
    ("POST", {"json": {"a": 1}}),
]


@pytest.mark.parametrize("by", ["prior knowledge", "ALPN"])
async def test_waiting_for_an_http2_stream_is_bounded_by_the_pool_timeout(
    stream_limited: tuple[str, str], certificates: Any, by: str
) -> None:
    if by == "ALPN":
        client, base = fastio.Client(ca_bundle=str(certificates.ca)), stream_limited[1]
    else:
        client, base = fastio.Client(http2=True), stream_limited[0]
    async with client:
        # The origin is new to this client: what it learns from the held
        # request's own connect is enough.
        holder = asyncio.ensure_future(client.get(base + "/hold", timeout=fastio.Timeout(None)))
        await asyncio.sleep(0.3)
        for method, body in REQUESTS_WAITING_FOR_A_STREAM:
            started = time.monotonic()
            with pytest.raises(
                fastio.PoolTimeout, match=r"no HTTP/2 stream became free within 0\.5 s"
            ):
                await client.request(
                    method, base + "/", timeout=fastio.Timeout(None, pool=0.5), **body
                )
            assert time.monotonic() - started < 4, method

        # A streamed body waits the same way.
        async def chunks() -> AsyncIterator[bytes]:
            yield b"x"

        with pytest.raises(fastio.PoolTimeout):
            await client.post(base + "/", content=chunks(), timeout=fastio.Timeout(None, pool=0.5))
        holder.cancel()
    # Once the stream is free, a request waiting for one gets it (a client
    # of its own: none of the requests above are left on its connection).
    client = (
        fastio.Client(http2=True) if by != "ALPN" else fastio.Client(ca_bundle=str(certificates.ca))
    )
    async with client:
        holder = asyncio.ensure_future(client.get(base + "/hold", timeout=fastio.Timeout(None)))
        await asyncio.sleep(0.3)
        waiting = asyncio.ensure_future(
            client.get(base + "/", timeout=fastio.Timeout(None, pool=10))
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()
        holder.cancel()
        response = await waiting
        assert (response.status, response.http_version, response.text) == (200, "HTTP/2", "ok")


async def test_a_pool_timeout_changes_nothing_on_the_wire(
    server: Server, h2_server: str, certificates: Any
) -> None:
    timeout = fastio.Timeout(5, pool=2)
    # HTTP/1.1: a GET without a body has no Content-Length, as without one.
    async with fastio.Client() as client:
        echoed = (await client.get(server.url + "/echo", timeout=timeout)).json()
        assert "content-length" not in {name.lower() for name in echoed["headers"]}
        assert (await client.head(server.url + "/echo", timeout=timeout)).status == 200
        posted = await client.post(server.url + "/echo", content=b"abc", timeout=timeout)
        assert posted.json()["body"] == "abc"
    # HTTP/2 by prior knowledge: the body is an empty frame, still no Content-Length.
    async with fastio.Client(http2=True) as client:
        echoed = (await client.get(server.url + "/echo", timeout=timeout)).json()
        assert echoed["http_version"] == "HTTP/2.0"
        assert "content-length" not in {name.lower() for name in echoed["headers"]}
    # HTTP/2 (hypercorn): every method answered, body or not.
    async with fastio.Client(ca_bundle=str(certificates.ca)) as client:
        for method in ("GET", "HEAD", "DELETE", "GET"):
            response = await client.request(method, h2_server + "/", timeout=timeout)
            assert (response.status, response.http_version) == (200, "HTTP/2"), method
