"""A pytest plugin for httpx's own test suite: every ``httpx.AsyncClient``
the suite builds without a transport of its own (and each proxy transport
it mounts) gets fastio's instead."""

from __future__ import annotations

import httpx._client

import fastio.httpx

httpx._client.AsyncHTTPTransport = fastio.httpx.AsyncHTTPTransport  # type: ignore[misc]
