"""The controller's report pass through the real API server with the real CRDs (issue 19):
one policy report per namespace, written when a state changes and left alone otherwise, gone
with the namespace; the state metrics equal the report's counts."""

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
from tests.e2e.kube import Kube
from tests.envtest import ControlPlane
from tests.envtest.crds import OPENREPORTS, WGPOLICYK8S, install_crds
from tests.support.builders import cm_volume, container, env_from, mount, pod_spec, workload
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

INTERVAL = 1.0
API = {
    "openreports": ("openreports.io", "v1alpha1", "reports"),
    "wgpolicyk8s": ("wgpolicyk8s.io", "v1alpha2", "policyreports"),
}


@pytest.fixture(scope="module", autouse=True)
def report_crds(control_plane: ControlPlane) -> None:
    for group in (OPENREPORTS, WGPOLICYK8S):
        install_crds(control_plane.api_client(), group)


@pytest.fixture
def start_controller(
    control_plane: ControlPlane, kube: Kube, hash_key_file: Path, tmp_path: Path
) -> Iterator[Callable[[str], ControllerProcess]]:
    with contextlib.suppress(ApiException):
        client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    started: list[ControllerProcess] = []

    def start(api: str) -> ControllerProcess:
        process = ControllerProcess(
            kubeconfig=control_plane.kubeconfig_path,
            work_dir=tmp_path,
            identity=f"reports-{api}",
            debounce=0.5,
            hash_key_file=hash_key_file,
            extra_args=("--reports", api, "--report-interval", str(INTERVAL)),
        ).start()
        started.append(process)
        process.wait_leading()
        return process

    yield start
    for process in started:
        process.stop(kill=True)
    time.sleep(4.5)  # let the Lease expire so the next test's controller leads at once


def stored_report(kube: Kube, api: str, namespace: str) -> dict[str, Any] | None:
    group, version, plural = API[api]
    try:
        found: dict[str, Any] = client.CustomObjectsApi(kube.api).get_namespaced_custom_object(
            group, version, namespace, plural, "reload-safe"
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def config_state(report: dict[str, Any]) -> dict[str, str]:
    """workload name → its config-state result."""
    return {r["resources"][0]["name"]: r["result"] for r in report["results"] if r["rule"] == "config-state"}


def setup_workloads(kube: Kube, ns: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env-config"}, "data": {"log_level": "INFO"}}
    assert kube.apply(cm, namespace=ns).ok
    envfrom = pod_spec(container(envFrom=[env_from("env-config")]))
    volume = pod_spec(container(volumeMounts=[mount("cfg", "/etc/cfg")]), volumes=[cm_volume("cfg", "env-config")])
    for name, spec, declared in (
        ("rolled", envfrom, {"reload-safe.io/reload": "rollout"}),
        ("stuck", envfrom, None),
        ("files", volume, None),
        ("plain", pod_spec(container()), None),
    ):
        assert kube.create(
            workload("Deployment", spec, name=name, namespace=None, annotations=declared), namespace=ns
        ).ok


@pytest.mark.parametrize("api", ["openreports", "wgpolicyk8s"])
def test_one_report_per_namespace_follows_the_states(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess], api: str
) -> None:
    ns = namespace("warn")
    setup_workloads(kube, ns)
    controller = start_controller(api)
    first = eventually(
        lambda: stored_report(kube, api, ns),
        until=lambda r: r is not None and len(config_state(r)) == 4,
        timeout=30.0,
        what="the first report",
    )
    assert first is not None
    assert config_state(first) == {"rolled": "pass", "stuck": "pass", "files": "pass", "plain": "pass"}
    unsafe = {r["resources"][0]["name"] for r in first["results"] if r["rule"] == "unsafe-reference"}
    assert unsafe == {"stuck"}, "only the envFrom Deployment that declares no strategy has a finding"
    assert first["summary"]["fail"] == 1
    version = first["metadata"]["resourceVersion"]
    time.sleep(3 * INTERVAL)
    unchanged = stored_report(kube, api, ns)
    assert unchanged is not None
    assert unchanged["metadata"]["resourceVersion"] == version, "nothing changed: not rewritten"

    edited = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "env-config"},
        "data": {"log_level": "DEBUG"},
    }
    assert kube.apply(edited, namespace=ns).ok
    after = eventually(
        lambda: stored_report(kube, api, ns),
        until=lambda r: r is not None and config_state(r).get("stuck") == "fail",
        timeout=30.0,
        what="the report after the edit",
    )
    assert after is not None
    states = eventually(
        lambda: config_state(stored_report(kube, api, ns) or {"results": []}),
        until=lambda s: s.get("rolled") == "pass" and s.get("files") == "warn",
        timeout=30.0,
    )
    assert states == {"rolled": "pass", "stuck": "fail", "files": "warn", "plain": "pass"}

    def gauge(state: str) -> float:
        return controller.metric(f'reload_safe_workloads{{namespace="{ns}",state="{state}"}}')

    eventually(lambda: gauge("stale"), until=lambda value: value == 1.0, timeout=10.0)
    assert (gauge("current"), gauge("changed"), gauge("none")) == (1.0, 1.0, 1.0)

    client.CoreV1Api(kube.api).delete_namespace(ns)
    eventually(
        lambda: stored_report(kube, api, ns), until=lambda r: r is None, timeout=90.0, what="deleted with the namespace"
    )
