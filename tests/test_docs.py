"""The README and docs/ cannot rot: every complete Python example runs
(against the embedded server: no example needs the internet), every other
Python block at least compiles, and every relative link points somewhere."""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastio
from fastio.testing import serve

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")

pytestmark = pytest.mark.skipif(
    not (ROOT / "docs").is_dir(), reason="needs the source tree (not an installed wheel)"
)


def blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for number, match in enumerate(BLOCK.finditer(page.read_text()), 1):
            found.append((f"{page.relative_to(ROOT)}#{number}", match.group(1)))
    return found


def is_script(code: str) -> bool:
    return "asyncio.run(" in code and "example.com" not in code


@pytest.mark.parametrize(("where", "code"), [b for b in blocks() if is_script(b[1])])
def test_complete_examples_run(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{where}:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize(("where", "code"), blocks())
def test_every_example_compiles(where: str, code: str) -> None:
    # Fragments may await at top level, as in an async function body.
    compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


#: What the fragments in the docs use without defining it: the embedded
#: server stands in for "your API" and "the internet".
PRELUDE = """
import asyncio, io
import fastio
from fastio.testing import MockTransport, serve

async def fetch_one():
    return (await fastio.fetch(server.url + "/json")).json()

def save(*parts):
    pass

def handle(line):
    pass

async def read_blocks(path):
    for _ in range(3):
        yield b"x" * 1000

async def chunks():
    async for block in read_blocks("data.bin"):
        yield block

sink = io.BytesIO()
url = server.url + "/echo"
api_url = server.url + "/echo"
urls = [server.url + f"/bytes/{n}" for n in range(100)]
"""

#: Fragments run elsewhere: the pytest example by tests/test_testing.py,
#: the Dask one by tests/test_dask.py (it needs a cluster).
RUN_ELSEWHERE = ("import pytest", "fastio.dask")


def fragments() -> list[tuple[str, str]]:
    return [
        (where, code)
        for where, code in blocks()
        if not is_script(code) and not any(marker in code for marker in RUN_ELSEWHERE)
    ]


#: Hosts a fragment may name: it runs for real, so any other would be looked
#: up and dialled (this machine may reach no address but its own).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@pytest.mark.parametrize(("where", "code"), fragments())
def test_fragments_name_only_loopback_hosts(where: str, code: str) -> None:
    for url in re.findall(r"https?://[^\s\"')]+", code):
        authority = re.sub(r"^https?://", "", url).split("/")[0]
        host = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
        assert host in LOOPBACK_HOSTS or host.endswith(".test"), (
            f"{where}: {url} would leave this machine; use a relative URL (the "
            "fragment's client has the embedded server as its base_url) or a .test name"
        )


@pytest.mark.parametrize(("where", "code"), fragments())
async def test_fragments_run_against_the_embedded_server(where: str, code: str) -> None:

    with serve() as server:
        namespace: dict[str, object] = {"server": server}
        exec(compile(PRELUDE, "prelude", "exec"), namespace)
        async with fastio.Client(base_url=server.url) as client:
            namespace["client"] = client
            body = "\n".join("    " + line for line in code.splitlines()) or "    pass"
            wrapped = f"async def __example__():\n{body}\n"
            exec(compile(wrapped, where, "exec"), namespace)
            await asyncio.wait_for(namespace["__example__"](), 60)  # type: ignore[operator]


def test_the_readme_is_short_and_its_quickstart_is_a_script() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10 * 1024
    assert any(is_script(code) and "fastio.testing" in code for _, code in blocks()[:3])


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of `page`."""
    found = set()
    for heading in re.findall(r"^#+ (.*)$", page.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_somewhere(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: {target} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{page.name}: no heading for #{anchor} in {file.name}"
