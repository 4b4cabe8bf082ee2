"""`certs ensure` logic: Secrets created once, renewed in place, caBundle patched only when stale."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import pytest
from cryptography import x509

from tests.unit.certs.fake_cluster import FakeCluster
from webhook.certs.ensure import (
    ConflictError,
    MissingConfigurationError,
    SecretNames,
    WebhookCA,
    WebhookKind,
    ca_bundle_patch,
    ensure_secrets,
    inject_ca_bundle,
)
from webhook.certs.generate import Identity
from webhook.certs.renew import Action, RenewalPolicy
from webhook.certs.validity import is_signed_by

NAMES = SecretNames(namespace="rs-system", tls_secret="rs-tls", ca_secret="rs-ca")
CONFIGS = [(WebhookKind.MUTATING, "rs"), (WebhookKind.VALIDATING, "rs")]
LABELS = {"app.kubernetes.io/name": "reload-safe"}


def cluster_with_configurations() -> FakeCluster:
    cluster = FakeCluster()
    cluster.add_configuration(kind=WebhookKind.MUTATING, name="rs", webhook_names=["mutate.reload-safe.io"])
    cluster.add_configuration(kind=WebhookKind.VALIDATING, name="rs", webhook_names=["validate.reload-safe.io"])
    return cluster


def run(cluster: FakeCluster, *, identity: Identity, policy: RenewalPolicy, now: datetime) -> Action:
    outcome = ensure_secrets(cluster, names=NAMES, identity=identity, policy=policy, now=now, labels=LABELS)
    inject_ca_bundle(cluster, ca_pem=outcome.bundle.ca.certificate_pem(), configurations=CONFIGS)
    return outcome.serving


def test_first_run_creates_secrets_and_injects(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = cluster_with_configurations()
    assert run(cluster, identity=identity, policy=policy, now=now) is Action.CREATED
    tls = cluster.secrets[("rs-system", "rs-tls")]
    ca = cluster.secrets[("rs-system", "rs-ca")]
    assert tls["type"] == "kubernetes.io/tls"
    assert sorted(tls["data"]) == ["ca.crt", "tls.crt", "tls.key"]
    assert sorted(ca["data"]) == ["ca.crt", "ca.key"]
    assert tls["labels"] == LABELS
    assert tls["data"]["ca.crt"] == ca["data"]["ca.crt"]
    expected = base64.b64encode(ca["data"]["ca.crt"]).decode()
    assert cluster.ca_bundles(kind=WebhookKind.MUTATING, name="rs") == [expected]
    assert cluster.ca_bundles(kind=WebhookKind.VALIDATING, name="rs") == [expected]
    assert cluster.writes == [
        "secret/rs-ca",
        "secret/rs-tls",
        f"{WebhookKind.MUTATING}/rs",
        f"{WebhookKind.VALIDATING}/rs",
    ]


def test_second_run_writes_nothing(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = cluster_with_configurations()
    run(cluster, identity=identity, policy=policy, now=now)
    cluster.writes.clear()
    assert run(cluster, identity=identity, policy=policy, now=now + timedelta(days=1)) is Action.KEPT
    assert cluster.writes == []


def test_renewal_rewrites_only_serving_secret(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = cluster_with_configurations()
    run(cluster, identity=identity, policy=policy, now=now)
    old_tls = cluster.secrets[("rs-system", "rs-tls")]["data"]["tls.crt"]
    cluster.writes.clear()
    assert run(cluster, identity=identity, policy=policy, now=now + timedelta(days=340)) is Action.RENEWED
    # Same CA: the caBundle is already current, so the webhook configurations are not touched.
    assert cluster.writes == ["secret/rs-tls"]
    data = cluster.secrets[("rs-system", "rs-tls")]["data"]
    assert data["tls.crt"] != old_tls
    serving = x509.load_pem_x509_certificate(data["tls.crt"])
    ca = x509.load_pem_x509_certificate(cluster.secrets[("rs-system", "rs-ca")]["data"]["ca.crt"])
    assert is_signed_by(certificate=serving, issuer=ca)


def test_tls_secret_missing_ca_crt_is_completed(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = cluster_with_configurations()
    run(cluster, identity=identity, policy=policy, now=now)
    del cluster.secrets[("rs-system", "rs-tls")]["data"]["ca.crt"]
    cluster.writes.clear()
    assert run(cluster, identity=identity, policy=policy, now=now) is Action.KEPT
    assert cluster.writes == ["secret/rs-tls"]
    assert "ca.crt" in cluster.secrets[("rs-system", "rs-tls")]["data"]


def test_conflict_is_retried(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = cluster_with_configurations()
    cluster.conflicts_to_raise = 1
    run(cluster, identity=identity, policy=policy, now=now)
    assert ("rs-system", "rs-tls") in cluster.secrets


def test_persistent_conflict_gives_up(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = cluster_with_configurations()
    cluster.conflicts_to_raise = 10
    with pytest.raises(ConflictError):
        ensure_secrets(cluster, names=NAMES, identity=identity, policy=policy, now=now, labels=LABELS)


def test_pre_install_skips_missing_configurations(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    cluster = FakeCluster()
    outcome = ensure_secrets(cluster, names=NAMES, identity=identity, policy=policy, now=now, labels=LABELS)
    ca_pem = outcome.bundle.ca.certificate_pem()
    report = inject_ca_bundle(cluster, ca_pem=ca_pem, configurations=CONFIGS, allow_missing=True)
    assert all("not found, skipped" in line for line in report)
    with pytest.raises(MissingConfigurationError):
        inject_ca_bundle(cluster, ca_pem=ca_pem, configurations=CONFIGS)


@pytest.mark.parametrize(
    ("current", "expected_paths"),
    [
        pytest.param([None, None], ["/webhooks/0", "/webhooks/1"], id="both-missing"),
        pytest.param(["Q0E=", None], ["/webhooks/1"], id="one-current"),
        pytest.param(["old", "Q0E="], ["/webhooks/0"], id="one-stale"),
        pytest.param(["Q0E=", "Q0E="], [], id="all-current"),
    ],
)
def test_ca_bundle_patch(current: list[str | None], expected_paths: list[str]) -> None:
    webhooks = [WebhookCA(name=f"w{i}.reload-safe.io", ca_bundle=ca) for i, ca in enumerate(current)]
    patch = ca_bundle_patch(webhooks=webhooks, ca_bundle="Q0E=")
    tests = [op for op in patch if op["op"] == "test"]
    adds = [op for op in patch if op["op"] == "add"]
    assert [op["path"].removesuffix("/name") for op in tests] == expected_paths
    assert [op["path"].removesuffix("/clientConfig/caBundle") for op in adds] == expected_paths
    assert all(op["value"] == "Q0E=" for op in adds)


def test_reordered_configuration_is_retried() -> None:
    cluster = cluster_with_configurations()
    cluster.add_configuration(kind=WebhookKind.MUTATING, name="rs", webhook_names=["a.io", "b.io"])
    original_read = cluster.read_webhooks
    reads = 0

    def stale_once(*, kind: WebhookKind, name: str) -> list[WebhookCA] | None:
        nonlocal reads
        reads += 1
        result = original_read(kind=kind, name=name)
        return list(reversed(result)) if reads == 1 and result else result

    cluster.read_webhooks = stale_once  # type: ignore[method-assign]
    inject_ca_bundle(cluster, ca_pem=b"CA", configurations=[(WebhookKind.MUTATING, "rs")])
    assert reads == 2
    assert cluster.ca_bundles(kind=WebhookKind.MUTATING, name="rs") == [base64.b64encode(b"CA").decode()] * 2
