"""Fixtures for the reliability tests, and the rule that keeps the long runs out of `make test`.

Tests marked `slow` (the ten-minute soak, the long fuzz campaign) are skipped unless the run
selects them with `-m slow` (as `make reliability` does) or sets `RELOAD_SAFE_SLOW=1`. Their
quick versions carry no mark and run in every `pytest -q`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.figures import figures_file, recorded
from tests.reliability.probes import wait_workers
from tests.server import fixtures_shared
from tests.server.fixtures_shared import static_args
from tests.server.harness import Pki, Server

# Bound here for pytest to offer them to this folder: tests/server's CA and serving certificate fixtures.
pki = fixtures_shared.pki
serving_files = fixtures_shared.serving_files
start_server = fixtures_shared.start_server

HERE = Path(__file__).parent


def slow_selected(config: pytest.Config) -> bool:
    """`-m slow` (or any expression naming `slow` positively), or RELOAD_SAFE_SLOW=1."""
    if os.environ.get("RELOAD_SAFE_SLOW") == "1":
        return True
    expression = str(config.getoption("markexpr") or "")
    return "slow" in expression and "not slow" not in expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if slow_selected(config):
        return
    skip = pytest.mark.skip(reason="slow: run with `make reliability` (-m slow) or RELOAD_SAFE_SLOW=1")
    for item in items:
        if HERE in Path(str(item.path)).parents and item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = recorded()
    if not figures:
        return
    terminalreporter.section("reliability figures")
    for entry in figures:
        values = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("test", "at"))
        terminalreporter.write_line(f"{entry['test']}: {values}")
    terminalreporter.write_line(f"(also appended to {figures_file()})")


@pytest.fixture(scope="module")
def enforce_server(
    pki: Pki, serving_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One enforce-mode server (one worker, the defaults) shared by a module."""
    workdir = tmp_path_factory.mktemp("enforce")
    server = Server(
        workdir=workdir,
        ca_file=pki.ca_file,
        args=static_args(serving_files, "--namespace-policy", "enforce", "--audit-file", str(workdir / "audit.jsonl")),
    )
    try:
        server.wait_ready()
        wait_workers(server, 1)
        yield server
    finally:
        server.stop()
