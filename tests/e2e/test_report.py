"""`reload-safe report` against the real API server, with kube-controller-manager making the
ReplicaSets and Pods (no kubelet: pods stay Pending, so an old ReplicaSet's pods stay put).

Every workload reaches its state for real: admitted through the webhook (which writes the hash),
then its ConfigMap edited; or created where the webhook is off. Expected values are SPEC
literals: state names, JSON field names, and hashes worked out here by the SPEC's algorithm.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kube import Kube
from tests.envtest import ControlPlane
from tests.support.builders import cm_volume, container, env_from, mount, pod_spec, workload
from tests.support.polling import eventually
from tests.support.spec import REPORT_FINDING_FIELDS

pytestmark = pytest.mark.e2e

WORKLOAD_FIELDS = {
    "kind",
    "namespace",
    "name",
    "owned",
    "state",
    "config_hash",
    "current_hash",
    "stale_pods",
    "pods",
    "findings",
}
SEED_HASH = "sha256:08c2241d98d68d7f1f0676bc1542957dcdccdf1bb200a0788849e738f1bd3394"
"""SPEC test vector: envFrom of `env-config` with `data: {log_level: INFO}`."""
ROLLOUT = {"reload-safe.io/reload": "rollout"}


def spec_hash(entries: list[list[Any]]) -> str:
    """SPEC "Hash algorithm (exact)", written out here so the test does not trust the code's."""
    entries = sorted(entries, key=lambda e: tuple(e[:3]))
    text = json.dumps(entries, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def deployment(
    name: str, spec: dict[str, Any], *, replicas: int = 1, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    made = workload("Deployment", spec, name=name, namespace=None, template_annotations=annotations)
    made["spec"]["replicas"] = replicas
    made["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    return made


def create(kube: Kube, obj: dict[str, Any], *, namespace: str) -> dict[str, Any]:
    answer = kube.create(obj, namespace=namespace)
    assert answer.ok, answer.message
    return answer.body


def edit(kube: Kube, name: str, data: dict[str, str], *, namespace: str) -> None:
    answer = kube.patch_merge("ConfigMap", name, {"data": data}, namespace=namespace)
    assert answer.ok, answer.message


def run_report(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", "report", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def report_json(kubeconfig: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_report(kubeconfig, "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_name(document: dict[str, Any], namespace: str) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in document["workloads"] if w["namespace"] == namespace}


def pods_running(kube: Kube, namespace: str, count: int) -> None:
    eventually(
        lambda: len(kube.list_objects("Pod", namespace=namespace)) >= count,
        timeout=30,
        what=f"{count} pods in {namespace}",
    )


def test_five_states_json_and_scope(kube: Kube, control_plane: ControlPlane, namespace: Callable[..., str]) -> None:
    watched = namespace("warn", prefix="report")
    unwatched = namespace("off", prefix="report-off")
    for ns in (watched, unwatched):
        create(kube, configmap("env-config", {"log_level": "INFO"}), namespace=ns)
    create(kube, configmap("files", {"app.conf": "a=1"}), namespace=watched)
    create(kube, configmap("steady", {"mode": "on"}), namespace=watched)
    env_spec = pod_spec(container(envFrom=[env_from("env-config")]))
    create(kube, deployment("stale-app", env_spec, replicas=2), namespace=watched)
    volume_spec = pod_spec(container(volumeMounts=[mount("f", "/etc/app")]), volumes=[cm_volume("f", "files")])
    create(kube, deployment("volume-app", volume_spec), namespace=watched)
    steady_spec = pod_spec(container(envFrom=[env_from("steady")]))
    create(kube, deployment("current-app", steady_spec, annotations=ROLLOUT), namespace=watched)
    create(kube, deployment("plain", pod_spec(container())), namespace=watched)
    create(kube, deployment("old-app", env_spec, annotations=ROLLOUT), namespace=unwatched)
    pods_running(kube, watched, 5)
    pods_running(kube, unwatched, 1)
    edit(kube, "env-config", {"log_level": "DEBUG"}, namespace=watched)
    edit(kube, "files", {"app.conf": "a=2"}, namespace=watched)

    status, document = report_json(control_plane.kubeconfig_path, "-n", watched)

    assert status == 1
    assert set(document) == {"workloads", "summary"}
    rows = by_name(document, watched)
    assert sorted(rows) == ["current-app", "plain", "stale-app", "volume-app"], "-n reads one namespace"
    assert {w["namespace"] for w in document["workloads"]} == {watched}
    for row in rows.values():
        assert set(row) == WORKLOAD_FIELDS
        assert row["owned"] is False
        assert row["kind"] == "Deployment"
    stale = rows["stale-app"]
    assert stale["state"] == "stale"
    assert stale["config_hash"] == SEED_HASH
    assert stale["current_hash"] == spec_hash([["env-config", "data", "log_level", b64("DEBUG")]])
    assert (stale["pods"], stale["stale_pods"]) == (2, 2)
    (finding,) = stale["findings"]
    assert set(finding) == REPORT_FINDING_FIELDS
    assert (finding["type"], finding["configmap"], finding["container"], finding["key"]) == (
        "envFrom",
        "env-config",
        "app",
        None,
    )
    volume = rows["volume-app"]
    assert volume["state"] == "changed"
    assert volume["config_hash"] == spec_hash([["files", "data", "app.conf", b64("a=1")]])
    assert volume["current_hash"] == spec_hash([["files", "data", "app.conf", b64("a=2")]])
    assert (volume["pods"], volume["stale_pods"], volume["findings"]) == (1, 1, [])
    current = rows["current-app"]
    assert current["state"] == "current"
    assert current["config_hash"] == current["current_hash"] == spec_hash([["steady", "data", "mode", b64("on")]])
    assert (current["pods"], current["stale_pods"], current["findings"]) == (1, 0, [])
    plain = rows["plain"]
    assert (plain["state"], plain["config_hash"], plain["current_hash"], plain["pods"]) == ("none", None, None, 1)
    assert document["summary"]["by_state"] == {"current": 1, "stale": 1, "changed": 1, "unknown": 0, "none": 1}
    assert "DEBUG" not in json.dumps(document)

    _, everything = report_json(control_plane.kubeconfig_path, "-A")
    assert set(by_name(everything, watched)) == set(rows), "-A reads every namespace"
    old = by_name(everything, unwatched)["old-app"]
    assert (old["state"], old["config_hash"], old["current_hash"]) == ("unknown", None, SEED_HASH)
    assert (old["pods"], old["stale_pods"]) == (1, 0), "a pod without the annotation is not stale"

    text = run_report(control_plane.kubeconfig_path, "-n", watched)
    assert text.returncode == 1
    assert f"{watched}/stale-app" in text.stdout
    assert (
        text.stdout.rstrip()
        .splitlines()[-1]
        .startswith("4 workloads: 1 current, 1 stale, 1 changed, 0 unknown, 1 none")
    )


def test_old_replica_set_pods_are_stale_mid_rollout(
    kube: Kube, control_plane: ControlPlane, namespace: Callable[..., str]
) -> None:
    ns = namespace("warn", prefix="report-roll")
    create(kube, configmap("env-config", {"log_level": "INFO"}), namespace=ns)
    spec = pod_spec(container(envFrom=[env_from("env-config")]))
    create(kube, deployment("web", spec, replicas=2, annotations=ROLLOUT), namespace=ns)
    pods_running(kube, ns, 2)
    status, before = report_json(control_plane.kubeconfig_path, "-n", ns)
    assert status == 0, "current, covered by rollout: nothing stale, no findings"
    assert before["workloads"][0]["state"] == "current"

    edit(kube, "env-config", {"log_level": "DEBUG"}, namespace=ns)
    # Re-applying the workload is what a user (or the controller) does: the webhook writes the
    # new hash, the template changes, and a new ReplicaSet starts beside the old one.
    current = kube.get("Deployment", "web", namespace=ns).body
    answer = kube.patch_merge(
        "Deployment", "web", {"spec": {"template": {"metadata": {"labels": {"edit": "1"}}}}}, namespace=ns
    )
    assert answer.ok, answer.message
    assert answer.annotations(("spec", "template"))["reload-safe.io/config-hash"] != SEED_HASH
    assert current["metadata"]["uid"] == answer.body["metadata"]["uid"]
    pods_running(kube, ns, 3)
    replica_sets = kube.list_objects("ReplicaSet", namespace=ns)
    assert len(replica_sets) == 2

    status, during = report_json(control_plane.kubeconfig_path, "-n", ns)
    (row,) = during["workloads"]
    assert row["state"] == "current"
    assert row["current_hash"] == spec_hash([["env-config", "data", "log_level", b64("DEBUG")]])
    assert (row["pods"], row["stale_pods"]) == (3, 2), "the old ReplicaSet's two pods still run INFO"
    assert status == 0, "stale pods of a current workload are a rollout in progress, not a finding"


def test_clean_namespace_exits_0_and_sarif_is_empty(
    kube: Kube, control_plane: ControlPlane, namespace: Callable[..., str]
) -> None:
    ns = namespace("warn", prefix="report-clean")
    create(kube, deployment("plain", pod_spec(container())), namespace=ns)
    done = run_report(control_plane.kubeconfig_path, "-n", ns)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 none" in done.stdout
    sarif = run_report(control_plane.kubeconfig_path, "-n", ns, "--format", "sarif")
    assert sarif.returncode == 0
    assert json.loads(sarif.stdout)["runs"][0]["results"] == []


def controller_reference(owner: dict[str, Any]) -> list[dict[str, Any]]:
    meta = owner["metadata"]
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
    ]


def test_owner_chains_cronjob_job_pods_and_a_foreign_owner(
    kube: Kube, control_plane: ControlPlane, namespace: Callable[..., str]
) -> None:
    ns = namespace("warn", prefix="report-owners")
    create(kube, configmap("env-config", {"log_level": "INFO"}), namespace=ns)
    spec = pod_spec(container(envFrom=[env_from("env-config")]))
    cronjob = workload("CronJob", spec, name="nightly", namespace=None, template_annotations=ROLLOUT)
    cronjob["spec"]["suspend"] = True  # no Job of its own schedule: the test makes the one below
    cronjob = create(kube, cronjob, namespace=ns)
    job = workload("Job", spec, name="nightly-manual", namespace=None)
    job["spec"]["template"]["metadata"]["annotations"] = dict(
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    )
    job["metadata"]["ownerReferences"] = controller_reference(cronjob)
    create(kube, job, namespace=ns)
    # Anything that is not a workload kind stands in for an operator's custom resource.
    operator = create(kube, configmap("operator-owned-by", {"role": "owner"}), namespace=ns)
    managed = deployment("managed", spec)
    managed["metadata"]["ownerReferences"] = controller_reference(operator)
    create(kube, managed, namespace=ns)
    pods_running(kube, ns, 2)

    _, document = report_json(control_plane.kubeconfig_path, "-n", ns)

    rows = {(w["kind"], w["name"]): w for w in document["workloads"]}
    assert set(rows) == {("CronJob", "nightly"), ("Deployment", "managed")}, "the Job is counted under its CronJob"
    nightly = rows[("CronJob", "nightly")]
    assert (nightly["state"], nightly["config_hash"], nightly["pods"], nightly["owned"]) == (
        "current",
        SEED_HASH,
        1,
        False,
    )
    managed_row = rows[("Deployment", "managed")]
    assert managed_row["owned"] is True
    assert (managed_row["state"], managed_row["pods"]) == ("unknown", 1), "owned: the webhook never hashed it"
