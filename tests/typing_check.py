"""Checked by mypy --strict in ``make lint`` (never run): the types a user's
code gets from fastio's bulk calls."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, assert_type

import fastio
from fastio._calls import Sent


async def bulk_results(urls: list[str], client: fastio.Client) -> None:
    assert_type(await fastio.fetch_all(urls), list[fastio.Response])
    mixed = await fastio.fetch_all(urls, return_exceptions=True)
    assert_type(mixed, list[fastio.Response | fastio.FastioError])
    shown = await fastio.fetch_all(urls, return_exceptions=True, progress=True)
    assert_type(shown, list[fastio.Response | fastio.FastioError])
    assert_type(await client.fetch_all(urls), list[fastio.Response])
    from_client = await client.fetch_all(urls, return_exceptions=True)
    assert_type(from_client, list[fastio.Response | fastio.FastioError])
    async for item in fastio.fetch_iter(urls, return_exceptions=True):
        assert_type(item, fastio.Response | fastio.FastioError)


async def coroutine_idioms(url: str, client: fastio.Client) -> None:
    task = asyncio.create_task(client.get(url))
    assert_type(await task, fastio.Response)
    async with asyncio.TaskGroup() as group:
        fetched = group.create_task(fastio.fetch(url))
    assert_type(fetched.result(), fastio.Response)


def run_directly(urls: list[str]) -> None:
    assert_type(asyncio.run(fastio.fetch_all(urls)), list[fastio.Response])


async def one_awaitable_type(url: str, client: fastio.Client, chunks: Any) -> None:
    """Every request method of a Client returns the same type: a coroutine
    of a Response (create_task and TaskGroup take each of them) that
    ``async with`` also takes."""
    async with client.get(url) as response:
        assert_type(response, fastio.Response)
    sent: list[Coroutine[Any, Any, fastio.Response]] = [
        assert_type(client.get(url), Sent),
        assert_type(client.head(url), Sent),
        assert_type(client.options(url), Sent),
        assert_type(client.delete(url), Sent),
        assert_type(client.post(url, content=chunks), Sent),
        assert_type(client.put(url, json={}), Sent),
        assert_type(client.patch(url, data={}), Sent),
        assert_type(client.request("GET", url), Sent),
    ]
    for coroutine in sent:
        coroutine.close()
    assert_type(await asyncio.create_task(client.post(url, content=chunks)), fastio.Response)


async def gathered_results_keep_their_types() -> None:
    async def number() -> int:
        return 1

    async def text() -> str:
        return ""

    first, second = await fastio.gather(number(), text())
    assert_type(first, int)
    assert_type(second, str)
    outcomes = await fastio.gather(number(), text(), return_exceptions=True)
    assert_type(outcomes, tuple[int | BaseException, str | BaseException])
    many = await fastio.gather(*[number() for _ in range(10)])
    assert_type(many, list[int])
