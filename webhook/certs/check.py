"""`certs check`: is a certificate directory fit to serve the webhook?

Operators run it when the API server reports `x509: certificate signed by unknown authority`
or when an expiry alert fires; the helm test and CI run it too. It answers the three questions
that matter: does it expire soon, does the CA verify it, does it carry the Service's names.
The rules are the same ones `certs ensure` uses to decide on renewal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from webhook.certs.files import BundlePaths
from webhook.certs.generate import Identity, load_key_pair
from webhook.certs.validity import is_signed_by, missing_names, time_problems


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    ca_expires: datetime | None
    serving_expires: datetime | None
    chain_valid: bool
    sans_valid: bool
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report as printed by the CLI, one fact per line."""
        return [
            f"CA expires: {_when(self.ca_expires)}",
            f"serving certificate expires: {_when(self.serving_expires)}",
            f"chain valid: {'yes' if self.chain_valid else 'no'}",
            f"SANs valid: {'yes' if self.sans_valid else 'no'}",
            *(f"problem: {problem}" for problem in self.problems),
            "OK" if self.ok else "NOT OK",
        ]


def check_directory(*, paths: BundlePaths, identity: Identity, now: datetime, min_valid: timedelta) -> CheckReport:
    """Inspect ca.crt, tls.crt and (if present) tls.key; ca.key is not needed.

    A certificate with `min_valid` or less left counts as a problem, so monitoring can alert
    before the API server starts rejecting the handshake.
    """
    problems: list[str] = []
    ca = _load_certificate(path=paths.ca_cert, problems=problems)
    serving = _load_certificate(path=paths.tls_cert, problems=problems)
    if serving is not None and paths.tls_key.exists():
        try:
            load_key_pair(certificate_pem=paths.tls_cert.read_bytes(), private_key_pem=paths.tls_key.read_bytes())
        except ValueError as exc:
            problems.append(f"{paths.tls_key}: {exc}")

    for certificate in (ca, serving):
        if certificate is not None:
            problems += time_problems(certificate=certificate, now=now, renew_before=min_valid)

    chain_valid = ca is not None and serving is not None and is_signed_by(certificate=serving, issuer=ca)
    if ca is not None and serving is not None and not chain_valid:
        problems.append("serving certificate is not signed by the CA")
    missing = missing_names(certificate=serving, identity=identity) if serving is not None else []
    if missing:
        problems.append("serving certificate lacks subjectAltNames: " + ", ".join(missing))
    return CheckReport(
        ca_expires=ca.not_valid_after_utc if ca is not None else None,
        serving_expires=serving.not_valid_after_utc if serving is not None else None,
        chain_valid=chain_valid,
        sans_valid=serving is not None and not missing,
        problems=tuple(problems),
    )


def _load_certificate(*, path: Path, problems: list[str]) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except ValueError as exc:
        problems.append(f"{path}: not a PEM certificate ({exc})")
    return None


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
