"""Start a real `reload-safe serve` process and talk to it over verified TLS.

The client verifies the server certificate against the test CA and the name `localhost`,
as the API server verifies a webhook against its `caBundle`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.https import VerifiedConnection
from tests.support.polling import eventually
from webhook.certs.dev import DEV_IDENTITY
from webhook.certs.generate import KeyPair, create_ca, create_serving

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGMAPS = FIXTURES / "configmaps.yaml"
SERVER_NAME = "localhost"
HOST = "127.0.0.1"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def fixture_bytes(name: str, *, uid: str | None = None) -> bytes:
    body = fixture(name)
    if uid is not None:
        body["request"]["uid"] = uid
    return json.dumps(body).encode()


# --- certificates -------------------------------------------------------------------------


@dataclass
class Pki:
    """A CA and helpers to issue serving and client certificates into files."""

    directory: Path
    ca: KeyPair = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = create_ca(now=datetime.now(UTC), validity=timedelta(days=365))
        (self.directory / "ca.crt").write_bytes(self.ca.certificate_pem())

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    def serving(self, *, days: int = 30) -> KeyPair:
        return create_serving(ca=self.ca, identity=DEV_IDENTITY, now=datetime.now(UTC), validity=timedelta(days=days))

    def write_serving(self, directory: Path, *, days: int = 30) -> KeyPair:
        pair = self.serving(days=days)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "tls.key").write_bytes(pair.private_key_pem())
        (directory / "tls.crt").write_bytes(pair.certificate_pem())
        return pair

    def client(self, directory: Path, *, name: str = "kube-apiserver") -> tuple[Path, Path]:
        """A clientAuth certificate signed by this CA (as the API server's webhook client)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.ca.private_key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = directory / "client.crt", directory / "client.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file


def fingerprint(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def pem_fingerprint(pair: KeyPair) -> str:
    return pair.certificate.fingerprint(hashes.SHA256()).hex()


# --- the server process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def serve_command() -> list[str]:
    """The installed `reload-safe` script beside this interpreter, or the same entry point."""
    script = Path(sys.executable).parent / "reload-safe"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-c", "from webhook.cli.main import cli; cli()", "serve"]


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    """One `reload-safe serve` process: started, probed, stopped, its logs kept."""

    def __init__(
        self,
        *,
        workdir: Path,
        ca_file: Path,
        args: Sequence[str],
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        client_cert: tuple[Path, Path] | None = None,
        stdout_pipe: bool = False,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.ca_file = ca_file
        self.client_cert = client_cert
        self.stderr_path = workdir / "server.stderr"
        self.stdout_path = workdir / "server.stdout"
        workdir.mkdir(parents=True, exist_ok=True)
        inherited = ("POD_NAMESPACE",)
        full_env = {k: v for k, v in os.environ.items() if k not in inherited and not k.startswith("RELOAD_SAFE_")}
        full_env.update(env or {})
        self._stderr = self.stderr_path.open("wb")
        self._stdout = None if stdout_pipe else self.stdout_path.open("wb")
        self.process = subprocess.Popen(
            [*(command or serve_command()), "--port", str(self.port), *args],
            cwd=workdir,
            env=full_env,
            stdout=subprocess.PIPE if stdout_pipe else self._stdout,
            stderr=self._stderr,
        )

    # -- lifecycle

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until /readyz answers 200; an exit of the process fails at once, with its stderr."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.stderr()}")
            try:
                return self.get("/readyz").status == 200
            except (OSError, http.client.HTTPException):
                return False

        try:
            eventually(ready, timeout=timeout, interval=0.1, what="/readyz 200")
        except AssertionError as error:
            raise TimeoutError(f"server not ready ({error}):\n{self.stderr()}") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self._stderr.close()
        if self._stdout is not None:
            self._stdout.close()
        return code

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    # -- clients

    def client_context(self, *, with_client_cert: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if with_client_cert and self.client_cert is not None:
            context.load_cert_chain(*map(str, self.client_cert))
        return context

    def connection(
        self, *, timeout: float = 10.0, context: ssl.SSLContext | None = None
    ) -> http.client.HTTPSConnection:
        """A connection to 127.0.0.1 that verifies the certificate for `localhost`."""
        return VerifiedConnection(
            HOST, self.port, tls_name=SERVER_NAME, context=context or self.client_context(), timeout=timeout
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = "application/json",
    ) -> Response:
        conn = self.connection()
        try:
            all_headers = dict(headers or {})
            if content_type is not None and body is not None:
                all_headers.setdefault("Content-Type", content_type)
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return Response(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: bytes, **kwargs: Any) -> Response:
        return self.request("POST", path, body, **kwargs)

    def metrics(self) -> dict[str, float]:
        """`name{labels}` → value, for the reload_safe_ samples."""
        samples: dict[str, float] = {}
        for line in self.get("/metrics").body.decode().splitlines():
            if line.startswith("reload_safe_"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    @contextlib.contextmanager
    def raw_tls(self, *, timeout: float = 10.0) -> Iterator[ssl.SSLSocket]:
        raw = socket.create_connection((HOST, self.port), timeout=timeout)
        tls = self.client_context().wrap_socket(raw, server_hostname=SERVER_NAME)
        try:
            yield tls
        finally:
            tls.close()


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
