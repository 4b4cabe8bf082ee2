"""Fixtures for the offline commands: run `reload-safe` in-process and write manifests to disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from webhook.cli.main import cli

Run = Callable[..., Result]
Write = Callable[..., Path]


@pytest.fixture
def run() -> Run:
    """`run("scan", "x.yaml", input=...)`: the whole `reload-safe` group, lazy loading included."""

    def invoke(*args: str, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
        assert "Traceback" not in result.stderr
        return result

    return invoke


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """`write("a/b.yaml", text)`: a file under tmp_path, dedented, parents created."""

    def make(name: str, text: str = "", *, raw: bytes | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return make
