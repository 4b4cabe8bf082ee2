"""The serving certificate, reloaded from disk while the server runs.

Kubernetes rotates a mounted Secret by pointing a `..data` symlink at a new directory;
cert-manager or `reload-safe certs` may also rewrite the files in place. gunicorn asks the
`ssl_context` hook for a context on every new connection, so this module keeps one built
context and, at most once per `CHECK_INTERVAL`, compares the files' identity (device, inode,
size, mtime, ctime, following symlinks) with the one it was built from. On a change it builds
a new context; connections already open keep the old one, new connections get the new one.

A change may be half done (a new key next to the old certificate while a writer replaces the
two files one after the other). Building a context from a mismatched pair fails; the server
then keeps serving the previous pair and tries again at the next check, so a rotation never
fails a handshake. Only the first load, at start-up, is allowed to fail (and stops the server).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509

from webhook.server.sockets import DeadlineSSLSocket

CHECK_INTERVAL: Final = 1.0
TLS12_CIPHERS: Final = ":".join(
    (
        # Mozilla "intermediate": forward secrecy and AEAD only. TLS 1.3 suites are always on.
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)

log = logging.getLogger(__name__)

FileIdentity = tuple[tuple[int, int, int, int, int] | None, ...]


class CertificateError(RuntimeError):
    """The certificate files cannot be turned into a TLS context."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def identity(self) -> FileIdentity:
        return tuple(_stat(path) for path in (self.cert_file, self.key_file, self.client_ca_file))


def build_context(files: CertificateFiles) -> tuple[ssl.SSLContext, float]:
    """A server context (TLS 1.2+, modern ciphers) and the certificate's notAfter (Unix time)."""
    try:
        leaf = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(TLS12_CIPHERS)
        context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
        context.load_cert_chain(certfile=files.cert_file, keyfile=files.key_file)
        if files.client_ca_file is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=files.client_ca_file)
        context.set_alpn_protocols(["http/1.1"])
        context.sslsocket_class = DeadlineSSLSocket
    except (OSError, ValueError, ssl.SSLError) as error:
        raise CertificateError(f"cannot load the serving certificate: {error}") from error
    return context, leaf.not_valid_after_utc.timestamp()


class ReloadingTLS:
    """Hands out the current SSLContext; rebuilds it when the files change on disk."""

    def __init__(
        self,
        files: CertificateFiles,
        *,
        on_loaded: Callable[[float], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = files
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._clock = clock
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._identity: FileIdentity | None = None
        self._failed_identity: FileIdentity | None = None
        self._not_after: float | None = None
        self._next_check = 0.0

    @property
    def loaded(self) -> bool:
        return self._context is not None

    @property
    def not_after(self) -> float | None:
        return self._not_after

    def load(self) -> None:
        """The first load: failure raises `CertificateError` (the server must not start)."""
        with self._lock:
            identity = self._files.identity()
            context, not_after = build_context(self._files)
            self._install(context, not_after, identity)

    def after_fork(
        self,
        *,
        on_loaded: Callable[[float], None],
        on_failed: Callable[[], None],
        on_in_use: Callable[[float], None],
    ) -> None:
        """In a new worker: a fresh lock (never inherit one held at fork) and its own metrics.

        `on_loaded` / `on_failed` report each reload; `on_in_use` gets the notAfter of the
        certificate inherited from the master, once.
        """
        self._lock = threading.Lock()
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        if self._not_after is not None:
            on_in_use(self._not_after)

    def context(self) -> ssl.SSLContext:
        """The context for a new connection (gunicorn calls this per connection)."""
        if self._context is None or self._clock() >= self._next_check:
            self._maybe_reload()
        if self._context is None:
            raise CertificateError("no serving certificate loaded")
        return self._context

    def gunicorn_ssl_context(self, config: Any, default_ssl_context_factory: Any) -> ssl.SSLContext:
        """gunicorn's `ssl_context(config, default_ssl_context_factory)` hook."""
        return self.context()

    def _maybe_reload(self) -> None:
        with self._lock:
            now = self._clock()
            if self._context is not None and now < self._next_check:
                return
            self._next_check = now + CHECK_INTERVAL
            identity = self._files.identity()
            if identity in (self._identity, self._failed_identity):
                return
            try:
                context, not_after = build_context(self._files)
            except CertificateError as error:
                # Keep serving the previous pair; a half-finished rotation settles by itself.
                self._failed_identity = identity
                log.warning("%s; still serving the previous certificate", error)
                if self._on_failed is not None:
                    self._on_failed()
                return
            self._install(context, not_after, identity)
            log.info("serving certificate (re)loaded from %s", self._files.cert_file)

    def _install(self, context: ssl.SSLContext, not_after: float, identity: FileIdentity) -> None:
        self._context = context
        self._not_after = not_after
        self._identity = identity
        self._failed_identity = None
        if self._on_loaded is not None:
            self._on_loaded(not_after)


def _stat(path: Path | None) -> tuple[int, int, int, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)  # follows symlinks: a swapped `..data` link changes the inode
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
