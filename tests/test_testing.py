"""fastio.testing: the embedded server itself, and its command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import open_connections_settle

import fastio
import fastio.testing


async def test_counts_requests_per_path() -> None:
    with fastio.testing.serve() as server:
        await fastio.fetch_all([server.url + "/json?x=1"] * 3 + [server.url + "/bytes/1"])
        assert server.request_count("/json") == 3
        assert server.request_count("/bytes/1") == 1
        assert server.request_count("/never") == 0
        assert (await fastio.fetch(server.url + "/counts")).json()["/json"] == 3
        server.reset_counts()
        assert server.request_count("/json") == 0
        assert server.accepted_connections >= 1


async def test_a_closed_server_refuses_connections() -> None:
    with fastio.testing.serve() as server:
        url = server.url + "/json"
        assert (await fastio.fetch(url)).status == 200
    # Closing is asynchronous: wait until the kept-alive connection is gone.
    assert await open_connections_settle(server, at_most=0) <= 0
    try:
        await fastio.fetch(url, timeout=2)
    except (fastio.ConnectError, fastio.ReadError):
        pass
    else:
        raise AssertionError("the closed server still answered")


def test_the_command_line_serves_until_stopped() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "fastio.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            probe = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    textwrap.dedent(
                        f"""
                        import asyncio, fastio
                        async def main():
                            return (await fastio.fetch({url!r} + "/status/201")).status
                        print(asyncio.run(main()))
                        """
                    ),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert probe.stdout.strip() == "201"
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0


def test_no_noise_at_interpreter_exit() -> None:
    script = textwrap.dedent(
        """
        import asyncio, fastio, fastio.testing
        async def main(url):
            responses = await fastio.fetch_all([url + "/json"] * 50)
            pending = asyncio.ensure_future(fastio.fetch(url + "/delay/30"))
            await asyncio.sleep(0.05)
            return len(responses)
        with fastio.testing.serve() as server:
            print(asyncio.run(main(server.url)))
        """
    )
    finished = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "50"
    assert finished.stderr == ""


def test_the_docs_pytest_example_runs_in_strict_mode(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    start = readme.index("```python\nimport fastio\nimport pytest\n")
    example = readme[start + len("```python\n") : readme.index("```", start + 10)]
    (tmp_path / "test_example.py").write_text(example)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = strict\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout
