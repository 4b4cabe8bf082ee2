"""Idempotence, renewal before expiry, and rotation that keeps the CA (and so the caBundle)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from webhook.certs.generate import Identity, service_identity
from webhook.certs.renew import Action, Outcome, PemMaterial, RenewalPolicy, ensure_bundle
from webhook.certs.validity import is_signed_by

DAY = timedelta(days=1)


def stored_from(outcome: Outcome) -> PemMaterial:
    bundle = outcome.bundle
    return PemMaterial(
        ca_cert=bundle.ca.certificate_pem(),
        ca_key=bundle.ca.private_key_pem(),
        tls_cert=bundle.serving.certificate_pem(),
        tls_key=bundle.serving.private_key_pem(),
    )


def first(*, identity: Identity, policy: RenewalPolicy, now: datetime) -> Outcome:
    return ensure_bundle(stored=PemMaterial(), identity=identity, policy=policy, now=now)


def test_empty_store_creates_both(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    outcome = first(identity=identity, policy=policy, now=now)
    assert (outcome.ca, outcome.serving) == (Action.CREATED, Action.CREATED)
    assert outcome.changed


def test_second_run_keeps_everything(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    initial = first(identity=identity, policy=policy, now=now)
    again = ensure_bundle(stored=stored_from(initial), identity=identity, policy=policy, now=now + 100 * DAY)
    assert (again.ca, again.serving) == (Action.KEPT, Action.KEPT)
    assert not again.changed
    assert again.bundle.serving.certificate_pem() == initial.bundle.serving.certificate_pem()
    assert again.bundle.ca.private_key_pem() == initial.bundle.ca.private_key_pem()


@pytest.mark.parametrize(
    ("days_later", "serving_action"),
    [
        pytest.param(300, Action.KEPT, id="65-days-left-kept"),
        pytest.param(334, Action.KEPT, id="31-days-left-kept"),
        pytest.param(335, Action.RENEWED, id="30-days-left-renewed"),
        pytest.param(364, Action.RENEWED, id="1-day-left-renewed"),
        pytest.param(400, Action.RENEWED, id="expired-renewed"),
    ],
)
def test_serving_renewed_within_window_by_same_ca(
    identity: Identity, policy: RenewalPolicy, now: datetime, days_later: int, serving_action: Action
) -> None:
    initial = first(identity=identity, policy=policy, now=now)
    later = ensure_bundle(stored=stored_from(initial), identity=identity, policy=policy, now=now + days_later * DAY)
    assert later.ca is Action.KEPT
    assert later.serving is serving_action
    # Rotation keeps the CA: the caBundle registered with the API server stays valid.
    assert later.bundle.ca.certificate_pem() == initial.bundle.ca.certificate_pem()
    assert is_signed_by(certificate=later.bundle.serving.certificate, issuer=initial.bundle.ca.certificate)
    if serving_action is Action.RENEWED:
        renewed = later.bundle.serving.certificate
        assert renewed.serial_number != initial.bundle.serving.certificate.serial_number
        assert renewed.public_key() != initial.bundle.serving.certificate.public_key()
        assert renewed.not_valid_after_utc == now + days_later * DAY + policy.serving_validity
        assert later.reasons


def test_ca_near_expiry_renews_both(identity: Identity, now: datetime) -> None:
    policy = RenewalPolicy(ca_validity=400 * DAY, serving_validity=365 * DAY, renew_before=30 * DAY)
    initial = first(identity=identity, policy=policy, now=now)
    later = ensure_bundle(stored=stored_from(initial), identity=identity, policy=policy, now=now + 380 * DAY)
    assert (later.ca, later.serving) == (Action.RENEWED, Action.RENEWED)
    assert later.bundle.ca.certificate_pem() != initial.bundle.ca.certificate_pem()
    assert is_signed_by(certificate=later.bundle.serving.certificate, issuer=later.bundle.ca.certificate)


def test_new_name_reissues_serving_certificate(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    initial = first(identity=identity, policy=policy, now=now)
    wider = service_identity(service="reload-safe", namespace="reload-safe-system", extra_ips=("127.0.0.1",))
    later = ensure_bundle(stored=stored_from(initial), identity=wider, policy=policy, now=now)
    assert (later.ca, later.serving) == (Action.KEPT, Action.RENEWED)
    assert any("127.0.0.1" in reason for reason in later.reasons)


def test_force_recreates_both(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    initial = first(identity=identity, policy=policy, now=now)
    forced = ensure_bundle(stored=stored_from(initial), identity=identity, policy=policy, now=now, force=True)
    assert (forced.ca, forced.serving) == (Action.RENEWED, Action.RENEWED)
    assert forced.bundle.ca.certificate_pem() != initial.bundle.ca.certificate_pem()


@pytest.mark.parametrize(
    ("damage", "ca_action", "serving_action"),
    [
        pytest.param({"tls_key": b"garbage"}, Action.KEPT, Action.RENEWED, id="unreadable-serving-key"),
        pytest.param({"tls_cert": None, "tls_key": None}, Action.KEPT, Action.CREATED, id="serving-missing"),
        pytest.param({"ca_key": None}, Action.RENEWED, Action.RENEWED, id="ca-key-missing"),
        pytest.param({"ca_cert": b"not pem"}, Action.RENEWED, Action.RENEWED, id="ca-unreadable"),
    ],
)
def test_damaged_store_is_repaired(
    *,
    identity: Identity,
    policy: RenewalPolicy,
    now: datetime,
    damage: dict[str, bytes | None],
    ca_action: Action,
    serving_action: Action,
) -> None:
    stored = stored_from(first(identity=identity, policy=policy, now=now))
    damaged = PemMaterial(**{**stored.__dict__, **damage})
    outcome = ensure_bundle(stored=damaged, identity=identity, policy=policy, now=now)
    assert (outcome.ca, outcome.serving) == (ca_action, serving_action)


def test_serving_from_another_ca_is_reissued(identity: Identity, policy: RenewalPolicy, now: datetime) -> None:
    one = stored_from(first(identity=identity, policy=policy, now=now))
    two = stored_from(first(identity=identity, policy=policy, now=now))
    mixed = PemMaterial(ca_cert=one.ca_cert, ca_key=one.ca_key, tls_cert=two.tls_cert, tls_key=two.tls_key)
    outcome = ensure_bundle(stored=mixed, identity=identity, policy=policy, now=now)
    assert (outcome.ca, outcome.serving) == (Action.KEPT, Action.RENEWED)
    assert "not signed by the CA" in " ".join(outcome.reasons)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"serving_validity": 30 * DAY, "renew_before": 30 * DAY}, id="serving-not-longer-than-window"),
        pytest.param({"ca_validity": 10 * DAY, "renew_before": 30 * DAY}, id="ca-not-longer-than-window"),
    ],
)
def test_policy_rejects_validity_inside_window(kwargs: dict[str, timedelta]) -> None:
    with pytest.raises(ValueError, match="longer than the renewal window"):
        RenewalPolicy(**kwargs)
