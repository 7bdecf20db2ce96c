"""Smoke run of an installed wheel, in a fresh virtualenv with no Rust
toolchain on PATH (run by ``make wheel-check``; not a pytest module)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys

import fastio
import fastio.testing


async def main() -> None:
    assert await fastio.sleep(0.01, "slept") == "slept"
    assert await fastio.gather(fastio.sleep(0, 1), fastio.sleep(0.01, 2)) == [1, 2]
    with fastio.testing.serve() as server:
        responses = await fastio.fetch_all([server.url + "/json"] * 200, concurrency=20)
    assert [response.status for response in responses] == [200] * 200
    assert responses[0].json()


if __name__ == "__main__":
    for tool in ("cargo", "rustc"):
        assert shutil.which(tool) is None, f"{tool} is on PATH: the wheel check needs none"
    assert "site-packages" in (fastio.__file__ or ""), fastio.__file__
    asyncio.run(main())
    subprocess.run([sys.executable, "-m", "fastio", "demo", "-n", "500"], check=True)
    print(f"wheel smoke passed: fastio {fastio.__version__} on Python {sys.version.split()[0]}")
