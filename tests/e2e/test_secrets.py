"""Secrets and Argo Rollouts through the real API server and kube-controller-manager (SPEC v2):
Secret references judged like ConfigMap references, the keyed hash of the SPEC's test vector on
the stored template, and the controller rolling a workload once per Secret change."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.controller_process import LEASE_NAMESPACE, ControllerProcess
from tests.e2e.kube import Kube, settled_replica_sets
from tests.e2e.webhook_process import WebhookServer
from tests.envtest import ControlPlane
from tests.envtest.crds import ARGO_ROLLOUTS, install_crds
from tests.support.builders import container, pod_spec, workload
from tests.support.polling import eventually
from tests.support.spec import V1_DATA, V1_HASH, V2_HASH, V2_SECRET, V2_SECRET_DATA

pytestmark = pytest.mark.e2e

HASH = "reload-safe.io/config-hash"
ROLLOUT = {"reload-safe.io/reload": "rollout"}
DEBOUNCE = 1.0
SETTLE = 3 * DEBOUNCE + 1.0


def secret(name: str = V2_SECRET, *, data: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data or {}, **fields}


def configmap(data: dict[str, str], name: str = "env-config") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def vector_spec() -> dict[str, Any]:
    """SPEC v2's test vector workload: envFrom env-config and db-creds."""
    return pod_spec(container(envFrom=[{"configMapRef": {"name": "env-config"}}, {"secretRef": {"name": V2_SECRET}}]))


def deployment(name: str, spec: dict[str, Any], *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return workload("Deployment", spec, name=name, namespace=None, annotations=annotations)


def template_hash(kube: Kube, kind: str, name: str, namespace: str) -> str | None:
    body = kube.get(kind, name, namespace=namespace).body
    value = (body["spec"]["template"]["metadata"].get("annotations") or {}).get(HASH)
    return value if isinstance(value, str) else None


def rs_names(kube: Kube, name: str, namespace: str, *, quiet: float = 2.0) -> list[str]:
    return [rs["metadata"]["name"] for rs in settled_replica_sets(kube, name, namespace=namespace, quiet=quiet)]


# --- admission ----------------------------------------------------------------------------------

SECRET_VOLUME = {"name": "creds", "secret": {"secretName": V2_SECRET}}
PROJECTED_VOLUME = {"name": "creds", "projected": {"sources": [{"secret": {"name": V2_SECRET}}]}}
SUB_PATH_MOUNT = {"name": "creds", "mountPath": "/etc/creds/password", "subPath": "password"}


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            pod_spec(
                container(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": V2_SECRET, "key": "password"}}}])
            ),
            id="secretKeyRef",
        ),
        pytest.param(pod_spec(container(envFrom=[{"secretRef": {"name": V2_SECRET}}])), id="secretRef"),
        pytest.param(pod_spec(container(volumeMounts=[SUB_PATH_MOUNT]), volumes=[SECRET_VOLUME]), id="subPath-secret"),
        pytest.param(
            pod_spec(container(volumeMounts=[SUB_PATH_MOUNT]), volumes=[PROJECTED_VOLUME]), id="subPath-projected"
        ),
    ],
)
def test_an_unsafe_secret_reference_is_denied_in_enforce_warned_in_warn_and_silent_in_audit_and_off(
    kube: Kube, namespace: Callable[..., str], spec: dict[str, Any]
) -> None:
    enforce, warn, audit, off = namespace("enforce"), namespace("warn"), namespace("audit"), namespace("off")
    for ns in (enforce, warn, audit, off):
        assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    denied = kube.create(deployment("app", spec), namespace=enforce)
    assert denied.status == 403, denied.body
    assert f'Secret "{V2_SECRET}"' in denied.message
    warned = kube.create(deployment("app", spec), namespace=warn)
    assert warned.ok
    assert any("Secret" in w and V2_SECRET in w for w in warned.warnings), warned.warnings
    for ns in (audit, off):
        silent = kube.create(deployment("app", spec), namespace=ns)
        assert silent.ok, silent.body
        assert silent.warnings == []
        assert HASH not in (silent.body["spec"]["template"]["metadata"].get("annotations") or {})


def test_an_immutable_secret_and_reloader_secret_annotations_cover(kube: Kube, namespace: Callable[..., str]) -> None:
    ns = namespace("enforce")
    assert kube.apply(secret("frozen", data=V2_SECRET_DATA, immutable=True), namespace=ns).ok
    assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    frozen = pod_spec(container(envFrom=[{"secretRef": {"name": "frozen"}}]))
    assert kube.create(deployment("frozen", frozen), namespace=ns).ok
    plain = pod_spec(container(envFrom=[{"secretRef": {"name": V2_SECRET}}]))
    listed = {"secret.reloader.stakater.com/reload": V2_SECRET}
    assert kube.create(deployment("listed", plain, annotations=listed), namespace=ns).ok
    auto = {"secret.reloader.stakater.com/auto": "true"}
    assert kube.create(deployment("auto", plain, annotations=auto), namespace=ns).ok
    configmaps_only = {"configmap.reloader.stakater.com/auto": "true"}
    assert kube.create(deployment("cm-auto", plain, annotations=configmaps_only), namespace=ns).status == 403


def test_the_stored_hash_is_the_spec_v2_vector_and_reveals_no_value(kube: Kube, namespace: Callable[..., str]) -> None:
    ns = namespace("warn")
    assert kube.apply(configmap(V1_DATA), namespace=ns).ok
    assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    answer = kube.create(deployment("vector", vector_spec(), annotations=ROLLOUT), namespace=ns)
    assert answer.ok, answer.body
    assert template_hash(kube, "Deployment", "vector", ns) == V2_HASH
    assert V2_HASH != V1_HASH


# --- the controller -----------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def rollouts_served(control_plane: ControlPlane) -> None:
    """The Rollout CRD is served before any controller here starts (it discovers kinds at start)."""
    install_crds(control_plane.api_client(), ARGO_ROLLOUTS)


@pytest.fixture
def controller(
    control_plane: ControlPlane, kube: Kube, hash_key_file: Path, tmp_path: Path
) -> Iterator[ControllerProcess]:
    with contextlib.suppress(ApiException):
        client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    process = ControllerProcess(
        kubeconfig=control_plane.kubeconfig_path,
        work_dir=tmp_path,
        identity="secrets",
        debounce=DEBOUNCE,
        hash_key_file=hash_key_file,
    ).start()
    try:
        process.wait_leading()
        yield process
    finally:
        process.stop(kill=True)
        time.sleep(4.5)  # let the Lease expire so the next test's controller leads at once


def test_a_secret_edit_rolls_its_consumer_once_and_a_bystander_edit_rolls_nothing(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    assert kube.apply(configmap(V1_DATA), namespace=ns).ok
    assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    assert kube.apply(secret("bystander", data={"x": "eA=="}), namespace=ns).ok
    assert kube.create(deployment("app", vector_spec(), annotations=ROLLOUT), namespace=ns).ok
    before = rs_names(kube, "app", ns)

    assert kube.apply(secret("bystander", data={"x": "eQ=="}), namespace=ns).ok
    time.sleep(SETTLE)
    assert rs_names(kube, "app", ns) == before
    assert template_hash(kube, "Deployment", "app", ns) == V2_HASH

    rotated = secret(data={}, stringData={"password": "correct horse battery staple"})
    assert kube.apply(rotated, namespace=ns).ok
    eventually(lambda: template_hash(kube, "Deployment", "app", ns) not in (None, V2_HASH), timeout=20.0)
    after = rs_names(kube, "app", ns, quiet=SETTLE)
    assert len([name for name in after if name not in before]) == 1, after


def test_a_configmap_and_a_secret_changed_together_give_one_rollout(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    assert kube.apply(configmap(V1_DATA), namespace=ns).ok
    assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    assert kube.create(deployment("app", vector_spec(), annotations=ROLLOUT), namespace=ns).ok
    before = rs_names(kube, "app", ns)
    assert kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns).ok
    assert kube.apply(secret(data={"password": "czNjcjN0"}), namespace=ns).ok
    eventually(lambda: template_hash(kube, "Deployment", "app", ns) not in (None, V2_HASH), timeout=20.0)
    after = rs_names(kube, "app", ns, quiet=SETTLE)
    assert len([name for name in after if name not in before]) == 1, after


def rollout(spec: dict[str, Any], *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"app": "r"}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r", **({"annotations": annotations} if annotations else {})},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
            "strategy": {"canary": {}},
        },
    }


def test_a_rollout_is_judged_hashed_and_rolled_on_a_secret_edit(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("enforce")
    assert kube.apply(configmap(V1_DATA), namespace=ns).ok
    assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    denied = kube.create(rollout(vector_spec()), namespace=ns)
    assert denied.status == 403, denied.body
    assert kube.create(rollout(vector_spec(), annotations=ROLLOUT), namespace=ns).ok
    assert template_hash(kube, "Rollout", "r", ns) == V2_HASH

    seen: list[str | None] = []

    def rolled() -> str | None:
        value = template_hash(kube, "Rollout", "r", ns)
        seen.append(value)
        return value if value != V2_HASH else None

    assert kube.apply(secret(data={"password": "czNjcjN0"}), namespace=ns).ok
    new = eventually(rolled, timeout=20.0)
    time.sleep(SETTLE)
    assert template_hash(kube, "Rollout", "r", ns) == new, "rolled once: the annotation changed once"
    assert len({value for value in seen if value not in (None, V2_HASH)}) == 1


def test_rotating_the_hash_key_rolls_each_secret_consumer_once_and_no_configmap_only_workload(
    control_plane: ControlPlane,
    kube: Kube,
    namespace: Callable[..., str],
    webhook: WebhookServer,
    tmp_path: Path,
) -> None:
    ns = namespace("warn")
    assert kube.apply(configmap(V1_DATA), namespace=ns).ok
    assert kube.apply(secret(data=V2_SECRET_DATA), namespace=ns).ok
    assert kube.create(deployment("secret-user", vector_spec(), annotations=ROLLOUT), namespace=ns).ok
    cm_only = pod_spec(container(envFrom=[{"configMapRef": {"name": "env-config"}}]))
    assert kube.create(deployment("cm-user", cm_only, annotations=ROLLOUT), namespace=ns).ok
    before = {name: rs_names(kube, name, ns) for name in ("secret-user", "cm-user")}
    assert template_hash(kube, "Deployment", "secret-user", ns) == V2_HASH

    rotated_key = tmp_path / "rotated-hash-key"
    rotated_key.write_text("a-new-installation-key-after-rotation-0123456789\n")
    restore = webhook.extra_args
    with contextlib.suppress(ApiException):
        client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    # Rotation as docs/secrets.md says: both components restart with the new key.
    webhook.stop()
    webhook.extra_args = ("--hash-key-file", str(rotated_key))
    webhook.start()
    process = ControllerProcess(
        kubeconfig=control_plane.kubeconfig_path,
        work_dir=tmp_path,
        identity="rotation",
        debounce=DEBOUNCE,
        hash_key_file=rotated_key,
    ).start()
    try:
        process.wait_leading()
        eventually(lambda: template_hash(kube, "Deployment", "secret-user", ns) != V2_HASH, timeout=30.0)
        after = {name: rs_names(kube, name, ns, quiet=SETTLE) for name in ("secret-user", "cm-user")}
        assert len([rs for rs in after["secret-user"] if rs not in before["secret-user"]]) == 1, after
        assert after["cm-user"] == before["cm-user"], "a ConfigMap-only workload keeps its hash"
    finally:
        process.stop(kill=True)
        # Its workloads now carry hashes under the rotated key: gone before any controller of the
        # session's key sees them (it would rightly roll them, and other tests count rollouts).
        client.CoreV1Api(kube.api).delete_namespace(ns)
        webhook.stop()
        webhook.extra_args = restore
        webhook.start()
        time.sleep(4.5)  # let the Lease expire so the next test's controller leads at once
