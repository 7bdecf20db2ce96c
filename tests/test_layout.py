"""`.ci/check-layout` (part of `make lint`) passes on src/ and catches what
it is for: an import cycle, pyo3 in the HTTP engine, an arrow pointing up,
a part the table of docs/architecture.md (the one statement of the layout)
does not list."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / ".ci" / "check-layout"

pytestmark = pytest.mark.skipif(
    not (ROOT / "src").is_dir(), reason="needs the source tree (not an installed wheel)"
)


def check(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), str(src)], capture_output=True, text=True, check=False
    )


def with_line(tmp_path: Path, file: str, line: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src)
    target = src / file
    target.write_text(line + "\n" + target.read_text())
    return src


def test_the_tree_passes() -> None:
    result = check(ROOT / "src")
    assert result.returncode == 0, result.stderr


def test_a_cycle_fails(tmp_path: Path) -> None:
    # queue uses future's Link through the bridge's re-export: a cycle.
    result = check(with_line(tmp_path, "bridge/queue.rs", "use super::Link;"))
    assert result.returncode == 1
    assert "import cycle: bridge/future -> bridge/queue -> bridge/future" in result.stderr


def test_pyo3_in_the_engine_fails(tmp_path: Path) -> None:
    result = check(with_line(tmp_path, "http/retry.rs", "use pyo3::prelude::*;"))
    assert result.returncode == 1
    assert "http/retry.rs: uses pyo3" in result.stderr


def test_an_arrow_up_fails(tmp_path: Path) -> None:
    result = check(with_line(tmp_path, "bridge/inbox.rs", "use crate::gather::gather;"))
    assert result.returncode == 1
    assert "bridge/inbox -> gather: bridge may not use gather" in result.stderr


def test_a_part_the_architecture_table_does_not_list_fails(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src)
    (src / "stopwatch.rs").write_text("use crate::bridge::Job;\n")
    result = check(src)
    assert result.returncode == 1
    assert "src/stopwatch: a part docs/architecture.md's table does not list" in result.stderr
