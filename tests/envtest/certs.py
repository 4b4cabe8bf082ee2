"""Certificates and keys for the loopback control plane.

One throw-away CA signs the API server's serving certificate (IP SAN 127.0.0.1, DNS
localhost), the admin client certificate (group ``system:masters``), and
kube-controller-manager's client certificate (user ``system:kube-controller-manager``, which
the API server's bootstrap RBAC binds to that component's role, so it runs with the
permissions it has in a real cluster, not as an admin) and serving certificate; the API server
trusts that CA for client certificates (``--client-ca-file``). A separate RSA key pair signs
service-account tokens. Everything is written as PEM into one folder.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "CONTROLLER_MANAGER_USER",
    "CertPaths",
    "KeyPair",
    "generate_control_plane_certs",
    "issue_cert",
    "new_ca",
]

ADMIN_USER = "reload-safe-admin"
ADMIN_GROUP = "system:masters"
#: The user bootstrap RBAC grants the ``system:kube-controller-manager`` ClusterRole.
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"

_VALIDITY = dt.timedelta(days=7)
_BACKDATE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both as PEM bytes."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class CertPaths:
    """Where :func:`generate_control_plane_certs` wrote its files."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public_key: Path
    sa_private_key: Path
    controller_manager_cert: Path
    controller_manager_key: Path
    controller_manager_serving_cert: Path
    controller_manager_serving_key: Path


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def new_ca(common_name: str = "reload-safe-envtest-ca") -> tuple[KeyPair, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Return a fresh self-signed CA (PEM pair, key object and certificate object)."""
    key = _ec_key()
    now = dt.datetime.now(dt.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key, cert


def issue_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
) -> KeyPair:
    """Issue a leaf certificate signed by the CA (serving and/or client usage)."""
    key = _ec_key()
    now = dt.datetime.now(dt.UTC)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def generate_control_plane_certs(directory: Path) -> CertPaths:
    """Write CA, API-server serving cert, admin client cert, SA key pair and
    kube-controller-manager's client and serving certs into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key, ca_cert = new_ca()
    serving = issue_cert(
        ca_key,
        ca_cert,
        "kube-apiserver",
        dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        ip_addresses=("127.0.0.1",),
        server=True,
    )
    admin = issue_cert(ca_key, ca_cert, ADMIN_USER, organizations=(ADMIN_GROUP,), client=True)
    kcm = issue_cert(ca_key, ca_cert, CONTROLLER_MANAGER_USER, client=True)
    kcm_serving = issue_cert(
        ca_key, ca_cert, "kube-controller-manager", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return CertPaths(
        dir=directory,
        ca_cert=_write(directory / "ca.crt", ca.cert_pem),
        ca_key=_write(directory / "ca.key", ca.key_pem, private=True),
        serving_cert=_write(directory / "apiserver.crt", serving.cert_pem),
        serving_key=_write(directory / "apiserver.key", serving.key_pem, private=True),
        admin_cert=_write(directory / "admin.crt", admin.cert_pem),
        admin_key=_write(directory / "admin.key", admin.key_pem, private=True),
        sa_public_key=_write(directory / "sa.pub", sa_pub),
        sa_private_key=_write(directory / "sa.key", _key_pem(sa_key), private=True),
        controller_manager_cert=_write(directory / "kube-controller-manager.crt", kcm.cert_pem),
        controller_manager_key=_write(directory / "kube-controller-manager.key", kcm.key_pem, private=True),
        controller_manager_serving_cert=_write(directory / "kube-controller-manager-serving.crt", kcm_serving.cert_pem),
        controller_manager_serving_key=_write(
            directory / "kube-controller-manager-serving.key", kcm_serving.key_pem, private=True
        ),
    )
