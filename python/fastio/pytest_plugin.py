"""fastio's pytest plugin (registered through the ``pytest11`` entry point):
the ``fastio_server`` fixture, a real HTTP server on 127.0.0.1 for testing
your own code.

Example::

    async def test_my_client(fastio_server):
        response = await my_code.download(fastio_server.url + "/json")
        assert fastio_server.request_count("/json") == 1

The routes are listed in :mod:`fastio.testing`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastio.testing import Server, serve


@pytest.fixture
def fastio_server() -> Iterator[Server]:
    """fastio's embedded test server, started for one test on a free port."""
    with serve() as server:
        yield server
