"""Create the webhook's CA and serving certificate with nothing but `cryptography`.

The API server only talks to an admission webhook over TLS, and it verifies the serving
certificate against the `caBundle` of the webhook configuration. A private CA per installation
keeps that bundle stable: the serving certificate can be rotated (same CA, new key) without
touching the webhook configurations, so rotation never opens a window where the API server
cannot reach the webhook.

ECDSA P-256 keeps keys small and handshakes cheap; every supported API server accepts it.
This module is pure: it never reads files, clocks or the cluster. Callers pass `now`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ORGANIZATION: Final = "reload-safe"
CA_COMMON_NAME: Final = "reload-safe webhook CA"
CLOCK_SKEW: Final = timedelta(minutes=5)
"""Certificates start this much in the past, so a node whose clock lags still accepts them."""


@dataclass(frozen=True, kw_only=True)
class Identity:
    """The names a serving certificate must answer to (its subjectAltNames)."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[IPAddress, ...] = ()

    @property
    def common_name(self) -> str:
        """The first name; kept only for humans reading the certificate (SANs are what counts)."""
        if self.dns_names:
            return self.dns_names[0]
        return str(self.ip_addresses[0]) if self.ip_addresses else "reload-safe"


def service_identity(
    *,
    service: str,
    namespace: str,
    extra_dns: tuple[str, ...] = (),
    extra_ips: tuple[str, ...] = (),
) -> Identity:
    """Every name the API server may use for a Service, plus extras (e.g. a loopback address).

    The API server dials `<service>.<namespace>.svc`; the other forms cover clients inside the
    namespace, fully qualified lookups and `kubectl port-forward` users.
    """
    names = (
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        *extra_dns,
    )
    return Identity(
        dns_names=tuple(dict.fromkeys(names)),
        ip_addresses=tuple(dict.fromkeys(parse_ip(text=ip) for ip in extra_ips)),
    )


def parse_ip(*, text: str) -> IPAddress:
    """Parse an IP address, raising ValueError with the offending text."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an IP address: {text!r}") from exc


@dataclass(frozen=True, kw_only=True)
class KeyPair:
    """A certificate and the private key that goes with it."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        """PKCS#8, unencrypted: the key files are protected by mode 0600 / Secret RBAC instead."""
        return self.private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        )


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """The CA and the serving certificate it signed."""

    ca: KeyPair
    serving: KeyPair


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(*, now: datetime, validity: timedelta, common_name: str = CA_COMMON_NAME) -> KeyPair:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = new_private_key()
    name = _name(common_name=common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(certificate=certificate, private_key=key)


def create_serving(*, ca: KeyPair, identity: Identity, now: datetime, validity: timedelta) -> KeyPair:
    """A serverAuth leaf for `identity`, signed by `ca`.

    It never outlives its CA: a leaf valid past its issuer would fail verification anyway, and
    capping it makes the renewal logic see the real deadline.
    """
    if not identity.dns_names and not identity.ip_addresses:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    key = new_private_key()
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    not_after = min(now + validity, ca.certificate.not_valid_after_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in identity.dns_names]
    sans += [x509.IPAddress(ip) for ip in identity.ip_addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name=identity.common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return KeyPair(certificate=certificate, private_key=key)


def load_key_pair(*, certificate_pem: bytes, private_key_pem: bytes) -> KeyPair:
    """Parse PEM data; ValueError when it is not an ECDSA/P-256-style key pair that matches."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("private key is not an ECDSA key")
    if key.public_key() != certificate.public_key():
        raise ValueError("private key does not match the certificate")
    return KeyPair(certificate=certificate, private_key=key)


def _name(*, common_name: str) -> x509.Name:
    # CN is limited to 64 characters by RFC 5280; SANs carry the real names.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
