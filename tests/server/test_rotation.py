"""Certificate rotation on disk while requests flow: none fails, the new certificate is served.

Two ways a certificate changes under a running pod, both exercised on one server:

1. Kubernetes updates a mounted Secret by writing a new timestamped directory and swapping the
   `..data` symlink in one rename; `tls.crt` and `tls.key` are symlinks through `..data`.
2. A tool rewrites the files in place, one after the other (here the key first, so for a moment
   the new key sits next to the old certificate: the server must keep the old pair meanwhile).
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.server.harness import Pki, Server, fingerprint, fixture_bytes, pem_fingerprint
from webhook.certs.files import PRIVATE_MODE, PUBLIC_MODE, write_atomic

pytestmark = pytest.mark.server


@dataclass
class Load:
    """Clients that each open a new connection per request, recording what certificate they saw."""

    server: Server
    threads: int = 4
    seen: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._workers = [threading.Thread(target=self._run, args=(i,)) for i in range(self.threads)]

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def _run(self, index: int) -> None:
        n = 0
        deadline = time.monotonic() + 60  # bounded, whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            n += 1
            uid = f"rot-{index}-{n}"
            conn = self.server.connection()
            try:
                conn.request(
                    "POST", "/validate", body=fixture_bytes("deployment-envfrom-create.json", uid=uid),
                    headers={"Content-Type": "application/json", "Connection": "close"},
                )  # fmt: skip
                assert conn.sock is not None
                der = conn.sock.getpeercert(binary_form=True)
                assert der is not None
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or uid.encode() not in body:
                    raise AssertionError(f"HTTP {response.status}")
                with self._lock:
                    self.seen.append((time.monotonic(), fingerprint(der)))
            except (OSError, ssl.SSLError, http.client.HTTPException, AssertionError) as error:
                with self._lock:
                    self.failures.append(f"{uid}: {type(error).__name__}: {error}")
            finally:
                conn.close()

    def since(self, moment: float) -> list[str]:
        with self._lock:
            return [fp for at, fp in self.seen if at >= moment]


def kubelet_layout(directory: Path, pki: Pki, *, days: int) -> tuple[Path, Path, str]:
    """A Secret volume as the kubelet writes it: ..<timestamp>/, ..data -> it, files -> ..data/."""
    pair = pki.write_serving(directory / "..2026_01_01_00_00_00.000000001", days=days)
    os.symlink("..2026_01_01_00_00_00.000000001", directory / "..data")
    for name in ("tls.crt", "tls.key"):
        os.symlink(f"..data/{name}", directory / name)
    return directory / "tls.crt", directory / "tls.key", pem_fingerprint(pair)


def kubelet_swap(directory: Path, pki: Pki, *, days: int, stamp: str) -> str:
    """What the kubelet's atomic writer does: new directory, new link, rename over ..data."""
    pair = pki.write_serving(directory / stamp, days=days)
    os.symlink(stamp, directory / "..data_tmp")
    os.replace(directory / "..data_tmp", directory / "..data")
    return pem_fingerprint(pair)


def rewrite_in_place(directory: Path, pki: Pki, *, days: int) -> str:
    """Replace key, then certificate, each atomically but not together (through ..data)."""
    pair = pki.serving(days=days)
    write_atomic(path=(directory / "..data").resolve() / "tls.key", data=pair.private_key_pem(), mode=PRIVATE_MODE)
    time.sleep(1.3)  # a slow writer: the mismatched pair is on disk for longer than CHECK_INTERVAL
    write_atomic(path=(directory / "..data").resolve() / "tls.crt", data=pair.certificate_pem(), mode=PUBLIC_MODE)
    return pem_fingerprint(pair)


def expiry_gauge(server: Server) -> float:
    return server.metrics()["reload_safe_certificate_expiry_timestamp_seconds"]


def test_rotation_under_load(pki: Pki, tmp_path: Path, start_server: object) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    cert, key, first = kubelet_layout(secret, pki, days=30)
    server = start_server(cert=(cert, key))  # type: ignore[operator]
    first_expiry = expiry_gauge(server)

    with Load(server) as load:
        time.sleep(1.0)
        second = kubelet_swap(secret, pki, days=60, stamp="..2026_02_01_00_00_00.000000002")
        swapped = time.monotonic()
        time.sleep(2.5)
        third = rewrite_in_place(secret, pki, days=90)
        rewritten = time.monotonic()
        time.sleep(2.5)

    total = len(load.seen)
    print(f"\nrequests during rotation: {total} ok, {len(load.failures)} failed")
    assert load.failures == []
    assert total > 50
    seen = [fp for _, fp in load.seen]
    assert seen[0] == first
    # Within CHECK_INTERVAL (1 s) of a change every worker serves the new certificate.
    assert set(load.since(swapped + 1.2)) - {third} == {second}
    assert set(load.since(rewritten + 1.2)) == {third}
    third_expiry = expiry_gauge(server)
    assert third_expiry > first_expiry + 50 * 86400
    samples = server.metrics()
    assert samples['reload_safe_certificate_reloads_total{result="success"}'] >= 2
    # The half-written pair was seen, refused, and the previous certificate kept serving.
    assert samples['reload_safe_certificate_reloads_total{result="failure"}'] >= 1
    assert "still serving the previous certificate" in server.stderr()
