"""Certificates on disk: the layout `serve --cert-file/--key-file` and `certs check` expect.

Files are replaced atomically (write a temporary file in the same directory, fsync, rename),
because the server re-reads its certificate when the file changes: it must never see a
half-written key, or a new certificate next to the old key. Private keys are created with mode
0600 from the first byte on, never chmod-ed afterwards, so there is no window where they are
readable by others.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webhook.certs.generate import Bundle
from webhook.certs.renew import PemMaterial

CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
TLS_CERT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"

PRIVATE_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644


@dataclass(frozen=True, kw_only=True)
class BundlePaths:
    """Where each part of a bundle lives inside a directory."""

    ca_cert: Path
    ca_key: Path
    tls_cert: Path
    tls_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> BundlePaths:
        return cls(
            ca_cert=directory / CA_CERT,
            ca_key=directory / CA_KEY,
            tls_cert=directory / TLS_CERT,
            tls_key=directory / TLS_KEY,
        )


def read_material(*, paths: BundlePaths) -> PemMaterial:
    """Whatever of the four files exists; missing files are None."""
    return PemMaterial(
        ca_cert=_read(paths.ca_cert),
        ca_key=_read(paths.ca_key),
        tls_cert=_read(paths.tls_cert),
        tls_key=_read(paths.tls_key),
    )


def write_bundle(*, paths: BundlePaths, bundle: Bundle) -> None:
    """Write all four files, each atomically.

    The pair tls.crt/tls.key cannot change in one rename, so a reader may briefly see a new key
    next to the old certificate; the server keeps its previous pair until both match again.
    """
    write_atomic(path=paths.ca_key, data=bundle.ca.private_key_pem(), mode=PRIVATE_MODE)
    write_atomic(path=paths.ca_cert, data=bundle.ca.certificate_pem(), mode=PUBLIC_MODE)
    write_atomic(path=paths.tls_key, data=bundle.serving.private_key_pem(), mode=PRIVATE_MODE)
    write_atomic(path=paths.tls_cert, data=bundle.serving.certificate_pem(), mode=PUBLIC_MODE)


def write_atomic(*, path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` in one rename; the file has `mode` from its creation on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates with 0600; fchmod sets the final mode exactly, ignoring the umask.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse to open a directory, which is fine.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
