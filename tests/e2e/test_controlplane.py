"""Smoke test of the loopback control plane (tests/envtest): the harness every e2e test uses."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.e2e.kube import (
    Kube,
    names,
    replica_sets,
    settled_replica_sets,
    settled_replica_sets_by_deployment,
)
from tests.envtest import ADMIN_GROUP, ControlPlane, pinned_versions
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

client = pytest.importorskip("kubernetes.client")


# Its own control plane (not conftest's shared one): these tests restart the API server and etcd.
@pytest.fixture(scope="module")
def smoke_plane() -> Iterator[ControlPlane]:
    with ControlPlane(audit=True) as cp:
        yield cp


def _deployment(name: str) -> Any:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="app",
                            image="registry.example/app:1",
                            env_from=[client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name="cfg"))],
                        )
                    ]
                ),
            ),
        ),
    )


def test_versions_match_the_pins(smoke_plane: ControlPlane) -> None:
    pins = pinned_versions()
    assert smoke_plane.apiserver_version() == f"Kubernetes {pins['kubernetes']}"
    etcd = subprocess.run(
        [str(smoke_plane.binary("etcd")), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"etcd Version: {pins['etcd'].removeprefix('v')}" in etcd
    helm = subprocess.run(
        [str(smoke_plane.binary("helm")), "version", "--short"], capture_output=True, text=True, check=True
    ).stdout
    assert helm.startswith(pins["helm"])
    kcm = subprocess.run(
        [str(smoke_plane.binary("kube-controller-manager")), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert kcm.strip() == f"Kubernetes {pins['kubernetes']}"
    # The API server reports the same version over the API.
    info = client.VersionApi(smoke_plane.api_client()).get_code()
    assert info.git_version == pins["kubernetes"]


def test_objects_round_trip_and_survive_restarts(smoke_plane: ControlPlane) -> None:
    api = smoke_plane.api_client()
    ns = smoke_plane.new_namespace("smoke", labels={"reload-safe.io/policy": "warn"})
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"log_level": "INFO"})
    )
    apps.create_namespaced_deployment(ns, _deployment("web"))

    assert core.read_namespace(ns).metadata.labels["reload-safe.io/policy"] == "warn"
    assert core.read_namespaced_config_map("cfg", ns).data == {"log_level": "INFO"}
    dep = apps.read_namespaced_deployment("web", ns)
    assert dep.spec.template.spec.containers[0].env_from[0].config_map_ref.name == "cfg"
    # kube-controller-manager turns the Deployment into one ReplicaSet and its Pod (Pending:
    # there is no scheduler).
    kube = Kube(api)
    assert len(settled_replica_sets(kube, "web", namespace=ns, quiet=0.5)) == 1
    pods = eventually(lambda: kube.list_objects("Pod", namespace=ns), what="the Deployment's Pod", timeout=15.0)
    assert [pod["status"]["phase"] for pod in pods] == ["Pending"]

    old_pid = smoke_plane.apiserver_pid
    url = smoke_plane.url
    smoke_plane.restart_apiserver()
    assert smoke_plane.apiserver_pid != old_pid
    assert smoke_plane.url == url  # same port: the kubeconfig stays valid

    api = smoke_plane.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    assert core.read_namespaced_config_map("cfg", ns).data == {"log_level": "INFO"}
    assert apps.read_namespaced_deployment("web", ns).metadata.uid == dep.metadata.uid

    smoke_plane.restart_etcd()
    assert core.read_namespaced_config_map("cfg", ns).data == {"log_level": "INFO"}
    core.patch_namespaced_config_map("cfg", ns, {"data": {"log_level": "DEBUG"}})
    assert core.read_namespaced_config_map("cfg", ns).data == {"log_level": "DEBUG"}


def test_admin_identity_and_audit_log(smoke_plane: ControlPlane) -> None:
    api = smoke_plane.api_client()
    review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
    assert ADMIN_GROUP in review.status.user_info.groups

    ns = smoke_plane.new_namespace("audit")
    client.CoreV1Api(api).create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    events = smoke_plane.read_audit_events()
    created = [
        e
        for e in events
        if e.get("verb") == "create"
        and e.get("objectRef", {}).get("resource") == "configmaps"
        and e.get("objectRef", {}).get("namespace") == ns
    ]
    assert created, f"no audit event for the ConfigMap among {len(events)} events"
    assert created[0]["level"] == "Metadata"
    assert created[0]["responseStatus"]["code"] == 201


def test_a_template_change_is_one_new_replica_set_and_deletion_cascades(smoke_plane: ControlPlane) -> None:
    api = smoke_plane.api_client()
    kube, core, apps = Kube(api), client.CoreV1Api(api), client.AppsV1Api(api)
    ns = smoke_plane.new_namespace("rollout")
    apps.create_namespaced_deployment(ns, _deployment("web"))
    apps.create_namespaced_deployment(ns, _deployment("other"))
    first = names(settled_replica_sets(kube, "web", namespace=ns, quiet=0.5))
    assert len(first) == 1

    patch = {"spec": {"template": {"metadata": {"annotations": {"example.com/restartedAt": "now"}}}}}
    apps.patch_namespaced_deployment("web", ns, patch)
    after = names(settled_replica_sets(kube, "web", namespace=ns, quiet=0.5))
    assert after[:-1] == first  # the old one stays (scaled down), one new one is the newest revision
    assert len(after) == 2
    by_deployment = settled_replica_sets_by_deployment(kube, namespace=ns, quiet=0.5)
    assert by_deployment["web"] == after
    assert len(by_deployment["other"]) == 1

    # The garbage collector deletes what the Deployment owned, and the namespace goes away.
    apps.delete_namespaced_deployment("web", ns)
    eventually(
        lambda: names(kube.list_objects("ReplicaSet", namespace=ns)) == by_deployment["other"],
        what="the ReplicaSets of web collected",
        timeout=15.0,
    )
    core.delete_namespace(ns)

    def gone() -> bool:
        try:
            core.read_namespace(ns)
        except ApiException as error:
            return error.status == 404
        return False

    eventually(gone, timeout=60, what=f"namespace {ns} deleted")


def test_without_the_controller_manager_nothing_reconciles() -> None:
    with ControlPlane(controller_manager=False) as bare:
        assert bare.controller_manager_pid is None
        api = bare.api_client()
        ns = bare.new_namespace("bare")
        client.AppsV1Api(api).create_namespaced_deployment(ns, _deployment("web"))
        time.sleep(2)  # kube-controller-manager makes the ReplicaSet within about 0.1 s
        assert replica_sets(Kube(api), "web", namespace=ns) == []
        client.CoreV1Api(api).delete_namespace(ns)
        time.sleep(1)
        assert client.CoreV1Api(api).read_namespace(ns).status.phase == "Terminating"
