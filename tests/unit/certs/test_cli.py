"""`reload-safe certs` through click, as users and the Helm hook call it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.unit.certs.fake_cluster import FakeCluster
from webhook.certs.ensure import WebhookKind
from webhook.certs.files import BundlePaths, read_material, write_bundle
from webhook.certs.generate import create_ca, create_serving, service_identity
from webhook.certs.renew import PemMaterial, RenewalPolicy, ensure_bundle
from webhook.cli import certs as certs_cli

SERVICE = ["--service", "rs", "--namespace", "ns"]


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(certs_cli.certs, [str(arg) for arg in args])


def seed(directory: Path, *, issued_days_ago: int, service: str = "rs") -> PemMaterial:
    """Write a bundle as if `generate` had run that many days ago."""
    identity = service_identity(service=service, namespace="ns")
    then = datetime.now(UTC) - timedelta(days=issued_days_ago)
    outcome = ensure_bundle(stored=PemMaterial(), identity=identity, policy=RenewalPolicy(), now=then)
    paths = BundlePaths.in_directory(directory)
    write_bundle(paths=paths, bundle=outcome.bundle)
    return read_material(paths=paths)


def test_generate_then_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    first = invoke("generate", *SERVICE, "--out", out, "--ip", "127.0.0.1")
    assert first.exit_code == 0, first.output
    assert "CA: created" in first.output
    assert f"wrote: {out}" in first.output
    before = read_material(paths=BundlePaths.in_directory(out))
    second = invoke("generate", *SERVICE, "--out", out, "--ip", "127.0.0.1")
    assert second.exit_code == 0, second.output
    assert "serving certificate: kept" in second.output
    assert f"unchanged: {out}" in second.output
    assert read_material(paths=BundlePaths.in_directory(out)) == before


def test_generate_rotates_near_expiry_with_same_ca(tmp_path: Path) -> None:
    before = seed(tmp_path, issued_days_ago=340)
    result = invoke("generate", *SERVICE, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "CA: kept" in result.output
    assert "serving certificate: renewed" in result.output
    after = read_material(paths=BundlePaths.in_directory(tmp_path))
    assert after.ca_cert == before.ca_cert
    assert after.ca_key == before.ca_key
    assert after.tls_cert != before.tls_cert
    assert invoke("check", "--dir", tmp_path, *SERVICE).exit_code == 0


def test_generate_force(tmp_path: Path) -> None:
    before = seed(tmp_path, issued_days_ago=0)
    result = invoke("generate", *SERVICE, "--out", tmp_path, "--force")
    assert result.exit_code == 0, result.output
    assert read_material(paths=BundlePaths.in_directory(tmp_path)).ca_cert != before.ca_cert


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--validity-days", "30", "--renew-before-days", "30"], id="window-not-shorter-than-validity"),
        pytest.param(["--ip", "not-an-ip"], id="bad-ip"),
        pytest.param(["--validity-days", "0"], id="zero-validity"),
    ],
)
def test_generate_usage_errors(tmp_path: Path, args: list[str]) -> None:
    result = invoke("generate", *SERVICE, "--out", tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "tls.key").exists()


def _expired(directory: Path) -> None:
    seed(directory, issued_days_ago=400)


def _fresh(directory: Path) -> None:
    seed(directory, issued_days_ago=0)


def _other_service(directory: Path) -> None:
    seed(directory, issued_days_ago=0, service="other")


def _foreign_ca(directory: Path) -> None:
    seed(directory, issued_days_ago=0)
    stranger = create_ca(now=datetime.now(UTC), validity=timedelta(days=30))
    (directory / "ca.crt").write_bytes(stranger.certificate_pem())


def _mismatched_key(directory: Path) -> None:
    seed(directory, issued_days_ago=0)
    now = datetime.now(UTC)
    ca = create_ca(now=now, validity=timedelta(days=30))
    other = create_serving(
        ca=ca, identity=service_identity(service="rs", namespace="ns"), now=now, validity=timedelta(days=9)
    )
    (directory / "tls.key").write_bytes(other.private_key_pem())


def _missing_cert(directory: Path) -> None:
    seed(directory, issued_days_ago=0)
    (directory / "tls.crt").unlink()


@pytest.mark.parametrize(
    ("prepare", "extra", "exit_code", "expected"),
    [
        pytest.param(_fresh, [], 0, ["chain valid: yes", "SANs valid: yes", "OK"], id="healthy"),
        pytest.param(_fresh, ["--min-valid-days", "400"], 1, ["days left", "NOT OK"], id="expires-within-min-days"),
        pytest.param(_expired, [], 1, ["expired on", "NOT OK"], id="expired"),
        pytest.param(_other_service, [], 1, ["SANs valid: no", "lacks subjectAltNames: rs,"], id="wrong-sans"),
        pytest.param(_foreign_ca, [], 1, ["chain valid: no", "not signed by the CA"], id="foreign-ca"),
        pytest.param(_mismatched_key, [], 1, ["does not match the certificate"], id="key-mismatch"),
        pytest.param(_missing_cert, [], 1, ["tls.crt: missing", "serving certificate expires: -"], id="missing-cert"),
    ],
)
def test_check_exit_codes(
    tmp_path: Path, prepare: object, extra: list[str], exit_code: int, expected: list[str]
) -> None:
    assert callable(prepare)
    prepare(tmp_path)
    result = invoke("check", "--dir", tmp_path, *SERVICE, *extra)
    assert result.exit_code == exit_code, result.output
    for text in expected:
        assert text in result.output


def test_check_service_needs_namespace(tmp_path: Path) -> None:
    result = invoke("check", "--dir", tmp_path, "--service", "rs")
    assert result.exit_code == 2


def test_check_without_service_checks_chain_and_extra_names(tmp_path: Path) -> None:
    _fresh(tmp_path)
    assert invoke("check", "--dir", tmp_path).exit_code == 0
    assert invoke("check", "--dir", tmp_path, "--dns", "rs.ns.svc").exit_code == 0
    assert invoke("check", "--dir", tmp_path, "--ip", "127.0.0.1").exit_code == 1


@pytest.fixture
def fake_cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    cluster = FakeCluster()
    cluster.add_configuration(kind=WebhookKind.MUTATING, name="rs", webhook_names=["mutate.reload-safe.io"])
    cluster.add_configuration(kind=WebhookKind.VALIDATING, name="rs", webhook_names=["validate.reload-safe.io"])

    def connect(*, kubeconfig: str | None, context: str | None) -> FakeCluster:
        return cluster

    monkeypatch.setattr(certs_cli, "_connect", connect)
    return cluster


def test_inject_writes_ca_into_both(tmp_path: Path, fake_cluster: FakeCluster) -> None:
    _fresh(tmp_path)
    result = invoke("inject", "--ca-file", tmp_path / "ca.crt", "--mutating", "rs", "--validating", "rs")
    assert result.exit_code == 0, result.output
    expected = base64.b64encode((tmp_path / "ca.crt").read_bytes()).decode()
    assert fake_cluster.ca_bundles(kind=WebhookKind.MUTATING, name="rs") == [expected]
    assert fake_cluster.ca_bundles(kind=WebhookKind.VALIDATING, name="rs") == [expected]
    again = invoke("inject", "--ca-file", tmp_path / "ca.crt", "--mutating", "rs", "--validating", "rs")
    assert again.output.count("already current") == 2


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        pytest.param([], 2, "at least one of --mutating"),
        pytest.param(["--mutating", "absent"], 1, "absent not found"),
    ],
)
def test_inject_errors(
    tmp_path: Path, fake_cluster: FakeCluster, args: list[str], exit_code: int, message: str
) -> None:
    _fresh(tmp_path)
    result = invoke("inject", "--ca-file", tmp_path / "ca.crt", *args)
    assert result.exit_code == exit_code, result.output
    assert message in result.output


def test_inject_refuses_non_pem(tmp_path: Path, fake_cluster: FakeCluster) -> None:
    bogus = tmp_path / "ca.crt"
    bogus.write_text("hello")
    result = invoke("inject", "--ca-file", bogus, "--mutating", "rs")
    assert result.exit_code == 2


ENSURE = [
    "ensure",
    "--secret",
    "rs-tls",
    "--namespace",
    "ns",
    "--service",
    "rs",
    "--mutating",
    "rs",
    "--validating",
    "rs",
]


def test_ensure_end_to_end(fake_cluster: FakeCluster) -> None:
    result = invoke(*ENSURE, "--label", "app.kubernetes.io/instance=rs")
    assert result.exit_code == 0, result.output
    assert "CA: created" in result.output
    tls = fake_cluster.secrets[("ns", "rs-tls")]
    assert fake_cluster.secrets[("ns", "rs-tls-ca")]["data"]["ca.crt"] == tls["data"]["ca.crt"]
    assert tls["labels"]["app.kubernetes.io/instance"] == "rs"
    assert tls["labels"]["app.kubernetes.io/managed-by"] == "reload-safe-certs"
    fake_cluster.writes.clear()
    again = invoke(*ENSURE)
    assert again.exit_code == 0, again.output
    assert fake_cluster.writes == []


def test_ensure_pre_install_tolerates_missing_configurations(fake_cluster: FakeCluster) -> None:
    fake_cluster.webhooks.clear()
    assert invoke(*ENSURE).exit_code == 1
    result = invoke(*ENSURE, "--allow-missing-webhooks")
    assert result.exit_code == 0, result.output
    assert "not found, skipped" in result.output


def test_ensure_bad_label(fake_cluster: FakeCluster) -> None:
    assert invoke(*ENSURE, "--label", "novalue").exit_code == 2
