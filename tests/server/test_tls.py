"""The reloading TLS context: at most one check per interval, never a broken pair."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from tests.server.harness import Pki
from webhook.server.sockets import DeadlineSSLSocket
from webhook.server.tls import CHECK_INTERVAL, CertificateError, CertificateFiles, ReloadingTLS


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


def files_in(directory: Path) -> CertificateFiles:
    return CertificateFiles(cert_file=directory / "tls.crt", key_file=directory / "tls.key")


def test_context_is_rebuilt_only_after_a_change_and_the_interval(pki: Pki, tmp_path: Path) -> None:
    directory = tmp_path / "serving"
    pki.write_serving(directory, days=30)
    clock = Clock()
    loaded: list[float] = []
    tls = ReloadingTLS(files_in(directory), on_loaded=loaded.append, clock=clock)
    tls.load()
    first = tls.context()
    assert first.minimum_version is ssl.TLSVersion.TLSv1_2
    assert first.sslsocket_class is DeadlineSSLSocket
    assert tls.loaded

    clock.now += CHECK_INTERVAL + 0.1
    assert tls.context() is first  # nothing changed on disk

    pki.write_serving(directory, days=60)
    assert tls.context() is first  # changed, but checked less than CHECK_INTERVAL ago
    clock.now += CHECK_INTERVAL + 0.1
    second = tls.context()
    assert second is not first
    assert len(loaded) == 2
    assert loaded[1] > loaded[0] + 25 * 86400
    assert tls.not_after == loaded[1]


def test_a_mismatched_pair_keeps_the_previous_context(pki: Pki, tmp_path: Path) -> None:
    directory = tmp_path / "serving"
    pki.write_serving(directory)
    clock = Clock()
    failures: list[None] = []
    tls = ReloadingTLS(files_in(directory), on_failed=lambda: failures.append(None), clock=clock)
    tls.load()
    first = tls.context()

    (directory / "tls.key").write_bytes(pki.serving().private_key_pem())  # new key, old certificate
    clock.now += CHECK_INTERVAL + 0.1
    assert tls.context() is first
    assert len(failures) == 1
    clock.now += CHECK_INTERVAL + 0.1
    assert tls.context() is first
    assert len(failures) == 1  # the same broken state is not retried (or logged) again

    pair = pki.serving()
    (directory / "tls.key").write_bytes(pair.private_key_pem())
    (directory / "tls.crt").write_bytes(pair.certificate_pem())
    clock.now += CHECK_INTERVAL + 0.1
    assert tls.context() is not first


def test_a_swapped_symlink_is_a_change(pki: Pki, tmp_path: Path) -> None:
    pki.write_serving(tmp_path / "v1")
    pki.write_serving(tmp_path / "v2")
    os.symlink("v1", tmp_path / "current")
    clock = Clock()
    tls = ReloadingTLS(files_in(tmp_path / "current"), clock=clock)
    tls.load()
    first = tls.context()
    os.symlink("v2", tmp_path / "next")
    os.replace(tmp_path / "next", tmp_path / "current")
    clock.now += CHECK_INTERVAL + 0.1
    assert tls.context() is not first


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    with pytest.raises(CertificateError):
        ReloadingTLS(files_in(tmp_path)).load()
    with pytest.raises(CertificateError):
        ReloadingTLS(files_in(tmp_path / "missing")).load()


def test_client_ca_requires_client_certificates(pki: Pki, tmp_path: Path) -> None:
    pki.write_serving(tmp_path)
    files = CertificateFiles(cert_file=tmp_path / "tls.crt", key_file=tmp_path / "tls.key", client_ca_file=pki.ca_file)
    tls = ReloadingTLS(files)
    tls.load()
    assert tls.context().verify_mode is ssl.CERT_REQUIRED
