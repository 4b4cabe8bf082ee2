"""The rollout controller on the real control plane: `kubectl edit configmap` rolls the workloads
that opted in, exactly once, and nothing else."""

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
from tests.e2e.webhook_process import WebhookServer
from tests.envtest import ControlPlane
from tests.support.builders import container, env_from, env_ref, pod_spec, workload
from webhook.policy import HASH_ANNOTATION

pytestmark = pytest.mark.e2e

DEBOUNCE = 1.0
SETTLE = 3 * DEBOUNCE + 1.0
"""Long enough for a debounced rollout to have happened, if one were coming."""


@pytest.fixture(scope="module")
def lease_namespace(kube: Kube) -> str:
    with contextlib.suppress(ApiException):
        client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    return LEASE_NAMESPACE


@pytest.fixture
def start_controller(
    control_plane: ControlPlane, webhook: WebhookServer, lease_namespace: str, tmp_path: Path
) -> Iterator[Callable[[str], ControllerProcess]]:
    started: list[ControllerProcess] = []

    def start(identity: str) -> ControllerProcess:
        process = ControllerProcess(
            kubeconfig=control_plane.kubeconfig_path, work_dir=tmp_path, identity=identity, debounce=DEBOUNCE
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


def state(kube: Kube, name: str, namespace: str) -> tuple[int, str | None]:
    body = kube.get("Deployment", name, namespace=namespace).body
    annotations = body["spec"]["template"]["metadata"].get("annotations") or {}
    return body["metadata"]["generation"], annotations.get(HASH_ANNOTATION)


def wait_for(check: Callable[[], bool], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_edit_rolls_the_opted_in_deployment_once_and_not_the_others(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    assert kube.apply(deployment("opted"), namespace=ns).ok
    assert kube.apply(deployment("bystander", opted_in=False), namespace=ns).ok
    before, bystander = state(kube, "opted", ns), state(kube, "bystander", ns)

    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    wait_for(lambda: state(kube, "opted", ns)[1] != before[1])
    time.sleep(SETTLE)
    after = state(kube, "opted", ns)
    assert after[0] == before[0] + 1
    assert state(kube, "bystander", ns) == bystander
    events = client.CoreV1Api(kube.api).list_namespaced_event(ns).items
    changed = [e for e in events if e.reason == "ConfigChanged" and e.involved_object.name == "opted"]
    assert len(changed) == 1
    assert "env-config" in changed[0].message


def test_an_edit_to_an_unconsumed_key_changes_nothing(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO", "unused": "1"}), namespace=ns)
    spec = pod_spec(container(env=[env_ref("env-config", "log_level")]))
    kube.apply(deployment(spec=spec), namespace=ns)
    before = state(kube, "web", ns)
    kube.apply(configmap({"log_level": "INFO", "unused": "2"}), namespace=ns)
    time.sleep(SETTLE)
    assert state(kube, "web", ns) == before


def test_configmap_and_deployment_applied_together_roll_once(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    before = state(kube, "web", ns)
    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    time.sleep(SETTLE)
    after = state(kube, "web", ns)
    assert after[1] != before[1]
    assert after[0] == before[0] + 1


def test_twenty_quick_edits_within_the_window_roll_once(
    kube: Kube, namespace: Callable[..., str], controller: ControllerProcess
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "v0"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    before = state(kube, "web", ns)
    for index in range(1, 21):
        kube.apply(configmap({"log_level": f"v{index}"}), namespace=ns)
    wait_for(lambda: state(kube, "web", ns)[1] != before[1])
    time.sleep(SETTLE)
    assert state(kube, "web", ns)[0] == before[0] + 1


def test_a_restart_with_no_config_change_patches_nothing(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess]
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    for index in range(5):
        kube.apply(deployment(f"web-{index}"), namespace=ns)
    before = [state(kube, f"web-{index}", ns) for index in range(5)]
    first = start_controller("first")
    first.wait_leading()
    first.stop()
    time.sleep(4.5)
    second = start_controller("second")
    second.wait_leading()
    time.sleep(SETTLE)
    assert [state(kube, f"web-{index}", ns) for index in range(5)] == before
    assert second.metric("reload_safe_controller_rollouts_total") == 0
    assert "0 patched at start" in second.log()


def test_only_the_leader_patches_and_a_standby_takes_over(
    kube: Kube, namespace: Callable[..., str], start_controller: Callable[[str], ControllerProcess]
) -> None:
    ns = namespace("warn")
    kube.apply(configmap({"log_level": "INFO"}), namespace=ns)
    kube.apply(deployment(), namespace=ns)
    leader = start_controller("leader")
    leader.wait_leading()
    standby = start_controller("standby")
    time.sleep(2)
    assert standby.metric("reload_safe_controller_leader") == 0

    generation = state(kube, "web", ns)[0]
    kube.apply(configmap({"log_level": "DEBUG"}), namespace=ns)
    wait_for(lambda: state(kube, "web", ns)[0] == generation + 1)
    # The controller counts a rollout once its patch call has returned, a moment after the API
    # server has stored it: wait for the count rather than read it at once.
    wait_for(lambda: leader.metric("reload_safe_controller_rollouts_total") == 1)
    assert standby.metric("reload_safe_controller_rollouts_total") == 0

    leader.stop(kill=True)
    killed_at = time.monotonic()
    standby.wait_leading(timeout=20)
    took_over = time.monotonic() - killed_at
    print(f"standby took over {took_over:.1f}s after the leader was killed (lease 4s)")
    assert took_over < 4 + 2 + 5, f"standby took {took_over:.1f}s (lease 4s)"
    kube.apply(configmap({"log_level": "WARN"}), namespace=ns)
    wait_for(lambda: state(kube, "web", ns)[0] == generation + 2)
    wait_for(lambda: standby.metric("reload_safe_controller_rollouts_total") == 1)
