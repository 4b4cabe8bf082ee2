"""The rollout controller on the real control plane with kube-controller-manager: `kubectl edit
configmap` rolls the workloads that opted in, exactly once, and nothing else.

"Once" is what a user sees: new ReplicaSets, counted against a list taken before the change
once the deployment controller has settled (`settled_replica_sets`)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.controller_process import LEASE_NAMESPACE, ControllerProcess
from tests.e2e.kube import Kube, settled_replica_sets, settled_replica_sets_by_deployment
from tests.e2e.webhook_process import RELEASE_NAMESPACE, WebhookServer
from tests.envtest import ControlPlane
from tests.support.builders import container, env_from, env_ref, pod_spec, workload
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION

pytestmark = pytest.mark.e2e

DEBOUNCE = 1.0
SETTLE = 3 * DEBOUNCE + 1.0
"""Long enough for a debounced rollout to have happened, if one were coming."""
PREDATING = int(os.environ.get("RELOAD_SAFE_E2E_PREDATING", "200"))
"""Opted-in Deployments without a hash present when the controller starts."""


@pytest.fixture(scope="module")
def lease_namespace(kube: Kube) -> str:
    with contextlib.suppress(ApiException):
        client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    return LEASE_NAMESPACE


@pytest.fixture
def start_controller(
    control_plane: ControlPlane, webhook: WebhookServer, lease_namespace: str, hash_key_file: Path, tmp_path: Path
) -> Iterator[Callable[[str], ControllerProcess]]:
    """Controllers with the session webhook's hash key, as one installation runs them: with
    different keys the two would disagree on the hash of every Secret consumer in the cluster."""
    started: list[ControllerProcess] = []

    def start(identity: str) -> ControllerProcess:
        process = ControllerProcess(
            kubeconfig=control_plane.kubeconfig_path,
            work_dir=tmp_path,
            identity=identity,
            debounce=DEBOUNCE,
            hash_key_file=hash_key_file,
        ).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(kill=True)
    time.sleep(4.5)  # let the Lease expire so the next test's controller leads at once


@pytest.fixture
def controller(start_controller: Callable[[str], ControllerProcess]) -> ControllerProcess:
    process = start_controller("solo")
    process.wait_leading()
    return process


def configmap(data: dict[str, str], name: str = "env-config") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def deployment(name: str = "web", *, opted_in: bool = True, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    annotations = {"reload-safe.io/reload": "rollout"} if opted_in else None
    spec = spec or pod_spec(container(envFrom=[env_from("env-config")]))
    return workload("Deployment", spec, name=name, namespace=None, annotations=annotations)


def config_hash(log_level: str) -> str:
    """SPEC "Hash algorithm (exact)" for `envFrom: env-config` with `data: {log_level: ...}`."""
    entries = [["env-config", "data", "log_level", base64.b64encode(log_level.encode()).decode()]]
    return "sha256:" + hashlib.sha256(json.dumps(entries, separators=(",", ":")).encode()).hexdigest()


def stored_hash(kube: Kube, name: str, namespace: str) -> str | None:
    body = kube.get("Deployment", name, namespace=namespace).body
    annotations = body["spec"]["template"]["metadata"].get("annotations") or {}
    value = annotations.get(HASH_ANNOTATION)
    return value if isinstance(value, str) else None


def rs_names(kube: Kube, name: str, namespace: str, *, quiet: float = 2.0) -> list[str]:
    return [rs["metadata"]["name"] for rs in settled_replica_sets(kube, name, namespace=namespace, quiet=quiet)]


def new_since(before: list[str], after: list[str]) -> list[str]:
    return [name for name in after if name not in before]


def config_changed_events(kube: Kube, namespace: str, name: str | None = None) -> list[Any]:
    """The controller's rollouts in one namespace (of one workload, when named), oldest first.

    Tests count rollouts here rather than by `reload_safe_controller_rollouts_total`: a
    controller reconciles the whole cluster, and its start pass also rolls workloads that other
    tests (in any order) left with a changed ConfigMap or Secret."""
    events = client.CoreV1Api(kube.api).list_namespaced_event(namespace).items
    mine = [e for e in events if e.reason == "ConfigChanged" and (name is None or e.involved_object.name == name)]
    return sorted(mine, key=lambda e: e.metadata.creation_timestamp)


def one_config_changed_event(kube: Kube, namespace: str, name: str) -> list[Any]:
    """The Event is written after the patch, and may land after the ReplicaSets settled: wait
    for it, then expect no second one."""
    found = eventually(lambda: config_changed_events(kube, namespace, name), timeout=15.0, interval=0.2)
    assert len(found) == 1, [e.message for e in found]
    return found


def test_edit_rolls_the_opted_in_deployment_once_and_not_the_others(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    assert kube.apply(deployment("opted"), namespace=ns).ok
    assert kube.apply(deployment("bystander", opted_in=False), namespace=ns).ok
    before, bystander = rs_names(kube, "opted", ns), rs_names(kube, "bystander", ns)

    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    eventually(lambda: stored_hash(kube, "opted", ns) == config_hash("DEBUG"), timeout=15.0)
    after = rs_names(kube, "opted", ns, quiet=SETTLE)
    assert len(new_since(before, after)) == 1, after
    assert rs_names(kube, "bystander", ns) == bystander
    (event,) = one_config_changed_event(kube, ns, "opted")
    assert "env-config" in event.message


def test_an_edit_to_an_unconsumed_key_changes_nothing(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO", "unused": "1"}), namespace=ns)
    spec = pod_spec(container(env=[env_ref("env-config", "log_level")]))
    kube.apply(deployment(spec=spec), namespace=ns)
    before = rs_names(kube, "web", ns)
    kube.apply(configmap({"log_level": "INFO", "unused": "2"}), namespace=ns)
    assert rs_names(kube, "web", ns, quiet=SETTLE) == before
    assert not config_changed_events(kube, ns)


def test_configmap_and_deployment_applied_together_roll_once(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    before = rs_names(kube, "web", ns)
    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    after = rs_names(kube, "web", ns, quiet=SETTLE)
    assert stored_hash(kube, "web", ns) == config_hash("DEBUG")
    assert len(new_since(before, after)) == 1, after


def test_twenty_quick_edits_within_the_window_roll_once(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "v0"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    before = rs_names(kube, "web", ns)
    for index in range(1, 21):
        kube.apply(configmap({"log_level": f"v{index}"}), namespace=ns)
    eventually(lambda: stored_hash(kube, "web", ns) == config_hash("v20"), timeout=15.0)
    after = rs_names(kube, "web", ns, quiet=SETTLE)
    assert len(new_since(before, after)) == 1, after
    assert len(one_config_changed_event(kube, ns, "web")) == 1


def test_a_patch_refused_once_still_rolls_once(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    """A ValidatingAdmissionPolicy refuses any change of the hash in the namespace until the
    controller's first patch has been refused; then it goes and the retry (backoff) rolls."""
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    kube.apply(deployment("probe", opted_in=False, spec=pod_spec(container())), namespace=ns)
    before = rs_names(kube, "web", ns)
    admission = client.AdmissionregistrationV1Api(kube.api)
    name = f"refuse-hash-{ns}"
    with refusing_hash_changes(admission, name=name, namespace=ns):
        probe = {"spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: config_hash("x")}}}}}
        eventually(lambda: refused(kube, probe, namespace=ns), timeout=20)
        kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
        eventually(lambda: controller.metric("reload_safe_controller_errors_total") >= 1, timeout=20)
        assert stored_hash(kube, "web", ns) == config_hash("INFO")
    eventually(lambda: stored_hash(kube, "web", ns) == config_hash("DEBUG"), timeout=60)
    after = rs_names(kube, "web", ns, quiet=SETTLE)
    assert len(new_since(before, after)) == 1, after
    assert controller.metric("reload_safe_controller_retries_total") >= 1
    assert len(one_config_changed_event(kube, ns, "web")) == 1


@contextlib.contextmanager
def refusing_hash_changes(admission: client.AdmissionregistrationV1Api, *, name: str, namespace: str) -> Iterator[None]:
    annotations = "object.spec.template.metadata.annotations"
    old = "oldObject.spec.template.metadata.annotations"
    key = f"'{HASH_ANNOTATION}'"
    unchanged = (
        f"!has({annotations}) || !({key} in {annotations}) || "
        f"(has({old}) && {key} in {old} && {annotations}[{key}] == {old}[{key}])"
    )
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["deployments"],
                    }
                ]
            },
            "validations": [{"expression": unchanged, "message": "e2e: the config hash may not change now"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }
    admission.create_validating_admission_policy(policy)
    admission.create_validating_admission_policy_binding(binding)
    try:
        yield
    finally:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)


def refused(kube: Kube, patch: dict[str, Any], *, namespace: str) -> bool:
    """Whether a dry-run hash change on the un-referenced probe Deployment is refused (the
    policy is in force; the mutating webhook leaves a workload without references alone)."""
    try:
        client.AppsV1Api(kube.api).patch_namespaced_deployment("probe", namespace, patch, dry_run="All")
    except ApiException as error:
        return error.status in (403, 422)
    return False


def test_an_old_hash_written_back_by_hand_is_restored(
    kube: Kube, start_controller: Callable[[str], ControllerProcess]
) -> None:
    """In the release namespace, where the mutating webhook never acts (its namespaceSelector
    leaves it out), so only the controller can put the current hash back."""
    ns, name = RELEASE_NAMESPACE, f"restore-{int(time.time())}"
    cm_name = f"{name}-config"
    spec = pod_spec(container(envFrom=[env_from(cm_name)]))
    current = hash_of(cm_name, "INFO")
    kube.apply(configmap({"log_level": "INFO"}, name=cm_name), namespace=ns)
    obj = deployment(name, spec=spec)
    obj["spec"]["template"]["metadata"]["annotations"] = {HASH_ANNOTATION: current}
    assert kube.apply(obj, namespace=ns).ok
    try:
        before = rs_names(kube, name, ns)
        process = start_controller("restorer")
        process.wait_leading()
        time.sleep(SETTLE)
        assert not config_changed_events(kube, ns, name)
        old = hash_of(cm_name, "OLD")
        patch = {"spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: old}}}}}
        assert kube.patch_merge("Deployment", name, patch, namespace=ns).ok
        eventually(lambda: stored_hash(kube, name, ns) == current, timeout=20)
        after = rs_names(kube, name, ns, quiet=SETTLE)
        assert stored_hash(kube, name, ns) == current
        # The hand-written hash made one ReplicaSet and the restore went back to the first one.
        assert len(new_since(before, after)) == 1, after
        assert len(one_config_changed_event(kube, ns, name)) == 1
    finally:
        client.AppsV1Api(kube.api).delete_namespaced_deployment(name, ns)
        client.CoreV1Api(kube.api).delete_namespaced_config_map(cm_name, ns)


def hash_of(configmap_name: str, log_level: str) -> str:
    entries = [[configmap_name, "data", "log_level", base64.b64encode(log_level.encode()).decode()]]
    return "sha256:" + hashlib.sha256(json.dumps(entries, separators=(",", ":")).encode()).hexdigest()


def test_a_restart_with_no_config_change_patches_nothing(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess]
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    for index in range(5):
        kube.apply(deployment(f"web-{index}"), namespace=ns)
    before = settled_replica_sets_by_deployment(kube, namespace=ns)
    first = start_controller("first")
    first.wait_leading()
    first.stop()
    time.sleep(4.5)
    second = start_controller("second")
    second.wait_leading()
    after = settled_replica_sets_by_deployment(kube, namespace=ns, quiet=SETTLE)
    assert after == before
    assert not config_changed_events(kube, ns)


def test_a_change_made_while_the_controller_was_down_rolls_at_start(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess]
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    before = rs_names(kube, "web", ns)
    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    process = start_controller("late")
    process.wait_leading()
    eventually(lambda: stored_hash(kube, "web", ns) == config_hash("DEBUG"), timeout=20)
    after = rs_names(kube, "web", ns, quiet=SETTLE)
    assert len(new_since(before, after)) == 1, after


def test_predating_deployments_roll_only_when_their_configmap_changes(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess]
) -> None:
    """PREDATING opted-in Deployments created while the namespace was `off` (no hash), then the
    ConfigMaps (and 1,000 bystander ConfigMaps of 4 KiB, so the ConfigMap list lands after the
    Deployment list), then the namespace turned to `warn` and the controller started: nothing
    rolls. One edit then rolls each consumer of that ConfigMap once, and nothing else."""
    ns = namespace("off")
    groups = 20
    names = [f"web-{index}" for index in range(PREDATING)]
    api = client.CoreV1Api(kube.api)

    def make_deployment(index: int) -> None:
        spec = pod_spec(container(envFrom=[env_from(f"cm-{index % groups}")]))
        assert kube.apply(deployment(names[index], spec=spec), namespace=ns).ok

    def make_configmap(name: str, data: dict[str, str]) -> None:
        api.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": data})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make_deployment, range(PREDATING)))
        list(pool.map(lambda g: make_configmap(f"cm-{g}", {"v": "1"}), range(groups)))
        filler = "x" * 4096
        list(pool.map(lambda i: make_configmap(f"bystander-{i}", {"blob": filler}), range(1000)))
    assert all(stored_hash(kube, name, ns) is None for name in names[:5])
    api.patch_namespace(ns, {"metadata": {"labels": {"reload-safe.io/policy": "warn"}}})
    before = settled_replica_sets_by_deployment(kube, namespace=ns, timeout=120)
    assert len(before) == PREDATING

    started = time.monotonic()
    process = start_controller("predating")
    process.wait_leading(timeout=60)
    eventually(lambda: process.log().count("has no hash: baseline") >= PREDATING, timeout=60)
    print(f"{PREDATING} baselines {time.monotonic() - started:.1f}s after the controller started")
    log = process.log()
    print(
        "ConfigMaps synced after Deployments:",
        log.index("configmaps cache synced") > log.index("Deployment cache synced"),
    )
    assert settled_replica_sets_by_deployment(kube, namespace=ns, quiet=SETTLE, timeout=120) == before
    assert not config_changed_events(kube, ns)

    api.patch_namespaced_config_map("cm-0", ns, {"data": {"v": "2"}})
    consumers = {name for index, name in enumerate(names) if index % groups == 0}
    eventually(lambda: len(config_changed_events(kube, ns)) >= len(consumers), timeout=60)
    after = settled_replica_sets_by_deployment(kube, namespace=ns, quiet=SETTLE, timeout=120)
    rolled = {name for name in names if after[name] != before[name]}
    assert rolled == consumers
    assert all(len(new_since(before[name], after[name])) == 1 for name in consumers)
    events = config_changed_events(kube, ns)
    assert sorted(e.involved_object.name for e in events) == sorted(consumers)


def test_only_the_leader_patches_and_a_standby_takes_over(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess]
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    start = rs_names(kube, "web", ns)
    leader = start_controller("leader")
    leader.wait_leading()
    standby = start_controller("standby")
    time.sleep(2)
    assert standby.metric("reload_safe_controller_leader") == 0

    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    eventually(lambda: stored_hash(kube, "web", ns) == config_hash("DEBUG"), timeout=15.0)
    (rolled,) = one_config_changed_event(kube, ns, "web")
    assert rolled.reporting_instance == "leader"
    first = rs_names(kube, "web", ns, quiet=SETTLE)
    assert len(new_since(start, first)) == 1, first
    assert standby.metric("reload_safe_controller_rollouts_total") == 0  # a standby writes nowhere

    leader.stop(kill=True)
    killed_at = time.monotonic()
    standby.wait_leading(timeout=20)
    took_over = time.monotonic() - killed_at
    print(f"standby took over {took_over:.1f}s after the leader was killed (lease 4s)")
    assert took_over < 4 + 2 + 5, f"standby took {took_over:.1f}s (lease 4s)"
    kube.apply(configmap({"log_level": "WARN"}), namespace=ns)
    eventually(lambda: stored_hash(kube, "web", ns) == config_hash("WARN"), timeout=15.0)
    events = eventually(
        lambda: config_changed_events(kube, ns, "web"), until=lambda found: len(found) == 2, timeout=15.0
    )
    assert [e.reporting_instance for e in events] == ["leader", "standby"]
    second = rs_names(kube, "web", ns, quiet=SETTLE)
    assert len(new_since(first, second)) == 1, second
