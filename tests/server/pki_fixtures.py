"""The test CA and a serving certificate it signed, as pytest fixtures for the suites that start
`reload-safe serve` processes (tests/server, tests/reliability).

Each suite's conftest binds both fixtures to names of its own (pytest finds fixtures by name in
a conftest), so that each suite still gets its own session-scoped CA, as when each defined them,
while the code that makes them stays in one place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.harness import Pki

__all__ = ["pki", "serving_files"]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def serving_files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The serving certificate and key files (tls.crt, tls.key) for the development identity."""
    directory = tmp_path_factory.mktemp("serving")
    pki.write_serving(directory)
    return directory / "tls.crt", directory / "tls.key"
