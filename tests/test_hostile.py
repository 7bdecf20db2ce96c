"""A hostile server cannot choose fastio's costs: no length it declares
sizes an allocation, no charset it names stalls the loop, no body it sends
grows without a bound. Servers: fastio's test server and its raw fault
listener."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from helpers import run_script

import fastio
import fastio.records
import fastio.testing
from fastio._fastio import Server

# --- declared lengths ---------------------------------------------------------------


async def test_a_declared_terabyte_over_the_limit_fails_before_the_body(server: Server) -> None:
    url = server.fault_url + "/huge-length"
    async with fastio.Client(max_body_size=10_000_000) as client:
        # The route sends 200 bytes and then waits 30 s: only a refusal on
        # the declared length ends it within the bound.
        async with asyncio.timeout(10):
            with pytest.raises(fastio.BodyTooLarge, match="max_body_size") as raised:
                await client.get(url, timeout=60)
            assert raised.value.url == url
            async with client.stream("GET", url, timeout=60) as response:
                with pytest.raises(fastio.BodyTooLarge):
                    await response.aread()
            async with client.stream("GET", url, timeout=60) as response:
                with pytest.raises(fastio.BodyTooLarge):
                    async for _ in response.aiter_bytes():
                        pass


async def test_the_default_limit_refuses_a_declared_terabyte(server: Server) -> None:
    async with asyncio.timeout(10):
        with pytest.raises(fastio.BodyTooLarge, match="stream"):
            await fastio.fetch(server.fault_url + "/huge-length", timeout=60)


def test_a_declared_terabyte_under_the_limit_allocates_nothing_of_it(server: Server) -> None:
    # In a child process: an allocation sized by the header aborts it.
    finished = run_script(
        f"""
        import asyncio, fastio

        async def main():
            async with fastio.Client(max_body_size=2**50) as client:
                try:
                    await client.get("{server.fault_url}/huge-length", timeout=1)
                except fastio.TimeoutError:
                    print("timed out")
                async with client.stream("GET", "{server.fault_url}/huge-length",
                                         timeout=1) as response:
                    try:
                        await response.aread()
                    except fastio.TimeoutError:
                        print("timed out")

        asyncio.run(main())
        """,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.split() == ["timed", "out", "timed", "out"]


# --- bodies without an end ----------------------------------------------------------


async def test_an_endless_body_stops_at_the_default_limit(server: Server) -> None:
    async with asyncio.timeout(30):
        with pytest.raises(fastio.BodyTooLarge, match="stream"):
            await fastio.fetch(server.fault_url + "/endless-chunked", timeout=60)


async def test_module_functions_take_max_body_size(server: Server) -> None:
    endless = server.fault_url + "/endless-chunked"
    async with asyncio.timeout(30):
        with pytest.raises(fastio.BodyTooLarge, match="1000000 bytes"):
            await fastio.fetch(endless, max_body_size=1_000_000)
        small = server.url + "/bytes/10"
        results = await fastio.fetch_all(
            [small, endless, server.url + "/gzip-bomb/50000000"],
            max_body_size=1_000_000,
            return_exceptions=True,
        )
        assert results[0].content == (await fastio.fetch(small)).content
        assert isinstance(results[1], fastio.BodyTooLarge)
        assert isinstance(results[2], fastio.BodyTooLarge)
        seen = []
        async with fastio.fetch_iter(
            [small, endless], max_body_size=1_000_000, return_exceptions=True
        ) as results_iter:
            async for item in results_iter:
                seen.append(type(item))
        assert sorted(map(str, seen)) == sorted([str(fastio.Response), str(fastio.BodyTooLarge)])
    with pytest.raises(ValueError, match="max_body_size"):
        fastio.fetch(small, max_body_size=-1)


def test_an_endless_body_keeps_memory_bounded(server: Server) -> None:
    finished = run_script(
        f"""
        import asyncio, resource, fastio

        async def main():
            try:
                await fastio.fetch("{server.fault_url}/endless-chunked", timeout=60)
            except fastio.BodyTooLarge:
                pass
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)

        asyncio.run(main())
        """,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    peak_mib = int(finished.stdout)
    # The default limit (256 MiB) and its buffer: bounded, where an unbounded
    # read passes 3 GiB within seconds.
    assert peak_mib < 1024


BOMB_PEAK = """
import asyncio, resource, fastio

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def main():
    await fastio.fetch("{url}/bytes/10")  # the runtime and a client, warmed up
    before = peak_mib()
    urls = ["{url}/gzip-bomb/8589934592"] * {count}
    results = await fastio.fetch_all(
        urls, concurrency={count}, max_body_size={limit}, return_exceptions=True, **{options}
    )
    assert all(isinstance(result, fastio.BodyTooLarge) for result in results), results
    print(peak_mib() - before)

asyncio.run(main())
"""


def bomb_peak_mib(server: Server, count: int, limit: int, **options: int) -> float:
    """The growth of a child process's peak RSS while it fetches ``count``
    gzip bombs of 8 GiB at once, each refused at ``limit``."""
    source = BOMB_PEAK.format(url=server.url, count=count, limit=limit, options=options)
    finished = run_script(source, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return float(finished.stdout)


MIB = 1024 * 1024


def test_a_refused_bomb_holds_little_more_than_its_limit(server: Server) -> None:
    # The buffer grows by doubling, but never past the limit: 64 MiB
    # reserved and filled for a 33 MiB limit before.
    assert bomb_peak_mib(server, 1, 33 * MIB) <= 1.25 * 33


def test_bombs_in_one_bulk_call_share_its_bytes_in_flight(server: Server) -> None:
    # 20 bodies of up to 32 MiB each: 640 MiB at once without a shared bound.
    assert bomb_peak_mib(server, 20, 32 * MIB, max_bytes_in_flight=64 * MIB) <= 64 + 32 + 32


def test_bulk_calls_bound_bytes_in_flight_by_default(server: Server) -> None:
    # 12 bodies at the default limit (256 MiB): 3 GiB without the default
    # bound (1 GiB, plus the one body that never waits).
    assert bomb_peak_mib(server, 12, 256 * MIB) <= 1024 + 256 + 128


async def test_bytes_in_flight_is_a_positive_int(server: Server) -> None:
    with pytest.raises(ValueError, match="max_bytes_in_flight must be at least 1"):
        await fastio.fetch_all([server.url], max_bytes_in_flight=0)
    # Far below one body: bodies are read one at a time, and all arrive.
    responses = await fastio.fetch_all(
        [server.url + "/bytes/300000"] * 8, concurrency=8, max_bytes_in_flight=1
    )
    assert [len(response.content) for response in responses] == [300_000] * 8


# --- charsets -----------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["punycode", "base64", "hex", "zlib", "rot13", "idna"])
async def test_a_codec_that_is_no_charset_reads_as_utf8(server: Server, charset: str) -> None:
    url = server.url + "/text"
    params = {"charset": charset, "value": "aé-", "repeat": "200000"}
    expected = "aé-" * 200000
    response = await fastio.fetch(url, params=params)
    assert response.encoding == "utf-8"
    assert response.text == expected
    async with (
        fastio.Client() as client,
        client.stream("GET", url, params=params) as streamed,
    ):
        pieces = [piece async for piece in streamed.aiter_text()]
    assert "".join(pieces) == expected


@pytest.mark.parametrize(
    ("label", "value"),
    [("latin-1", "café"), ("ISO-8859-1", "naïve"), ("utf-8", "日本"), ("UTF8", "ok")],
)
async def test_real_charsets_are_still_used(server: Server, label: str, value: str) -> None:
    response = await fastio.fetch(server.url + "/text", params={"charset": label, "value": value})
    assert response.encoding == label
    assert response.text == value


# --- cookie scope -------------------------------------------------------------------

SITES = ["evil.com", "bank.com", "www.evil.com", "evil.co.uk", "bank.co.uk"]
SITES += ["evil.github.io", "bank.github.io", "a.localhost", "b.localhost"]


@pytest.mark.parametrize(
    ("setter", "domain", "victim"),
    [
        ("evil.com", "com", "bank.com"),
        ("evil.com", ".com", "bank.com"),
        ("evil.co.uk", "co.uk", "bank.co.uk"),
        ("evil.github.io", "github.io", "bank.github.io"),
        ("a.localhost", "localhost", "b.localhost"),
    ],
)
async def test_a_cookie_for_a_public_suffix_is_refused(
    server: Server, setter: str, domain: str, victim: str
) -> None:
    port = server.url.rsplit(":", 1)[1]
    async with fastio.Client(resolve=dict.fromkeys(SITES, "127.0.0.1")) as client:
        await client.get(
            f"http://{setter}:{port}/headers", params={"Set-Cookie": f"t=1; Domain={domain}"}
        )
        sent = (await client.get(f"http://{victim}:{port}/echo")).json()["headers"]
        back_home = (await client.get(f"http://{setter}:{port}/echo")).json()["headers"]
    assert "t=1" not in sent.get("cookie", [""])[0]
    assert "t=1" not in back_home.get("cookie", [""])[0]


async def test_a_cookie_for_the_site_itself_is_shared_within_it(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    async with fastio.Client(resolve=dict.fromkeys(SITES, "127.0.0.1")) as client:
        await client.get(
            f"http://www.evil.com:{port}/headers",
            params={"Set-Cookie": "t=1; Domain=evil.com"},
        )
        sibling = (await client.get(f"http://evil.com:{port}/echo")).json()["headers"]
        other = (await client.get(f"http://bank.com:{port}/echo")).json()["headers"]
    assert "t=1" in sibling["cookie"][0]
    assert "cookie" not in other


async def test_a_server_cannot_grow_the_cookie_jar_without_bound(server: Server) -> None:
    async with fastio.Client() as client:
        # 3,500 distinct cookies offered, one a response (with a=1 and b=2).
        offers = (f"{server.url}/headers?Set-Cookie=c{number}%3D1" for number in range(3500))
        await client.fetch_all(offers, concurrency=16)
        sent = (await client.get(server.url + "/echo")).json()["headers"]["cookie"][0]
    # Kept for one site, as browsers: about 180.
    assert len(sent.split("; ")) == 180


async def test_cookies_past_a_browsers_size_are_not_kept(server: Server) -> None:
    async with fastio.Client() as client:
        await client.get(server.url + "/set-cookies/3/5000")  # 5 KB each
        await client.get(server.url + "/set-cookies/2/100")
        sent = (await client.get(server.url + "/echo")).json()["headers"]["cookie"][0]
    assert sorted(pair.split("=")[0] for pair in sent.split("; ")) == ["c00000", "c00001"]


async def test_the_cookie_header_a_request_carries_is_bounded(server: Server) -> None:
    # 180 cookies of 4 KB: 720 KB on every request without a bound.
    async with fastio.Client() as client:
        for start in range(0, 180, 30):
            await client.get(server.url + f"/set-cookies/30/4000?start={start}")
        sent = (await client.get(server.url + "/echo")).json()["headers"]["cookie"][0]
    assert 24 * 1024 < len(sent) <= 32 * 1024


@pytest.mark.parametrize(
    ("cookies", "message"),
    [
        ({"session": "1; admin=true"}, 'value of cookie "session"'),
        ({"session": "a,b"}, 'value of cookie "session"'),
        ({"session": "a b"}, 'value of cookie "session"'),
        ({"a b": "1"}, "invalid cookie name"),
        ({"a;b": "1"}, "invalid cookie name"),
        ({"": "1"}, "invalid cookie name"),
    ],
)
async def test_cookies_a_header_cannot_carry_are_refused(
    server: Server, cookies: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        fastio.Client(cookies=cookies)
    assert "admin=true" not in str(raised.value)  # a value may be a secret
    async with fastio.Client() as client:
        with pytest.raises(ValueError, match=message):
            client.get(server.url + "/echo", cookies=cookies)
        answer = await client.get(server.url + "/echo", cookies={"ok": "v-1", "q": '"a=b"'})
    assert answer.json()["headers"]["cookie"] == ['ok=v-1; q="a=b"']


# --- multipart heads ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain\r\nContent-Disposition: form-data; name=x", "a\nb", "a\x00b", "a\x0bb"],
)
async def test_control_characters_never_reach_a_part_head(
    server: Server, content_type: str
) -> None:
    async with fastio.Client() as client:
        with pytest.raises(ValueError, match="control characters"):
            client.post(server.url + "/echo", files={"f": ("a.txt", b"x", content_type)})
        with pytest.raises(ValueError, match="control characters"):
            client.post(server.url + "/echo", files={"f": (content_type, b"x")})


async def test_a_plain_part_head_is_sent(server: Server) -> None:
    async with fastio.Client() as client:
        response = await client.post(
            server.url + "/echo", files={"f": ("a.txt", b"xyz", "text/plain")}
        )
    body = response.json()["body"]
    assert 'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nxyz' in body


# --- credentials in URLs ------------------------------------------------------------


def with_credentials(url: str) -> str:
    return url.replace("http://", "http://alice:S3CRET@", 1)


def assert_hidden(*texts: object) -> None:
    for text in texts:
        assert "S3CRET" not in str(text)
        assert "alice" not in str(text)


async def test_credentials_in_urls_never_show_in_errors(server: Server, closed_port: int) -> None:
    refused = with_credentials(f"http://127.0.0.1:{closed_port}/x")
    with pytest.raises(fastio.ConnectError) as connect:
        await fastio.fetch(refused)
    with pytest.raises(fastio.TimeoutError) as timeout:
        await fastio.fetch(with_credentials(server.fault_url + "/hang"), timeout=0.2)
    async with fastio.Client(max_redirects=2) as client:
        with pytest.raises(fastio.TooManyRedirects) as redirects:
            await client.get(with_credentials(server.url + "/redirect-loop"))
    [failure] = await fastio.fetch_all([refused], return_exceptions=True)
    for raised in (connect.value, timeout.value, redirects.value, failure):
        assert_hidden(raised, raised.url, repr(raised))
        assert raised.url is not None
        assert "***@127.0.0.1" in raised.url


async def test_credentials_never_show_in_reprs_or_records(server: Server) -> None:
    client = fastio.Client(base_url=with_credentials(server.url))
    response = await client.get("/json")
    await client.aclose()
    assert response.status == 200  # the request itself used them
    assert_hidden(repr(client), repr(response))
    record = fastio.records.result_record(response)
    assert_hidden(record["url"], record["final_url"])


@pytest.mark.parametrize("name", ["Authorization", "proxy-authorization", "Cookie", "X-API-Key"])
async def test_secret_headers_never_show_in_reprs_or_records(server: Server, name: str) -> None:
    assert_hidden(repr(fastio.Headers({name: "Bearer S3CRET", "Accept": "*/*"})))
    async with fastio.Client(headers={name: "S3CRET"}) as client:
        assert_hidden(repr(client.headers), repr(client))
        # /many-headers/1 answers with one Set-Cookie.
        response = await client.get(server.url + "/many-headers/1", headers={name: "S3CRET"})
    assert response.request.headers[name] == "S3CRET"  # code can still read it
    shown = repr(response.request.headers)
    assert_hidden(shown, repr(response.request), repr(response))
    assert "[secure]" in shown
    assert "*/*" in repr(fastio.Headers({name: "x", "Accept": "*/*"}))
    record = fastio.records.result_record(response)
    assert record["headers"]["set-cookie"] == "[secure]"
    assert "[secure]" in repr(response.headers)


def test_credentials_never_show_in_the_cli_records(server: Server, closed_port: int) -> None:
    finished = run_script(
        f"""
        import sys
        from fastio.cli import main
        sys.argv = ["fastio", "fetch", "-q", "{with_credentials(server.url + "/json")}",
                    "{with_credentials(f"http://127.0.0.1:{closed_port}/")}"]
        main()
        """
    )
    assert finished.returncode == 1, finished.stderr
    assert finished.stdout.count("\n") == 2
    assert_hidden(finished.stdout, finished.stderr)


async def test_a_short_proxy_credential_garbles_nothing(server: Server, closed_port: int) -> None:
    async with fastio.Client(proxy=f"http://e:e@127.0.0.1:{closed_port}") as client:
        with pytest.raises(fastio.ConnectError) as raised:
            await client.get(server.url + "/json")
    message = str(raised.value)
    assert "e:e@" not in message
    assert f"GET {server.url}/json" in message
    assert "***" not in message.replace("***@", "")


# --- cookie merging -----------------------------------------------------------------


async def test_one_cookie_header_from_every_source(server: Server) -> None:
    async with fastio.Client(cookies={"c": "3"}) as client:
        first = await client.get(
            server.url + "/echo", headers={"Cookie": "a=9"}, cookies={"b": "2"}
        )
        await client.get(server.url + "/headers")  # the jar now holds a=1 and b=2
        later = await client.get(server.url + "/echo", cookies={"d": "4"})
        explicit = await client.get(server.url + "/echo", headers={"Cookie": "a=9"})
    assert first.json()["headers"]["cookie"] == ["a=9; c=3; b=2"]
    [line] = later.json()["headers"]["cookie"]
    assert line.startswith("c=3; d=4; ")
    assert sorted(line.split("; ")[2:]) == ["a=1", "b=2"]
    # A given cookie wins over the jar's of the same name.
    assert explicit.json()["headers"]["cookie"] == ["a=9; c=3; b=2"]


# --- rate-limit turns ---------------------------------------------------------------


async def test_cancelled_and_timed_out_requests_give_their_turn_back(server: Server) -> None:
    url = server.url + "/json"
    async with fastio.Client(rate_limit=5) as client:
        await client.get(url)
        queued = [asyncio.ensure_future(client.get(url)) for _ in range(20)]
        await asyncio.sleep(0.05)
        for future in queued:
            future.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        # Waiting for a turn is bounded by the pool timeout (the total
        # counts from the turn on).
        limit = fastio.Timeout(5, pool=0.05)
        results = await asyncio.gather(
            *(client.get(url, timeout=limit) for _ in range(20)), return_exceptions=True
        )
        assert sum(isinstance(result, fastio.TimeoutError) for result in results) >= 18
        started = asyncio.get_running_loop().time()
        await client.get(url)
        waited = asyncio.get_running_loop().time() - started
    # 40 turns kept would be 8 s; given back, the next turn is at most 0.2 s
    # away (plus the few that went out).
    assert waited < 2


# --- the right error, at the call ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/" + "a" * 70_000, 'http://a"b/', "http://a{b}/", "http://a`b/"],
)
def test_a_url_that_cannot_be_sent_is_refused_at_the_call(url: str) -> None:
    with pytest.raises(fastio.InvalidURL) as raised:
        fastio.fetch(url)
    assert len(str(raised.value)) < 1000


def test_params_that_make_a_url_too_long_are_refused_at_the_call(server: Server) -> None:
    with pytest.raises(fastio.InvalidURL, match="longer than"):
        fastio.fetch(server.url + "/echo", params={"q": "x" * 70_000})


async def test_a_raw_utf8_location_is_followed(server: Server) -> None:
    response = await fastio.fetch(server.url + "/redirect-to", params={"url": "/echo/é"})
    assert response.status == 200
    assert response.json()["path"] == "/echo/%C3%A9"


async def test_an_http1_reply_to_http2_prior_knowledge_is_a_protocol_error(
    server: Server,
) -> None:
    async with fastio.Client(http2=True, retries=2, retry_backoff=0.01) as client:
        with pytest.raises(fastio.ProtocolError):
            await client.get(server.fault_url + "/json", timeout=5)
    assert server.request_count("*") == 1  # not retried: not transient


def test_numbers_no_timer_or_counter_can_hold_are_refused_or_capped() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        fastio.Client(rate_limit=1e-20)
    with pytest.raises(ValueError, match="retries must be an int from 0 to"):
        fastio.Client(retries=10**30)
    with pytest.raises(ValueError, match=r"max_connections must be at least 1$"):
        fastio.Client(max_connections=-(10**30))
    # As many as you like: no OverflowError.
    fastio.Client(max_connections=10**30, per_host=10**30, max_body_size=10**30)


def test_a_lone_surrogate_is_named_as_such(server: Server) -> None:
    with pytest.raises(ValueError, match="surrogate"):
        fastio.fetch(server.url + "/echo", headers={"X-Bad": "\ud800"})
    with pytest.raises(ValueError, match="surrogate"):
        fastio.fetch(server.url + "/echo", params={"q": "\ud800"})


async def test_a_retry_after_beyond_any_clock_is_not_retried_at_once(server: Server) -> None:
    path = "/flaky/huge-retry-after"
    async with fastio.Client(retries=3, retry_backoff=0.01) as client:
        response = await client.get(
            server.url + path,
            params={"fail": "1", "status": "503", "retry_after": "9" * 30},
        )
    assert response.status == 503
    assert server.request_count(path) == 1


async def test_responses_and_status_errors_pickle(server: Server) -> None:
    import pickle

    response = await fastio.fetch(server.url + "/redirect-to", params={"url": "/json"})
    again = pickle.loads(pickle.dumps(response))
    assert (again.status, again.url, again.request_url) == (200, response.url, response.request_url)
    assert again.content == response.content
    assert again.headers.items() == response.headers.items()
    assert [earlier.status for earlier in again.history] == [302]
    failed = await fastio.fetch(server.url + "/status/404")
    with pytest.raises(fastio.HTTPStatusError) as raised:
        failed.raise_for_status()
    error = pickle.loads(pickle.dumps(raised.value))
    assert type(error) is fastio.HTTPStatusError
    assert (str(error), error.url, error.response.status) == (
        str(raised.value),
        raised.value.url,
        404,
    )
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/json") as streamed,
    ):
        with pytest.raises(fastio.ResponseNotRead):
            pickle.dumps(streamed)


# --- the input is pulled in bounded chunks ------------------------------------------


async def test_fetch_all_pulls_the_input_a_chunk_at_a_time(server: Server) -> None:
    pulled = 0
    most_in_one_go = 0
    url = server.url + "/bytes/1"

    def urls() -> Any:
        nonlocal pulled
        while True:
            pulled += 1
            yield url

    async def watch() -> None:
        nonlocal most_in_one_go
        last = 0
        while True:
            await asyncio.sleep(0)
            most_in_one_go = max(most_in_one_go, pulled - last)
            last = pulled

    watcher = asyncio.ensure_future(watch())
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1), fastio.Client(max_connections=20) as client:
            await client.fetch_all(urls(), concurrency=10**9)
    watcher.cancel()
    assert pulled > 0
    assert most_in_one_go <= 2048


# --- promises guarded end to end ----------------------------------------------------


async def test_a_redirect_to_another_port_drops_every_credential(server: Server) -> None:
    headers = {
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "X-API-Key": "key",
        "Host": server.url.removeprefix("http://"),
    }
    with fastio.testing.serve() as other:
        async with fastio.Client(auth="secret-token", cookies={"session": "abc"}) as client:
            same = await client.get(
                server.url + "/redirect-to", params={"url": "/echo"}, headers=headers
            )
            moved = await client.get(
                server.url + "/redirect-to", params={"url": other.url + "/echo"}, headers=headers
            )
    kept = same.json()["headers"]
    assert kept["authorization"] == ["Bearer secret-token"]
    assert kept["proxy-authorization"] == headers["Proxy-Authorization"].split(",")
    assert "session=abc" in kept["cookie"][0]
    assert kept["x-api-key"] == ["key"]
    assert kept["host"] == [headers["Host"]]
    dropped = moved.json()["headers"]
    for name in ("authorization", "proxy-authorization", "cookie", "x-api-key"):
        assert name not in dropped
    # The caller's Host named the first origin: the next one gets its own.
    assert dropped["host"] == [other.url.removeprefix("http://")]


async def test_an_http_date_retry_after_is_waited_for(server: Server) -> None:
    import email.utils
    import time

    path = "/flaky/http-date"
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    async with fastio.Client(retries=1, retry_backoff=0.01) as client:
        response = await client.get(
            server.url + path, params={"fail": "1", "status": "503", "retry_after": when}
        )
    assert response.status == 200
    first, second = server.request_times(path)
    # The date is whole seconds, 2-3 s ahead: read backwards or ignored, the
    # retry would come after the 10 ms backoff.
    assert second - first > 1.5


# --- response heads -----------------------------------------------------------------


@pytest.mark.parametrize("http2", [False, True])
@pytest.mark.parametrize("count", [150, 1000])
async def test_responses_with_many_header_fields_are_accepted(
    server: Server, http2: bool, count: int
) -> None:
    # A Set-Cookie every tenth field: what a real site's login page sends.
    async with fastio.Client(http2=http2) as client:
        response = await client.get(server.url + f"/many-headers/{count}")
    assert response.status == 200
    assert len(response.headers.get_list("set-cookie")) == count // 10
    assert response.headers["x-field-00001"].startswith("v00001=")


async def test_a_head_over_the_field_count_names_the_limit(server: Server) -> None:
    # 2,000 fields of 64 bytes: 128 KB, under the size bound, over the count.
    with pytest.raises(fastio.ProtocolError, match="1024 header fields") as raised:
        await fastio.fetch(server.url + "/many-headers/2000")
    assert "message head is too large" in str(raised.value)
    # 500 KB of head: over both.
    with pytest.raises(fastio.ProtocolError, match="400 KiB of head"):
        await fastio.fetch(server.fault_url + "/huge-headers")


async def test_an_http2_header_list_over_the_limit_names_it(server: Server) -> None:
    async with fastio.Client(http2=True) as client:
        with pytest.raises(fastio.ProtocolError, match="header list is over fastio's limit"):
            await client.get(server.url + "/many-headers/4000")
        # The connection is still good for the next request.
        assert (await client.get(server.url + "/many-headers/10")).status == 200


# --- configuration files --------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"ca_bundle": "/dev/zero"},
        {"cert": "/dev/zero"},
        {"cert": ("/dev/zero", "/dev/zero")},
    ],
)
def test_a_device_as_a_certificate_file_is_refused_at_once(options: dict[str, Any]) -> None:
    # In a child process: reading /dev/zero whole grew until the kernel
    # killed the process (24 GB), holding the GIL.
    finished = run_script(
        f"""
        import resource, fastio
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            fastio.Client(**{options!r})
        except OSError as error:
            print(error)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
        """,
        timeout=30,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    message, grown_mib = finished.stdout.splitlines()
    assert "/dev/zero: not a regular file" in message
    assert int(grown_mib) < 32


def test_certificate_files_are_read_with_a_cap(tmp_path: Any) -> None:
    huge = tmp_path / "huge.pem"
    with open(huge, "wb") as file:
        file.truncate(17 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(OSError, match=r"huge\.pem: larger than 16 MiB"):
        fastio.Client(ca_bundle=huge)
    fifo = tmp_path / "bundle.fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"bundle\.fifo: not a regular file"):
        fastio.Client(ca_bundle=str(fifo))  # opening it would wait for a writer
    with pytest.raises(OSError, match=r"missing\.pem"):
        fastio.Client(cert=str(tmp_path / "missing.pem"))
