"""Progress bars: fed from counters kept in Rust, shown on stderr."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

import fastio
from fastio._fastio import Server, _Progress


@pytest.fixture
def stderr_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bulk calls take the captured stderr for a terminal, as the bar
    requires (the real check is tested below)."""
    monkeypatch.setattr(fastio._bulk, "on_a_terminal", lambda: True)


@pytest.mark.usefixtures("stderr_a_terminal")
async def test_fetch_all_progress_counts_everything(
    server: Server, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = [server.url + "/bytes/100"] * 300 + [f"http://127.0.0.1:{closed_port}/"]
    results = await fastio.fetch_all(urls, progress=True, return_exceptions=True)
    assert len(results) == 301
    shown = capsys.readouterr().err
    assert "301/301" in shown
    assert "errors=1" in shown


@pytest.mark.usefixtures("stderr_a_terminal")
async def test_fetch_iter_progress_with_a_given_total(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = (server.url + f"/bytes/{number}" for number in range(50))
    async with fastio.Client() as client:
        count = 0
        async for _ in client.fetch_iter(urls, progress=True, total=50):
            count += 1
    assert count == 50
    assert "50/50" in capsys.readouterr().err


async def test_no_bar_is_drawn_where_stderr_is_no_terminal(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the CLI: a pipe or a log file would get thousands of bar lines.
    assert not sys.stderr.isatty()
    responses = await fastio.fetch_all([server.url + "/bytes/10"] * 20, progress=True)
    assert len(responses) == 20
    assert capsys.readouterr().err == ""


async def test_the_counters_are_updated_in_rust(server: Server) -> None:
    counts = _Progress()
    session = fastio._fastio._ClientSession.shared(True)
    urls = [server.url + "/bytes/1000"] * 20
    responses = await session.fetch_many(urls, in_order=True, progress=counts)
    assert len(responses) == 20
    assert (counts.done, counts.failed, counts.bytes) == (20, 0, 20_000)


def test_the_cli_shows_a_bar_only_on_a_terminal(server: Server) -> None:
    urls = [server.url + f"/bytes/{number}" for number in range(30)]
    plain = subprocess.run(
        [sys.executable, "-m", "fastio", "fetch", *urls],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "30/30" not in plain.stderr
    assert "req/s" not in plain.stderr
    primary, secondary = pty.openpty()
    # A terminal 100 columns wide (a new pty reports 0 x 0).
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "fastio", "fetch", *urls],
            stdout=subprocess.DEVNULL,
            stderr=secondary,
        ) as process:
            os.close(secondary)
            shown = b""
            while True:
                try:
                    data = os.read(primary, 4096)
                except OSError:  # the terminal closed with the process
                    break
                if not data:
                    break
                shown += data
            process.wait(timeout=30)
    finally:
        os.close(primary)
    text = shown.decode(errors="replace")
    assert re.search(r"30/30", text), text
    assert "fastio fetch: 30 URLs" in text
