"""Checked by mypy --strict in ``make lint`` (never run): the types a user's
code gets from fastio's bulk calls."""

from __future__ import annotations

import asyncio
from typing import assert_type

import fastio


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
