"""help() shows what the stubs say: the docstring of every public native
function, class and method is the one in ``fastio/_fastio.pyi``, and every
public callable has a signature ``inspect`` can read."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fastio
from fastio import _fastio

STUB = Path(_fastio.__file__).with_name("_fastio.pyi")


def documented() -> Iterator[tuple[str, Any, str]]:
    """(name, runtime object, stub docstring) for each public native item."""
    for node in ast.parse(STUB.read_text()).body:
        if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.name.startswith("_"):
            continue
        if doc := ast.get_docstring(node):
            yield node.name, getattr(_fastio, node.name), doc
        members = node.body if isinstance(node, ast.ClassDef) else []
        for member in members:
            if not isinstance(member, ast.FunctionDef) or member.name.startswith("_"):
                continue
            if doc := ast.get_docstring(member):
                owner = getattr(_fastio, node.name)
                yield f"{node.name}.{member.name}", getattr(owner, member.name), doc


@pytest.mark.parametrize(("name", "item", "doc"), list(documented()))
def test_help_shows_the_stub_docstring(name: str, item: Any, doc: str) -> None:
    assert inspect.getdoc(item) == doc, name


@pytest.mark.parametrize(
    "function",
    [
        fastio.fetch,
        fastio.fetch_all,
        fastio.fetch_iter,
        fastio.sleep,
        fastio.gather,
        fastio.configure_runtime,
        fastio.Client.get,
        fastio.Client.request,
        fastio.Client.fetch_all,
        fastio.Response.aiter_bytes,
        fastio.Response.json,
    ],
)
def test_every_public_callable_has_a_signature(function: Any) -> None:
    assert inspect.signature(function).parameters is not None
