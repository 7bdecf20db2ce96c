"""The README and docs/ cannot rot: every complete Python example runs
(against the embedded server: no example needs the internet), every other
Python block at least compiles, and every relative link points somewhere."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
