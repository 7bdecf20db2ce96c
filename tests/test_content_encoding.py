"""Compressed bodies, decoded by fastio as httpx does: the server's
Content-Encoding and Content-Length stay on the Response, the bytes on the
wire are counted (``num_bytes_downloaded``) and can be read as sent
(``aiter_raw``); broken, truncated or oversized encodings are errors of the
right kind. Against fastio's test server and its raw fault listener."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

import fastio
from fastio._fastio import Server

CODINGS = {"/gzip": "gzip", "/brotli": "br", "/zstd": "zstd", "/deflate": "deflate"}


@pytest.mark.parametrize("path", sorted(CODINGS))
async def test_decoded_responses_keep_their_encoding_headers(server: Server, path: str) -> None:
    response = await fastio.fetch(server.url + path)
    assert response.json()["padding"] == "x" * 2000
    assert response.headers["content-encoding"] == CODINGS[path]
    on_the_wire = int(response.headers["content-length"])
    assert response.num_bytes_downloaded == on_the_wire
    assert on_the_wire < len(response.content)


async def test_stacked_codings_are_undone_last_first(server: Server) -> None:
    response = await fastio.fetch(server.url + "/encoded/gzip,br")
    assert response.json()["compressed"] == "gzip,br"
    assert response.headers["content-encoding"] == "gzip,br"


async def test_an_unknown_coding_leaves_the_body_as_sent(server: Server) -> None:
    # The server applies no coding it does not know, so the body is plain.
    response = await fastio.fetch(server.url + "/encoded/compress")
    assert response.json()["compressed"] == "compress"


async def test_a_deep_stack_of_codings_is_a_decode_error(server: Server) -> None:
    with pytest.raises(fastio.DecodeError, match="more than 3 content codings"):
        await fastio.fetch(server.url + "/encoded/gzip,gzip,gzip,gzip")


async def test_accept_encoding_is_sent_unless_the_request_names_one(server: Server) -> None:
    sent = (await fastio.fetch(server.url + "/echo")).json()["headers"]
    assert sent["accept-encoding"] == ["gzip, br, zstd, deflate"]
    own = await fastio.fetch(server.url + "/echo", headers={"Accept-Encoding": "identity"})
    assert own.json()["headers"]["accept-encoding"] == ["identity"]
    # A Range counts bytes of the body as sent: no compression asked for.
    ranged = await fastio.fetch(server.url + "/echo", headers={"Range": "bytes=0-9"})
    assert "accept-encoding" not in ranged.json()["headers"]


async def test_an_empty_compressed_body_is_empty(server: Server) -> None:
    response = await fastio.fetch(server.fault_url + "/empty-gzip")
    assert response.content == b""
    head = await fastio.fetch(server.url + "/gzip", method="HEAD")
    assert head.content == b""
    assert head.headers["content-encoding"] == "gzip"


async def test_a_truncated_encoding_is_a_decode_error(server: Server) -> None:
    with pytest.raises(fastio.DecodeError, match="decoding the body failed"):
        await fastio.fetch(server.fault_url + "/truncated-gzip")


async def test_a_reset_inside_a_compressed_body_is_a_read_error(server: Server) -> None:
    # The transport failed, not the encoding: not a DecodeError.
    with pytest.raises(fastio.ReadError) as raised:
        await fastio.fetch(server.fault_url + "/reset-mid-gzip")
    assert not isinstance(raised.value, fastio.DecodeError)


async def test_a_zstd_window_over_8_mib_is_refused(server: Server) -> None:
    # RFC 9659 caps HTTP's zstd window at 8 MiB: a larger one would make
    # the server choose how much memory each response takes.
    ok = await fastio.fetch(server.url + "/zstd-window/23")
    assert len(ok.content) == 1_000_000
    with pytest.raises(fastio.DecodeError):
        await fastio.fetch(server.url + "/zstd-window/27")


async def test_streamed_bodies_count_the_bytes_on_the_wire(server: Server) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + "/gzip") as response,
    ):
        assert response.num_bytes_downloaded == 0
        body = b"".join([piece async for piece in response.aiter_bytes(chunk_size=100)])
        assert response.num_bytes_downloaded == int(response.headers["content-length"])
    assert json.loads(body)["compressed"] == "gzip"


@pytest.mark.parametrize(
    ("path", "undo"), [("/gzip", gzip.decompress), ("/deflate", zlib.decompress)]
)
async def test_aiter_raw_gives_the_bytes_as_sent(server: Server, path: str, undo: object) -> None:
    async with (
        fastio.Client() as client,
        client.stream("GET", server.url + path) as response,
    ):
        raw = b"".join([piece async for piece in response.aiter_raw()])
        assert len(raw) == int(response.headers["content-length"])
        assert response.num_bytes_downloaded == len(raw)
        with pytest.raises(fastio.StreamConsumed):
            response.aiter_bytes()
    assert callable(undo)
    assert json.loads(undo(raw))["padding"] == "x" * 2000


async def test_aiter_raw_of_a_body_read_whole(server: Server) -> None:
    compressed = await fastio.fetch(server.url + "/gzip")
    with pytest.raises(fastio.StreamConsumed, match="aiter_raw"):
        compressed.aiter_raw()
    plain = await fastio.fetch(server.url + "/bytes/1000")
    assert b"".join([piece async for piece in plain.aiter_raw(chunk_size=300)]) == plain.content
    assert plain.num_bytes_downloaded == 1000


async def test_a_streamed_bomb_stops_at_the_limit_one_step_at_a_time(server: Server) -> None:
    # 200 MB of zeros is about 200 KB of gzip: each read decodes a bounded
    # step, so the limit is met long before the whole bomb is in memory.
    async with (
        fastio.Client(max_body_size=1_000_000) as client,
        client.stream("GET", server.url + "/gzip-bomb/200000000") as response,
    ):
        pieces: list[int] = []

        async def read_all() -> None:
            async for piece in response.aiter_bytes():
                pieces.append(len(piece))

        with pytest.raises(fastio.BodyTooLarge):
            await read_all()
        assert max(pieces) <= 256 * 1024
        assert sum(pieces) <= 1_000_000
        assert response.num_bytes_downloaded < 1_000_000


def test_pickled_responses_keep_num_bytes_downloaded(server: Server) -> None:
    import asyncio
    import pickle

    response = asyncio.run(fastio.fetch(server.url + "/gzip"))
    copy = pickle.loads(pickle.dumps(response))
    assert copy.num_bytes_downloaded == response.num_bytes_downloaded < len(copy.content)
    made = fastio.Response(200, content=b"abc")
    assert made.num_bytes_downloaded == 3
