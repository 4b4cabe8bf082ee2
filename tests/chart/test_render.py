"""Every CI scenario lints, renders, and renders only objects the Kubernetes API accepts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.chart.conftest import CHART, KUBE_VERSION, SCENARIOS, HelmRun, Manifest, Render, run_helm, scenario

EXPECTED_SCENARIOS = {
    "default",
    "cert-manager",
    "provided",
    "url",
    "controller-enabled",
    "ha",
    "networkpolicy-servicemonitor",
}

# Kinds from CRDs (cert-manager, Prometheus Operator): kubernetes-validate has no schema for
# them, so their required fields are checked here instead.
CRD_REQUIRED_SPEC = {
    ("cert-manager.io/v1", "Issuer"): [],
    ("cert-manager.io/v1", "Certificate"): ["secretName", "issuerRef"],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["selector", "endpoints"],
}

SCENARIO_PARAMS = [pytest.param(path, id=path.name.removesuffix("-values.yaml")) for path in SCENARIOS]


def test_all_scenarios_present() -> None:
    assert {p.name.removesuffix("-values.yaml") for p in SCENARIOS} >= EXPECTED_SCENARIOS


@pytest.mark.parametrize("values", SCENARIO_PARAMS)
def test_lint(helm: str, values: Path) -> None:
    result = run_helm(helm, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, "--values", str(values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", SCENARIO_PARAMS)
def test_every_object_validates(render: Render, values: Path) -> None:
    manifests = render(values=(values,))
    assert manifests
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        if key in CRD_REQUIRED_SPEC:
            _check_custom_resource(manifest, CRD_REQUIRED_SPEC[key])
            continue
        try:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{key} {manifest['metadata']['name']}: {error.message} at {list(error.path)}")


@pytest.mark.parametrize("values", SCENARIO_PARAMS)
def test_names_and_namespaces(render: Render, values: Path) -> None:
    manifests = render(values=(values,))
    seen: set[tuple[str, str]] = set()
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
    for manifest in manifests:
        metadata = manifest["metadata"]
        key = (manifest["kind"], metadata["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        assert len(metadata["name"]) <= 63
        if manifest["kind"] in cluster_scoped:
            assert "namespace" not in metadata
        else:
            assert metadata["namespace"] == "rs-system", key
        assert metadata["labels"]["app.kubernetes.io/instance"] == "rs"


def _check_custom_resource(manifest: Manifest, required: list[str]) -> None:
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert manifest["metadata"]["name"]
    for field in required:
        assert field in manifest["spec"], f"{manifest['kind']} lacks spec.{field}"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        pytest.param(("replicaCont=3",), "additional properties 'replicaCont' not allowed", id="top-level-typo"),
        pytest.param(("webhook.timeoutSecond=3",), "'timeoutSecond' not allowed", id="nested-typo"),
        pytest.param(
            ("securityContext.readOnlyRootFileSystem=true",),
            "'readOnlyRootFileSystem' not allowed",
            id="k8s-object-typo",
        ),
        pytest.param(("webhook.failurePolicy=fail",), "failurePolicy", id="bad-enum"),
        pytest.param(("webhook.timeoutSeconds=31",), "timeoutSeconds", id="timeout-above-30"),
        pytest.param(("certificates.mode=manual",), "mode", id="unknown-mode"),
        pytest.param(("server.defaultPolicy=strict",), "defaultPolicy", id="unknown-policy"),
        pytest.param(("webhook.url=http://127.0.0.1:8443",), "url", id="plain-http-url"),
    ],
)
def test_schema_rejects(template: Callable[..., HelmRun], sets: tuple[str, ...], message: str) -> None:
    result = template(sets=sets)
    assert result.returncode != 0
    assert "schema" in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        pytest.param(
            ("webhook.url=https://127.0.0.1:8443",),
            "webhook.url needs certificates.mode=provided",
            id="url-without-provided",
        ),
        pytest.param(
            ("certificates.mode=provided", "certificates.provided.secretName=x"),
            "needs certificates.provided.caBundle",
            id="provided-without-ca",
        ),
        pytest.param(
            ("certificates.mode=provided", "certificates.provided.caBundle=QUJD"),
            "needs certificates.provided.secretName",
            id="provided-without-secret",
        ),
    ],
)
def test_inconsistent_values_fail_with_explanation(
    template: Callable[..., HelmRun], sets: tuple[str, ...], message: str
) -> None:
    result = template(sets=sets)
    assert result.returncode != 0
    assert message in result.stderr


def test_ci_scenario_helper_paths_exist() -> None:
    for name in EXPECTED_SCENARIOS:
        assert scenario(name).exists()


def test_long_release_name_keeps_names_within_limits(template: Callable[..., HelmRun]) -> None:
    sets = ("fullnameOverride=" + "a" * 63, "controller.enabled=true")
    result = template(sets=sets)
    assert result.returncode == 0, result.stderr
    for manifest in (doc for doc in yaml.safe_load_all(result.stdout) if doc):
        name = manifest["metadata"]["name"]
        limit = 52 if manifest["kind"] == "CronJob" else 63
        assert len(name) <= limit, f"{manifest['kind']} {name}"
        assert not name.endswith("-")
