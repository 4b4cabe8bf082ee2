"""`certs ensure` and `certs inject` as logic, against an abstract cluster.

The Helm hook Job runs this on every install and upgrade (and a CronJob runs it daily), so it
must be idempotent: read what is stored, renew only what needs it, write only what changed,
and patch `caBundle` only where it differs. The cluster is reached through the small `Cluster`
protocol; `webhook.certs.inject` implements it with the Kubernetes client, and unit tests use
an in-memory fake. This module never imports `kubernetes`.

Storage: the serving Secret (type kubernetes.io/tls: tls.crt, tls.key, ca.crt) is what the
webhook pods mount; the CA's private key lives in a separate Secret that no pod mounts, so a
compromised webhook pod cannot mint certificates.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from webhook.certs.files import CA_CERT, CA_KEY, TLS_CERT, TLS_KEY
from webhook.certs.generate import Identity
from webhook.certs.renew import Action, Outcome, PemMaterial, RenewalPolicy, ensure_bundle

TLS_SECRET_TYPE: Final = "kubernetes.io/tls"
CA_SECRET_TYPE: Final = "Opaque"
ATTEMPTS: Final = 3
"""Optimistic-concurrency retries: a concurrent hook and CronJob run converge within these."""


class WebhookKind(enum.StrEnum):
    MUTATING = "mutatingwebhookconfiguration"
    VALIDATING = "validatingwebhookconfiguration"


class ConflictError(Exception):
    """The object changed between our read and our write; read again and retry."""


class MissingConfigurationError(Exception):
    """A webhook configuration to inject into does not exist."""


@dataclass(frozen=True, kw_only=True)
class StoredSecret:
    data: Mapping[str, bytes]
    resource_version: str | None = None


@dataclass(frozen=True, kw_only=True)
class WebhookCA:
    """One webhook entry of a configuration and the caBundle (base64 text) it carries now."""

    name: str
    ca_bundle: str | None


class Cluster(Protocol):
    def read_secret(self, *, namespace: str, name: str) -> StoredSecret | None:
        """The Secret's decoded data, or None when it does not exist."""
        ...

    def write_secret(
        self,
        *,
        namespace: str,
        name: str,
        secret_type: str,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        previous: StoredSecret | None,
    ) -> None:
        """Create (previous None) or replace guarded by previous.resource_version.

        Raises ConflictError when someone else created or changed it first.
        """
        ...

    def read_webhooks(self, *, kind: WebhookKind, name: str) -> list[WebhookCA] | None:
        """The configuration's webhooks in order, or None when it does not exist."""
        ...

    def patch_webhooks(self, *, kind: WebhookKind, name: str, patch: list[dict[str, Any]]) -> None:
        """Apply a JSON patch; ConflictError when a `test` operation failed."""
        ...


@dataclass(frozen=True, kw_only=True)
class SecretNames:
    namespace: str
    tls_secret: str
    ca_secret: str


def ensure_secrets(
    cluster: Cluster,
    *,
    names: SecretNames,
    identity: Identity,
    policy: RenewalPolicy,
    now: datetime,
    labels: Mapping[str, str],
    force: bool = False,
) -> Outcome:
    """Make both Secrets hold a bundle valid past the renewal window; write only what changed."""
    for attempt in range(ATTEMPTS):
        ca_secret = cluster.read_secret(namespace=names.namespace, name=names.ca_secret)
        tls_secret = cluster.read_secret(namespace=names.namespace, name=names.tls_secret)
        stored = PemMaterial(
            ca_cert=_get(ca_secret, CA_CERT),
            ca_key=_get(ca_secret, CA_KEY),
            tls_cert=_get(tls_secret, TLS_CERT),
            tls_key=_get(tls_secret, TLS_KEY),
        )
        outcome = ensure_bundle(stored=stored, identity=identity, policy=policy, now=now, force=force)
        ca = outcome.bundle.ca
        serving = outcome.bundle.serving
        wanted_ca = {CA_CERT: ca.certificate_pem(), CA_KEY: ca.private_key_pem()}
        wanted_tls = {
            TLS_CERT: serving.certificate_pem(),
            TLS_KEY: serving.private_key_pem(),
            CA_CERT: ca.certificate_pem(),
        }
        try:
            # CA first: a serving certificate must never be stored without its issuer's key.
            for secret, name, secret_type, wanted in (
                (ca_secret, names.ca_secret, CA_SECRET_TYPE, wanted_ca),
                (tls_secret, names.tls_secret, TLS_SECRET_TYPE, wanted_tls),
            ):
                if secret is None or dict(secret.data) != wanted:
                    cluster.write_secret(
                        namespace=names.namespace,
                        name=name,
                        secret_type=secret_type,
                        data=wanted,
                        labels=labels,
                        previous=secret,
                    )
        except ConflictError:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return outcome
    raise AssertionError("unreachable")


def ca_bundle_patch(*, webhooks: Sequence[WebhookCA], ca_bundle: str) -> list[dict[str, Any]]:
    """JSON patch setting caBundle on every webhook that lacks it; [] when all are current.

    Each change is guarded by a `test` of the webhook's name at that index, so a configuration
    edited concurrently (webhooks reordered) is refused instead of patched in the wrong place.
    """
    patch: list[dict[str, Any]] = []
    for index, webhook in enumerate(webhooks):
        if webhook.ca_bundle == ca_bundle:
            continue
        patch.append({"op": "test", "path": f"/webhooks/{index}/name", "value": webhook.name})
        patch.append({"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": ca_bundle})
    return patch


def inject_ca_bundle(
    cluster: Cluster,
    *,
    ca_pem: bytes,
    configurations: Sequence[tuple[WebhookKind, str]],
    allow_missing: bool = False,
) -> list[str]:
    """Write the CA into every webhook of the named configurations; returns one line per config.

    `allow_missing` exists for the pre-install hook: on a first install the configurations are
    created after the hook ran, and the post-install run of the same command injects then.
    """
    ca_bundle = base64.b64encode(ca_pem).decode("ascii")
    report: list[str] = []
    for kind, name in configurations:
        report.append(_inject_one(cluster, kind=kind, name=name, ca_bundle=ca_bundle, allow_missing=allow_missing))
    return report


def describe(outcome: Outcome) -> list[str]:
    """Human-readable summary of what ensure_bundle decided."""
    lines = [f"CA: {outcome.ca}", f"serving certificate: {outcome.serving}"]
    if outcome.ca is not Action.KEPT or outcome.serving is not Action.KEPT:
        lines += [f"reason: {reason}" for reason in outcome.reasons]
    not_after = outcome.bundle.serving.certificate.not_valid_after_utc
    lines.append(f"serving certificate valid until {not_after:%Y-%m-%dT%H:%M:%SZ}")
    return lines


def _inject_one(cluster: Cluster, *, kind: WebhookKind, name: str, ca_bundle: str, allow_missing: bool) -> str:
    for attempt in range(ATTEMPTS):
        webhooks = cluster.read_webhooks(kind=kind, name=name)
        if webhooks is None:
            if allow_missing:
                return f"{kind} {name}: not found, skipped"
            raise MissingConfigurationError(f"{kind} {name} not found")
        patch = ca_bundle_patch(webhooks=webhooks, ca_bundle=ca_bundle)
        if not patch:
            return f"{kind} {name}: caBundle already current"
        try:
            cluster.patch_webhooks(kind=kind, name=name, patch=patch)
        except ConflictError:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return f"{kind} {name}: caBundle written to {len(patch) // 2} webhook(s)"
    raise AssertionError("unreachable")


def _get(secret: StoredSecret | None, key: str) -> bytes | None:
    return None if secret is None else secret.data.get(key)
