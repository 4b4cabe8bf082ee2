"""Start the two servers under test as separate processes, as an operator would.

- `reload-safe serve --source static --configmaps FILE --namespace-policy warn`, with the
  serving certificate and an audit file, and every other setting at its production default
  (gunicorn gthread, one worker × 128 threads, TLS, keep-alive 30 s, log level info);
- `python -m bench.null_server`: the same gunicorn application serving the null app;
- `granian` serving the same null app, and reload-safe's own app (WSGI, TLS, one process):
  the HTTP server comparison.

Each runs in its own process group, so stopping it (SIGTERM, as the kubelet does) reaches the
master and its workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.null_server import serve_default
from bench.procs import children
from tests.e2e.process import REPO, TlsServer


class Server(TlsServer):
    """One server process tree listening on `port` on every address (as in production)."""

    def __init__(self, *, name: str, argv: list[str], port: int, ca_file: Path, log_file: Path) -> None:
        super().__init__(name=name, log_file=log_file, port=port, ca_file=ca_file)
        self.workers = int(serve_default("workers"))
        self.argv = argv

    def start(self, *, timeout: float = 60.0) -> Server:
        self.serve(self.argv, timeout=timeout)
        return self

    def get(self, path: str) -> tuple[int, bytes]:
        return self.fetch(path)

    def readiness(self, status: int, body: bytes) -> str | None:
        """/readyz answers 200 and every worker has started (a load on a half-started server
        would pin its keep-alive connections to the first worker)."""
        started = len(children(self.pid))
        if status == 200 and started >= self.workers and self._workers_ready(started):
            return None
        return f"{status} {body[:200]!r}"

    def _workers_ready(self, started: int) -> bool:
        """Each worker says it is ready (gunicorn logs "Booting worker", then the app loads)."""
        return self.log_file.read_text(errors="replace").count("Booting worker") >= started


def reload_safe(
    *, port: int, cert_file: Path, key_file: Path, ca_file: Path, configmaps: Path, audit_file: Path, log_file: Path
) -> Server:
    argv = [
        sys.executable,
        "-m",
        "webhook",
        "serve",
        "--port",
        str(port),
        "--cert-file",
        str(cert_file),
        "--key-file",
        str(key_file),
        "--source",
        "static",
        "--configmaps",
        str(configmaps),
        "--namespace-policy",
        "warn",
        "--audit-file",
        str(audit_file),
    ]
    return Server(name="reload-safe", argv=argv, port=port, ca_file=ca_file, log_file=log_file)


def null_webhook(*, port: int, cert_file: Path, key_file: Path, ca_file: Path, log_file: Path) -> Server:
    argv = [
        sys.executable,
        "-m",
        "bench.null_server",
        "--port",
        str(port),
        "--cert-file",
        str(cert_file),
        "--key-file",
        str(key_file),
    ]
    return Server(name="null", argv=argv, port=port, ca_file=ca_file, log_file=log_file)


GRANIAN_THREADS = 32
"""granian's WSGI blocking threads: four times the max-throughput attack's 8 connections."""


class GranianServer(Server):
    """granian: one process, no gunicorn log lines to wait for; settings for the app it loads
    come from the environment (granian passes its target no arguments)."""

    def __init__(self, *, env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env = env

    def readiness(self, status: int, body: bytes) -> str | None:
        return None if status == 200 else f"{status} {body[:200]!r}"

    def spawn(self, argv: Sequence[str]) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO,
                env={**os.environ, **self.env},
            )


def granian_path() -> str | None:
    """The granian executable beside this Python, or None where it is not installed."""
    beside = Path(sys.executable).parent / "granian"
    return str(beside) if beside.exists() else shutil.which("granian")


def null_granian(*, port: int, cert_file: Path, key_file: Path, ca_file: Path, log_file: Path) -> Server | None:
    """The null webhook on granian, or None when granian is not installed (`pip install granian`)."""
    return _granian(
        "bench.granian_null:app", name="null-granian", env={}, port=port, cert_file=cert_file, key_file=key_file,
        ca_file=ca_file, log_file=log_file,
    )  # fmt: skip


def reload_safe_granian(
    *, port: int, cert_file: Path, key_file: Path, ca_file: Path, configmaps: Path, audit_file: Path, log_file: Path
) -> Server | None:
    """reload-safe's own app on granian (bench/granian_app.py), or None without granian."""
    env = {"BENCH_CONFIGMAPS": str(configmaps), "BENCH_AUDIT_FILE": str(audit_file)}
    return _granian(
        "bench.granian_app:app", name="rs-granian", env=env, port=port, cert_file=cert_file, key_file=key_file,
        ca_file=ca_file, log_file=log_file,
    )  # fmt: skip


def _granian(
    target: str, *, name: str, env: dict[str, str], port: int, cert_file: Path, key_file: Path, ca_file: Path,
    log_file: Path,
) -> Server | None:  # fmt: skip
    granian = granian_path()
    if granian is None:
        return None
    argv = [
        granian,
        "--interface", "wsgi",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
        "--blocking-threads", str(GRANIAN_THREADS),
        "--ssl-certificate", str(cert_file),
        "--ssl-keyfile", str(key_file),
        "--ssl-protocol-min", "tls1.2",
        "--no-access-log",
        target,
    ]  # fmt: skip
    return GranianServer(name=name, env=env, argv=argv, port=port, ca_file=ca_file, log_file=log_file)
