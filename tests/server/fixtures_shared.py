"""The fixtures of the suites that start `reload-safe serve` processes (tests/server,
tests/reliability): the test CA, a serving certificate it signed, and `start_server`, the one
fixture that starts a server of a test's own (`tests.server.harness.Server`, the one launcher of
those suites; the end-to-end suite's `WebhookServer` runs the same command against the loopback
control plane).

Each suite's conftest binds them to names of its own (pytest finds fixtures by name in a
conftest), so that each suite still gets its own session-scoped CA, while the code that makes
them stays in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server.harness import CONFIGMAPS, Pki, Server

__all__ = ["StartServer", "pki", "serving_files", "start_server", "static_args"]

StartServer = Callable[..., Server]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def serving_files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The serving certificate and key files (tls.crt, tls.key) for the development identity."""
    directory = tmp_path_factory.mktemp("serving")
    pki.write_serving(directory)
    return directory / "tls.crt", directory / "tls.key"


def static_args(cert: tuple[Path, Path], *extra: str) -> list[str]:
    """`serve` flags for a static-source server with the test ConfigMaps, then `extra`."""
    cert_file, key_file = cert
    return [
        "--cert-file", str(cert_file), "--key-file", str(key_file),
        "--source", "static", "--configmaps", str(CONFIGMAPS),
        *extra,
    ]  # fmt: skip


@pytest.fixture
def start_server(pki: Pki, serving_files: tuple[Path, Path], tmp_path: Path) -> Iterator[StartServer]:
    """Start a static-source server of one's own (warn mode unless told otherwise); each is
    stopped (SIGTERM) at the end of the test."""
    started: list[Server] = []

    def start(*extra: str, cert: tuple[Path, Path] | None = None, ready: bool = True, **kwargs: object) -> Server:
        server = Server(
            workdir=tmp_path / f"server-{len(started)}",
            ca_file=pki.ca_file,
            args=static_args(cert or serving_files, *extra),
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
