"""Fixtures for the server tests: a test CA, and `reload-safe serve` processes to share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import fixtures_shared
from tests.server.harness import CONFIGMAPS, Pki, Server

# The session's test CA, serving certificate and `start_server`: shared with tests/reliability.
pki = fixtures_shared.pki
serving_files = fixtures_shared.serving_files
start_server = fixtures_shared.start_server

MODES = ("enforce", "warn", "audit", "off")


@pytest.fixture(scope="session")
def mode_servers(
    pki: Pki, serving_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """One static-source server per namespace mode, started together.

    The enforce server takes every setting from RELOAD_SAFE_* variables instead of flags,
    which checks that each flag has its environment variable.
    """
    cert, key = serving_files
    servers: dict[str, Server] = {}
    for mode in MODES:
        workdir = tmp_path_factory.mktemp(f"serve-{mode}")
        audit = workdir / "audit.jsonl"
        if mode == "enforce":
            env = {
                "RELOAD_SAFE_CERT_FILE": str(cert),
                "RELOAD_SAFE_KEY_FILE": str(key),
                "RELOAD_SAFE_SOURCE": "static",
                "RELOAD_SAFE_CONFIGMAPS": str(CONFIGMAPS),
                "RELOAD_SAFE_NAMESPACE_POLICY": mode,
                "RELOAD_SAFE_AUDIT_FILE": str(audit),
                "RELOAD_SAFE_THREADS": "4",
            }
            args: list[str] = []
        else:
            env = {}
            args = [
                "--cert-file", str(cert), "--key-file", str(key),
                "--source", "static", "--configmaps", str(CONFIGMAPS),
                "--namespace-policy", mode, "--audit-file", str(audit),
                "--threads", "4",
            ]  # fmt: skip
        servers[mode] = Server(workdir=workdir, ca_file=pki.ca_file, args=args, env=env)
    try:
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
