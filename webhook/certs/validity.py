"""Judge existing certificates: is each one still good enough to keep?

One set of rules serves both `certs generate`/`certs ensure` (keep or renew) and `certs check`
(report), so what `check` calls healthy is exactly what `ensure` would keep.
Every function returns a list of human-readable problems; empty means fine.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from webhook.certs.generate import Identity, KeyPair


def ca_problems(*, ca: KeyPair, now: datetime, renew_before: timedelta) -> list[str]:
    """Why `ca` should not sign (any more) serving certificates."""
    problems = time_problems(certificate=ca.certificate, now=now, renew_before=renew_before)
    try:
        constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        if not constraints.value.ca:
            problems.append("CA certificate is not a CA (basicConstraints ca=false)")
    except x509.ExtensionNotFound:
        problems.append("CA certificate has no basicConstraints extension")
    return problems


def serving_problems(
    *,
    serving: x509.Certificate,
    ca_certificate: x509.Certificate,
    identity: Identity,
    now: datetime,
    renew_before: timedelta,
) -> list[str]:
    """Why `serving` should be replaced: expiry, wrong issuer, or names it does not cover."""
    problems = time_problems(certificate=serving, now=now, renew_before=renew_before)
    if not is_signed_by(certificate=serving, issuer=ca_certificate):
        problems.append("serving certificate is not signed by the CA")
    missing = missing_names(certificate=serving, identity=identity)
    if missing:
        problems.append("serving certificate lacks subjectAltNames: " + ", ".join(missing))
    return problems


def is_signed_by(*, certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s public key verifies `certificate`'s signature (and names match)."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def missing_names(*, certificate: x509.Certificate, identity: Identity) -> list[str]:
    """The identity's names that the certificate's subjectAltName does not list."""
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [*identity.dns_names, *(str(ip) for ip in identity.ip_addresses)]
    dns = {name.lower() for name in sans.get_values_for_type(x509.DNSName)}
    ips = set(sans.get_values_for_type(x509.IPAddress))
    missing = [name for name in identity.dns_names if name.lower() not in dns]
    missing += [str(ip) for ip in identity.ip_addresses if ip not in ips]
    return missing


def remaining(*, certificate: x509.Certificate, now: datetime) -> timedelta:
    return certificate.not_valid_after_utc - now


def time_problems(*, certificate: x509.Certificate, now: datetime, renew_before: timedelta) -> list[str]:
    """Not yet valid, expired, or expiring within `renew_before`."""
    what = _describe(certificate)
    if now < certificate.not_valid_before_utc:
        return [f"{what} is not valid yet (from {certificate.not_valid_before_utc:%Y-%m-%d})"]
    left = remaining(certificate=certificate, now=now)
    if left <= timedelta(0):
        return [f"{what} expired on {certificate.not_valid_after_utc:%Y-%m-%d}"]
    if left <= renew_before:
        return [f"{what} expires on {certificate.not_valid_after_utc:%Y-%m-%d} ({left.days} days left)"]
    return []


def _describe(certificate: x509.Certificate) -> str:
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return "CA certificate" if is_ca else "serving certificate"
