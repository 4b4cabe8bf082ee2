"""The chart against a real kube-apiserver (tests/envtest): what unit tests cannot prove.

- Every rendered object passes the API server's own validation (server-side dry run) in a
  namespace that enforces Pod Security "restricted", with no PodSecurity warning for the
  workload templates.
- `certs ensure`, run with exactly the hook's RBAC (impersonating its ServiceAccount), goes
  through the pre-install / post-install sequence Helm runs: Secrets first, caBundle once the
  configurations exist; a second run changes nothing.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.chart.conftest import CHART, KUBE_VERSION, RELEASE, Manifest, one, scenario
from tests.envtest import ControlPlane

pytestmark = pytest.mark.e2e

NAMESPACE = "rs-system"
PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Pod": "pods",
    "Deployment": "deployments",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
}
CRD_GROUPS = ("cert-manager.io/", "monitoring.coreos.com/")


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(work_dir=tmp_path_factory.mktemp("chart-controlplane")) as cp:
        core = _client().CoreV1Api(cp.api_client())
        labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
        core.create_namespace(_client().V1Namespace(metadata=_client().V1ObjectMeta(name=NAMESPACE, labels=labels)))
        yield cp


def _client() -> Any:
    from kubernetes import client

    return client


def render(control_plane: ControlPlane, *args: str, release: str = RELEASE) -> list[Manifest]:
    helm = str(control_plane.binary("helm"))
    command = [helm, "template", release, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *args]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def dry_run_create(control_plane: ControlPlane, manifest: Manifest) -> tuple[int, list[str], str]:
    """POST with dryRun=All as the admin; returns (status, Warning headers, body)."""
    group_version = manifest["apiVersion"]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    namespace = manifest["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if namespace else ""
    url = f"{control_plane.url}{prefix}{scope}/{PLURALS[manifest['kind']]}?dryRun=All&fieldValidation=Strict"
    context = ssl.create_default_context(cafile=str(control_plane.ca_file))
    context.load_cert_chain(str(control_plane.client_cert_file), str(control_plane.client_key_file))
    request = urllib.request.Request(
        url, data=json.dumps(manifest).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, response.headers.get_all("Warning") or [], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_all("Warning") or [], error.read().decode()


@pytest.mark.parametrize(
    "values",
    [
        pytest.param("default", id="default"),
        pytest.param("controller-enabled", id="controller-enabled"),
        pytest.param("ha", id="ha"),
        pytest.param("provided", id="provided"),
        pytest.param("networkpolicy-servicemonitor", id="networkpolicy-servicemonitor"),
    ],
)
def test_api_server_accepts_every_object_under_restricted(control_plane: ControlPlane, values: str) -> None:
    # A release name of its own: the install tests below create the `rs` release's objects for
    # real in this control plane, and a dry-run create of an existing name is a 409.
    manifests = render(control_plane, "--values", str(scenario(values)), release="dryrun")
    checked = 0
    for manifest in manifests:
        if manifest["apiVersion"].startswith(CRD_GROUPS):
            continue
        status, warnings, body = dry_run_create(control_plane, manifest)
        label = f"{manifest['kind']}/{manifest['metadata']['name']}"
        assert status == 201, f"{label}: {status} {body}"
        assert not [w for w in warnings if "PodSecurity" in w or "unknown field" in w], f"{label}: {warnings}"
        checked += 1
    assert checked >= 10


def test_restricted_namespace_really_rejects_an_unhardened_pod(control_plane: ControlPlane) -> None:
    """The control for the test above: the namespace does enforce Pod Security."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unhardened", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    status, _, body = dry_run_create(control_plane, pod)
    assert status == 403
    assert "restricted" in body


def impersonating(control_plane: ControlPlane, service_account: str) -> Any:
    api = control_plane.api_client()
    api.set_default_header("Impersonate-User", f"system:serviceaccount:{NAMESPACE}:{service_account}")
    return api


def create(control_plane: ControlPlane, manifests: list[Manifest]) -> None:
    """Create the objects; ones that already exist (from another test) are left as they are."""
    from kubernetes import utils

    api = control_plane.api_client()
    create_from_dict: Any = utils.create_from_dict
    for manifest in manifests:
        try:
            create_from_dict(api, manifest)
        except utils.FailToCreateError as error:
            if any(getattr(cause, "status", None) != 409 for cause in error.api_exceptions):
                raise


def test_self_managed_install_sequence_with_hook_rbac(control_plane: ControlPlane) -> None:
    from kubernetes import client

    from webhook.certs.ensure import SecretNames, WebhookKind, ensure_secrets, inject_ca_bundle
    from webhook.certs.generate import service_identity
    from webhook.certs.inject import KubernetesCluster
    from webhook.certs.renew import RenewalPolicy
    from webhook.cli.certs import certs

    manifests = render(control_plane)
    hook_objects = [m for m in manifests if m["metadata"]["name"] == "rs-reload-safe-certs-hook"]
    assert {m["kind"] for m in hook_objects} == {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    configurations = [m for m in manifests if m["kind"].endswith("WebhookConfiguration")]
    create(control_plane, hook_objects)

    cluster = KubernetesCluster(api_client=impersonating(control_plane, "rs-reload-safe-certs-hook"))
    names = SecretNames(namespace=NAMESPACE, tls_secret="rs-reload-safe-tls", ca_secret="rs-reload-safe-ca")
    targets = [(WebhookKind.MUTATING, "rs-reload-safe"), (WebhookKind.VALIDATING, "rs-reload-safe")]

    def ensure(*, allow_missing: bool) -> list[str]:
        outcome = ensure_secrets(
            cluster,
            names=names,
            identity=service_identity(service="rs-reload-safe", namespace=NAMESPACE),
            policy=RenewalPolicy(),
            now=datetime.now(UTC),
            labels={"app.kubernetes.io/instance": RELEASE},
        )
        ca_pem = outcome.bundle.ca.certificate_pem()
        return inject_ca_bundle(cluster, ca_pem=ca_pem, configurations=targets, allow_missing=allow_missing)

    # pre-install: the configurations do not exist yet.
    assert all("not found, skipped" in line for line in ensure(allow_missing=True))
    # install phase: Helm creates the configurations (no caBundle).
    create(control_plane, configurations)
    # post-install: the caBundle goes in.
    assert all("caBundle written" in line for line in ensure(allow_missing=False))

    # Typed as Any: the assertions below read optional fields the API server always fills.
    core: Any = client.CoreV1Api(control_plane.api_client())
    tls = core.read_namespaced_secret(name="rs-reload-safe-tls", namespace=NAMESPACE)
    assert tls.type == "kubernetes.io/tls"
    assert sorted(tls.data) == ["ca.crt", "tls.crt", "tls.key"]
    ca_bundle = base64.b64encode(base64.b64decode(tls.data["ca.crt"])).decode()
    admission: Any = client.AdmissionregistrationV1Api(control_plane.api_client())
    mutating = admission.read_mutating_webhook_configuration(name="rs-reload-safe")
    validating = admission.read_validating_webhook_configuration(name="rs-reload-safe")
    assert [w.client_config.ca_bundle for w in mutating.webhooks + validating.webhooks] == [ca_bundle, ca_bundle]

    # upgrade (the CLI, with a kubeconfig): nothing to renew, nothing to write.
    versions = (
        tls.metadata.resource_version,
        mutating.metadata.resource_version,
        validating.metadata.resource_version,
    )
    result = CliRunner().invoke(
        certs,
        [
            "ensure",
            "--kubeconfig", str(control_plane.kubeconfig_path),
            "--secret", "rs-reload-safe-tls",
            "--ca-secret", "rs-reload-safe-ca",
            "--namespace", NAMESPACE,
            "--service", "rs-reload-safe",
            "--mutating", "rs-reload-safe",
            "--validating", "rs-reload-safe",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("already current") == 2
    after = (
        core.read_namespaced_secret(name="rs-reload-safe-tls", namespace=NAMESPACE).metadata.resource_version,
        admission.read_mutating_webhook_configuration(name="rs-reload-safe").metadata.resource_version,
        admission.read_validating_webhook_configuration(name="rs-reload-safe").metadata.resource_version,
    )
    assert after == versions


def test_hook_rbac_denies_other_secrets_and_server_cannot_write(control_plane: ControlPlane) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    manifests = render(control_plane)
    rbac_kinds = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    names = {"rs-reload-safe", "rs-reload-safe-certs-hook", "rs-reload-safe-hash-key-hook"}
    create(control_plane, [m for m in manifests if m["metadata"]["name"] in names and m["kind"] in rbac_kinds])
    server = client.CoreV1Api(impersonating(control_plane, "rs-reload-safe"))
    assert server.list_config_map_for_all_namespaces().items is not None
    assert server.list_namespace().items
    # secrets.enabled (the default): Secrets are read, never written.
    assert server.list_secret_for_all_namespaces().items is not None
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="stolen"), string_data={"a": "b"})
    for call in (
        lambda: server.create_namespaced_config_map(
            namespace=NAMESPACE, body=client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
        ),
        lambda: server.create_namespaced_secret(namespace=NAMESPACE, body=secret),
    ):
        with pytest.raises(ApiException) as denied:
            call()
        assert denied.value.status == 403

    for hook_name in ("rs-reload-safe-certs-hook", "rs-reload-safe-hash-key-hook"):
        hook_sa = one(manifests, "ServiceAccount", hook_name)["metadata"]["name"]
        hook = client.CoreV1Api(impersonating(control_plane, hook_sa))
        with pytest.raises(ApiException) as denied:
            hook.read_namespaced_secret(name="some-other-secret", namespace=NAMESPACE)
        assert denied.value.status == 403


def test_without_secrets_the_server_cannot_read_any_secret(control_plane: ControlPlane) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    manifests = render(control_plane, "--set", "secrets.enabled=false", release="rn")
    create(control_plane, [m for m in manifests if m["metadata"]["name"] == "rn-reload-safe"])
    server = client.CoreV1Api(impersonating(control_plane, "rn-reload-safe"))
    assert server.list_config_map_for_all_namespaces().items is not None
    for call in (
        lambda: server.read_namespaced_secret(name="rn-reload-safe-tls", namespace=NAMESPACE),
        server.list_secret_for_all_namespaces,
    ):
        with pytest.raises(ApiException) as denied:
            call()
        assert denied.value.status == 403
