"""Decide what to keep, what to renew and what to create, given what is already stored.

Both storage back ends (files for `certs generate`, Secrets for `certs ensure`) hand over the
PEM blobs they found and get back a complete bundle plus what changed. Keeping this decision in
one pure function is what makes every entry point idempotent in the same way:

- a valid CA outside its renewal window is always reused, so rotating the serving certificate
  never changes the `caBundle` the API server trusts;
- a serving certificate is renewed when it is near expiry, not signed by the (kept) CA, or does
  not cover the names asked for;
- anything unreadable counts as absent and is recreated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webhook.certs.generate import Bundle, Identity, KeyPair, create_ca, create_serving, load_key_pair
from webhook.certs.validity import ca_problems, serving_problems

DAY = timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class RenewalPolicy:
    """Lifetimes: CA 10 years, serving certificate 1 year, renewed 30 days before expiry."""

    ca_validity: timedelta = 3650 * DAY
    serving_validity: timedelta = 365 * DAY
    renew_before: timedelta = 30 * DAY

    def __post_init__(self) -> None:
        if self.serving_validity <= self.renew_before:
            raise ValueError("validity must be longer than the renewal window")
        if self.ca_validity <= self.renew_before:
            raise ValueError("CA validity must be longer than the renewal window")


@dataclass(frozen=True, kw_only=True)
class PemMaterial:
    """Whatever PEM data a store holds; any part may be missing."""

    ca_cert: bytes | None = None
    ca_key: bytes | None = None
    tls_cert: bytes | None = None
    tls_key: bytes | None = None


class Action(enum.StrEnum):
    KEPT = "kept"
    CREATED = "created"
    RENEWED = "renewed"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    bundle: Bundle
    ca: Action
    serving: Action
    reasons: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return self.ca is not Action.KEPT or self.serving is not Action.KEPT


def ensure_bundle(
    *,
    stored: PemMaterial,
    identity: Identity,
    policy: RenewalPolicy,
    now: datetime,
    force: bool = False,
) -> Outcome:
    """Return a bundle that is valid for `identity` past the renewal window, reusing what can be."""
    reasons: list[str] = []
    ca = None if force else _load(cert=stored.ca_cert, key=stored.ca_key, what="CA", reasons=reasons)
    if ca is not None:
        problems = ca_problems(ca=ca, now=now, renew_before=policy.renew_before)
        reasons += problems
        if problems:
            ca = None
    if force:
        reasons.append("--force given")
    ca_action = Action.KEPT
    if ca is None:
        ca_action = Action.CREATED if stored.ca_cert is None else Action.RENEWED
        ca = create_ca(now=now, validity=policy.ca_validity)

    serving = None
    if ca_action is Action.KEPT:
        serving = _load(cert=stored.tls_cert, key=stored.tls_key, what="serving", reasons=reasons)
    if serving is not None:
        problems = serving_problems(
            serving=serving.certificate,
            ca_certificate=ca.certificate,
            identity=identity,
            now=now,
            renew_before=policy.renew_before,
        )
        reasons += problems
        if problems:
            serving = None
    serving_action = Action.KEPT
    if serving is None:
        serving_action = Action.CREATED if stored.tls_cert is None else Action.RENEWED
        serving = create_serving(ca=ca, identity=identity, now=now, validity=policy.serving_validity)
    return Outcome(
        bundle=Bundle(ca=ca, serving=serving),
        ca=ca_action,
        serving=serving_action,
        reasons=tuple(reasons),
    )


def _load(*, cert: bytes | None, key: bytes | None, what: str, reasons: list[str]) -> KeyPair | None:
    if cert is None or key is None:
        return None
    try:
        return load_key_pair(certificate_pem=cert, private_key_pem=key)
    except ValueError as exc:
        reasons.append(f"{what} certificate or key unreadable: {exc}")
        return None
