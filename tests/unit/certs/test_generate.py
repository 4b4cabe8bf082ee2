"""The CA and serving certificate carry what the API server and Pod clients need."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from webhook.certs.files import BundlePaths, write_bundle
from webhook.certs.generate import Bundle, Identity, create_ca, create_serving, service_identity
from webhook.certs.validity import is_signed_by

YEAR = timedelta(days=365)


def make_bundle(*, identity: Identity, now: datetime) -> Bundle:
    ca = create_ca(now=now, validity=10 * YEAR)
    return Bundle(ca=ca, serving=create_serving(ca=ca, identity=identity, now=now, validity=YEAR))


@pytest.mark.parametrize(
    ("extra_dns", "extra_ips", "dns", "ips"),
    [
        pytest.param(
            (),
            (),
            ["rs", "rs.ns", "rs.ns.svc", "rs.ns.svc.cluster.local"],
            [],
            id="service-names-only",
        ),
        pytest.param(
            ("webhook.example.com",),
            ("127.0.0.1", "::1"),
            ["rs", "rs.ns", "rs.ns.svc", "rs.ns.svc.cluster.local", "webhook.example.com"],
            ["127.0.0.1", "::1"],
            id="extras-appended",
        ),
        pytest.param(
            ("rs.ns.svc",),
            ("127.0.0.1", "127.0.0.1"),
            ["rs", "rs.ns", "rs.ns.svc", "rs.ns.svc.cluster.local"],
            ["127.0.0.1"],
            id="duplicates-collapsed",
        ),
    ],
)
def test_serving_certificate_sans(
    now: datetime, extra_dns: tuple[str, ...], extra_ips: tuple[str, ...], dns: list[str], ips: list[str]
) -> None:
    identity = service_identity(service="rs", namespace="ns", extra_dns=extra_dns, extra_ips=extra_ips)
    serving = make_bundle(identity=identity, now=now).serving.certificate
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == dns
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(ip) for ip in ips]


def test_bad_ip_is_rejected() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        service_identity(service="rs", namespace="ns", extra_ips=("localhost",))


def test_serving_signature_verifies_with_ca_public_key(identity: Identity, now: datetime) -> None:
    bundle = make_bundle(identity=identity, now=now)
    serving = bundle.serving.certificate
    ca_key = bundle.ca.certificate.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert serving.signature_hash_algorithm is not None
    ca_key.verify(serving.signature, serving.tbs_certificate_bytes, ec.ECDSA(serving.signature_hash_algorithm))
    assert serving.issuer == bundle.ca.certificate.subject
    assert is_signed_by(certificate=serving, issuer=bundle.ca.certificate)


def test_signature_of_another_ca_does_not_verify(identity: Identity, now: datetime) -> None:
    serving = make_bundle(identity=identity, now=now).serving.certificate
    stranger = create_ca(now=now, validity=YEAR).certificate.public_key()
    assert isinstance(stranger, ec.EllipticCurvePublicKey)
    assert serving.signature_hash_algorithm is not None
    with pytest.raises(InvalidSignature):
        stranger.verify(serving.signature, serving.tbs_certificate_bytes, ec.ECDSA(serving.signature_hash_algorithm))
    other = create_ca(now=now, validity=YEAR).certificate
    assert not is_signed_by(certificate=serving, issuer=other)


def test_ca_extensions(now: datetime) -> None:
    ca = create_ca(now=now, validity=10 * YEAR).certificate
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert ca.issuer == ca.subject
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_serving_extensions(identity: Identity, now: datetime) -> None:
    bundle = make_bundle(identity=identity, now=now)
    serving = bundle.serving.certificate
    assert not serving.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = serving.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    key = serving.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    ca_ski = bundle.ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = serving.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    ski = serving.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(key).digest


@pytest.mark.parametrize(
    ("ca_days", "serving_days", "expected_days"),
    [
        pytest.param(3650, 365, 365, id="ca-outlives-serving"),
        pytest.param(100, 365, 100, id="serving-capped-at-ca-expiry"),
    ],
)
def test_validity_periods(
    identity: Identity, now: datetime, ca_days: int, serving_days: int, expected_days: int
) -> None:
    ca = create_ca(now=now, validity=timedelta(days=ca_days))
    serving = create_serving(ca=ca, identity=identity, now=now, validity=timedelta(days=serving_days)).certificate
    assert serving.not_valid_after_utc == now + timedelta(days=expected_days)
    assert serving.not_valid_before_utc < now  # tolerates clock skew between nodes
    assert ca.certificate.not_valid_after_utc == now + timedelta(days=ca_days)


def test_tls_handshake_verifies_service_name(identity: Identity, tmp_path: Path) -> None:
    """What the API server does: verify the chain with caBundle and dial <svc>.<ns>.svc."""
    bundle = make_bundle(identity=identity, now=datetime.now(UTC))
    paths = BundlePaths.in_directory(tmp_path)
    write_bundle(paths=paths, bundle=bundle)
    assert _handshake(paths=paths, server_name="reload-safe.reload-safe-system.svc") is None
    failure = _handshake(paths=paths, server_name="elsewhere.svc")
    assert failure is not None
    assert "match" in failure or "mismatch" in failure


def _handshake(*, paths: BundlePaths, server_name: str) -> str | None:
    """An in-memory TLS handshake; returns the client's verification error, if any."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certfile=paths.tls_cert, keyfile=paths.tls_key)
    client_ctx = ssl.create_default_context(cafile=str(paths.ca_cert))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for side, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                return str(exc.verify_message)
            except ssl.SSLError:
                if side is client:
                    raise
            peer_in.write(out.read())
        if done == 2:
            return None
    raise AssertionError("handshake did not finish")
