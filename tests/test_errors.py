"""The exception hierarchy users catch."""

from __future__ import annotations

import builtins

import pytest

import fastio


@pytest.mark.parametrize(
    ("error_class", "bases"),
    [
        (fastio.InternalError, (fastio.FastioError,)),
        (fastio.RequestError, (fastio.FastioError,)),
        (fastio.ConnectError, (fastio.RequestError,)),
        (fastio.TLSError, (fastio.ConnectError,)),
        (fastio.TimeoutError, (fastio.RequestError, builtins.TimeoutError)),
        (fastio.PoolTimeout, (fastio.TimeoutError,)),
        (fastio.ReadError, (fastio.RequestError,)),
        (fastio.ProtocolError, (fastio.RequestError,)),
        (fastio.TooManyRedirects, (fastio.RequestError,)),
        (fastio.BodyTooLarge, (fastio.RequestError,)),
        # Where httpx users catch it: under RequestError.
        (fastio.DecodeError, (fastio.RequestError,)),
        (fastio.HTTPStatusError, (fastio.FastioError,)),
        (fastio.InvalidURL, (fastio.FastioError, ValueError)),
        (fastio.ClientClosed, (fastio.FastioError, RuntimeError)),
    ],
)
def test_hierarchy(error_class: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    for base in bases:
        assert issubclass(error_class, base)
    assert issubclass(error_class, Exception)


def test_errors_carry_their_url() -> None:
    error = fastio.TimeoutError("GET http://x/: timed out", url="http://x/")
    assert error.url == "http://x/"
    assert str(error) == "GET http://x/: timed out"
    assert fastio.FastioError("no url").url is None


def test_a_fastio_timeout_is_caught_as_the_builtin() -> None:
    with pytest.raises(builtins.TimeoutError):
        raise fastio.PoolTimeout("pool", url="http://x/")
