"""Key files are private from their first byte and replaced atomically."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from webhook.certs.dev import DEV_IDENTITY, ensure_dev_certificates
from webhook.certs.files import BundlePaths, read_material, write_atomic, write_bundle
from webhook.certs.generate import Identity
from webhook.certs.renew import PemMaterial, RenewalPolicy, ensure_bundle
from webhook.certs.validity import is_signed_by, missing_names


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask of 0 must not leak into key files."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_key_files_are_0600_certificates_0644(
    tmp_path: Path, identity: Identity, policy: RenewalPolicy, now: datetime
) -> None:
    outcome = ensure_bundle(stored=PemMaterial(), identity=identity, policy=policy, now=now)
    paths = BundlePaths.in_directory(tmp_path / "out")
    write_bundle(paths=paths, bundle=outcome.bundle)
    assert mode(paths.ca_key) == 0o600
    assert mode(paths.tls_key) == 0o600
    assert mode(paths.ca_cert) == 0o644
    assert mode(paths.tls_cert) == 0o644
    assert read_material(paths=paths).tls_cert == outcome.bundle.serving.certificate_pem()


def test_rewrite_replaces_file_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "tls.key"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic(path=target, data=b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.key"]


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "tls.key"
    target.write_bytes(b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path=target, data=b"new", mode=0o600)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.key"]


def test_read_material_of_empty_directory(tmp_path: Path) -> None:
    assert read_material(paths=BundlePaths.in_directory(tmp_path)) == PemMaterial()


def test_dev_certificates_created_once(tmp_path: Path, now: datetime) -> None:
    directory = tmp_path / "certs"
    first = ensure_dev_certificates(directory, now=now)
    assert first.created
    assert (first.ca_file, first.cert_file, first.key_file) == (
        directory / "ca.crt",
        directory / "tls.crt",
        directory / "tls.key",
    )
    assert mode(first.key_file) == 0o600
    content = first.cert_file.read_bytes()
    second = ensure_dev_certificates(directory, now=now + timedelta(days=10))
    assert not second.created
    assert second.cert_file.read_bytes() == content


def test_dev_certificate_covers_loopback(tmp_path: Path, now: datetime) -> None:
    dev = ensure_dev_certificates(tmp_path, now=now)
    serving = x509.load_pem_x509_certificate(dev.cert_file.read_bytes())
    ca = x509.load_pem_x509_certificate(dev.ca_file.read_bytes())
    assert missing_names(certificate=serving, identity=DEV_IDENTITY) == []
    assert {str(ip) for ip in DEV_IDENTITY.ip_addresses} == {"127.0.0.1", "::1"}
    assert is_signed_by(certificate=serving, issuer=ca)


def test_dev_certificate_renewed_near_expiry(tmp_path: Path, now: datetime) -> None:
    first = ensure_dev_certificates(tmp_path, now=now)
    ca_before = first.ca_file.read_bytes()
    cert_before = first.cert_file.read_bytes()
    later = ensure_dev_certificates(tmp_path, now=now + timedelta(days=360))
    assert later.created
    assert later.cert_file.read_bytes() != cert_before
    assert later.ca_file.read_bytes() == ca_before
