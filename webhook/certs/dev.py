"""Certificates for `reload-safe serve --dev`: a local CA and a certificate for loopback.

A developer running the webhook on their machine (or the end-to-end tests registering it by
URL) needs a serving certificate for `localhost`/`127.0.0.1` and the CA to put into `caBundle`.
Reusing the files across runs keeps an already registered `caBundle` valid.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from webhook.certs.files import BundlePaths, read_material, write_bundle
from webhook.certs.generate import Identity
from webhook.certs.renew import RenewalPolicy, ensure_bundle

DEFAULT_DEV_DIRECTORY: Final = Path("certs")
DEV_IDENTITY: Final = Identity(
    dns_names=("localhost",),
    ip_addresses=(ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")),
)


@dataclass(frozen=True, kw_only=True)
class DevCertificates:
    """Paths to hand to the TLS server (cert/key) and to clients or `caBundle` (ca)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    created: bool


def ensure_dev_certificates(directory: Path = DEFAULT_DEV_DIRECTORY, *, now: datetime | None = None) -> DevCertificates:
    """Create (or renew, when expiring) a loopback CA + serving certificate in `directory`."""
    paths = BundlePaths.in_directory(directory)
    outcome = ensure_bundle(
        stored=read_material(paths=paths),
        identity=DEV_IDENTITY,
        policy=RenewalPolicy(),
        now=now or datetime.now(UTC),
    )
    if outcome.changed:
        write_bundle(paths=paths, bundle=outcome.bundle)
    return DevCertificates(
        ca_file=paths.ca_cert,
        cert_file=paths.tls_cert,
        key_file=paths.tls_key,
        created=outcome.changed,
    )
