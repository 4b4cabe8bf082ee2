"""One command run in its own process group, its output in a log file.

The webhook server, the rollout controller and the benchmark's servers are all started this
way: a process group, so that stopping it (SIGTERM, as the kubelet does; SIGKILL after a grace
period) reaches a gunicorn master and its workers alike.

The servers among them (the webhook server of the end-to-end tests, the benchmark's two
servers) are a `TlsServer`: started, awaited and asked over HTTPS the same way, the certificate
verified against the test CA as a client of the webhook would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tests.support.https import VerifiedConnection
from tests.support.polling import eventually, scaled

REPO: Final = Path(__file__).resolve().parents[2]


class ProcessGroup:
    def __init__(self, *, name: str, log_file: Path) -> None:
        self.name = name
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} not started"
        return self.process.pid

    def spawn(self, argv: Sequence[str]) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                list(argv), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
            )

    def check_alive(self) -> None:
        """Raise, with the end of its log, when the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.process.returncode}:\n{self.log_tail()}")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, *, kill: bool = False, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class TlsServer(ProcessGroup):
    """A server process group answering HTTPS on 127.0.0.1:`port` with a certificate that the CA in
    `ca_file` signed for `tls_name`, and saying on /readyz when it is ready."""

    def __init__(self, *, name: str, log_file: Path, port: int, ca_file: Path, tls_name: str = "127.0.0.1") -> None:
        super().__init__(name=name, log_file=log_file)
        self.port = port
        self.ca_file = ca_file
        self.tls_name = tls_name
        """The name the client verifies the serving certificate for (SNI and hostname check)."""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def serve(self, argv: Sequence[str], *, timeout: float) -> None:
        """Spawn `argv` and wait until ready; if that fails (not ready in time, the process died,
        or an interrupt), stop the group first, so that no half-started server is left behind."""
        self.spawn(argv)
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def fetch(self, path: str) -> tuple[int, bytes]:
        """GET over TLS, verifying the certificate against the CA for `tls_name`; any status is
        returned, not raised, since a not-yet-ready 503 is an answer too."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        connection = VerifiedConnection("127.0.0.1", self.port, tls_name=self.tls_name, context=context, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def wait_ready(self, *, timeout: float) -> None:
        """Ask /readyz every 0.2 s until `readiness` says ready, or raise after `timeout` s.

        The error carries the last answer (or connection or TLS error) and the end of the log,
        since a server that never gets ready is only diagnosed by both; an exit of the process
        fails at once (`check_alive`) rather than after the whole timeout.
        """
        last = ""

        def ready() -> bool:
            nonlocal last
            self.check_alive()
            try:
                status, body = self.fetch("/readyz")
            except (OSError, ssl.SSLError) as error:
                last = str(error)
                return False
            seen = self.readiness(status, body)
            last = seen or ""
            return seen is None

        try:
            eventually(ready, timeout=timeout, interval=0.2, what=f"{self.name} ready")
        except AssertionError:
            raise RuntimeError(
                f"{self.name} not ready after {scaled(timeout):.0f}s ({last}):\n{self.log_tail()}"
            ) from None

    def readiness(self, status: int, body: bytes) -> str | None:
        """None when this /readyz answer means ready, else how to show it in the error."""
        return None if status == 200 else f"{status} {body.decode()}"
