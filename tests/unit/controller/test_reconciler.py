"""The rollout controller's decisions, fed recorded watch events (no cluster)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.builders import SEED_HASH, container, env_from, env_ref, pod_spec, workload
from webhook.controller.consumers import Consumer, WorkloadKey, consumer_of
from webhook.controller.debounce import Debouncer
from webhook.controller.decide import desired_hash
from webhook.controller.ratelimit import TokenBucket
from webhook.controller.reconciler import Reconciler, Stats
from webhook.policy import HASH_ANNOTATION, ConfigMapContent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakePatcher:
    def __init__(self, *, fail: bool = False) -> None:
        self.patches: list[tuple[str, str]] = []
        self.fail = fail

    def patch_hash(self, consumer: Consumer, *, value: str) -> None:
        if self.fail:
            raise RuntimeError("API down")
        self.patches.append((str(consumer.key), value))


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def config_changed(self, consumer: Consumer, *, configmap: str, old: str | None, new: str) -> None:
        self.events.append((str(consumer.key), configmap))


WINDOW = 2.0


def make(*, fail: bool = False, rate: float = 1000.0) -> tuple[Reconciler, FakePatcher, FakeRecorder, Clock, Stats]:
    clock, patcher, recorder, stats = Clock(), FakePatcher(fail=fail), FakeRecorder(), Stats()
    reconciler = Reconciler(
        patcher=patcher,
        recorder=recorder,
        debouncer=Debouncer(window=WINDOW, max_wait=10 * WINDOW, clock=clock),
        bucket=TokenBucket(rate=rate, burst=1, clock=clock, sleep=clock.sleep),
        counters=stats,
    )
    return reconciler, patcher, recorder, clock, stats


def cm(data: dict[str, str], name: str = "env-config") -> ConfigMapContent:
    return ConfigMapContent(name=name, data=data)


def configmap_event(reconciler: Reconciler, event: str, content: ConfigMapContent) -> None:
    """What the ConfigMap watch tells the reconciler (namespace "ns")."""
    reconciler.configmap_changed("ns", content.name, None if event == "DELETED" else content)


def workload_event(reconciler: Reconciler, event: str, obj: dict[str, Any]) -> None:
    """What a workload watch tells the reconciler: the consumer record, or None when gone."""
    key = WorkloadKey(kind=obj["kind"], namespace=obj["metadata"]["namespace"], name=obj["metadata"]["name"])
    reconciler.workload_changed(key, None if event == "DELETED" else consumer_of(obj))


def deployment(
    *, opted_in: bool = True, stored: str | None = SEED_HASH, spec: dict[str, Any] | None = None, name: str = "web"
) -> dict[str, Any]:
    template = {HASH_ANNOTATION: stored} if stored else None
    annotations = {"reload-safe.io/reload": "rollout"} if opted_in else None
    return workload(
        "Deployment",
        spec or pod_spec(container(envFrom=[env_from("env-config")])),
        name=name,
        namespace="ns",
        annotations=annotations,
        template_annotations=template,
    )


def run_due(reconciler: Reconciler, clock: Clock) -> int:
    clock.now += WINDOW + 0.01
    return reconciler.process_due(timeout=0)


def test_edit_rolls_the_opted_in_consumer_once_with_the_webhook_hash() -> None:
    reconciler, patcher, recorder, clock, stats = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment())
    assert reconciler.resync() == 0
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "DEBUG"}))
    assert run_due(reconciler, clock) == 1
    ((key, value),) = patcher.patches
    assert key == "Deployment ns/web"
    assert value != SEED_HASH
    assert recorder.events == [("Deployment ns/web", "env-config")]
    assert stats.rollouts == 1


def test_not_opted_in_is_untouched() -> None:
    reconciler, patcher, _, clock, _ = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment(opted_in=False))
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "DEBUG"}))
    assert run_due(reconciler, clock) == 0
    assert patcher.patches == []


def test_an_unconsumed_key_changes_nothing() -> None:
    reconciler, patcher, _, clock, stats = make()
    spec = pod_spec(container(env=[env_ref("env-config", "log_level")]))
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO", "other": "1"}))
    obj = deployment(spec=spec, stored=None)
    workload_event(reconciler, "ADDED", obj)
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "INFO", "other": "2"}))
    assert run_due(reconciler, clock) == 0
    assert patcher.patches == []
    assert stats.unchanged_count == 1


def test_twenty_quick_edits_within_the_window_are_one_rollout() -> None:
    reconciler, patcher, _, clock, _ = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment())
    for index in range(20):
        configmap_event(reconciler, "MODIFIED", cm({"log_level": f"v{index}"}))
        clock.now += 0.05
        assert reconciler.process_due(timeout=0) == 0
    assert run_due(reconciler, clock) == 1
    assert len(patcher.patches) == 1


def test_webhook_already_wrote_the_hash_so_no_second_rollout() -> None:
    """ConfigMap and Deployment applied together: the webhook hashes the new content first."""
    reconciler, patcher, _, clock, stats = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment())
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "DEBUG"}))
    consumer = consumer_of(deployment(stored=None))
    assert consumer is not None
    new_hash = desired_hash(consumer, {"env-config": ConfigMapContent(name="env-config", data={"log_level": "DEBUG"})})
    assert new_hash is not None
    workload_event(reconciler, "MODIFIED", deployment(stored=new_hash))
    assert run_due(reconciler, clock) == 0
    assert patcher.patches == []
    assert stats.unchanged_count == 1


def test_restart_with_no_change_patches_nothing() -> None:
    reconciler, patcher, _, _, _ = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    for index in range(50):
        workload_event(reconciler, "ADDED", deployment(name=f"web-{index}"))
    assert reconciler.resync() == 0
    assert patcher.patches == []


def test_restart_after_a_change_while_down_patches_only_the_changed() -> None:
    reconciler, patcher, _, _, _ = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "DEBUG"}))
    configmap_event(reconciler, "ADDED", cm({"x": "1"}, name="other"))
    workload_event(reconciler, "ADDED", deployment(name="stale"))
    workload_event(reconciler, "ADDED", deployment(name="unhashed", stored=None))
    assert reconciler.resync() == 1
    assert [key for key, _ in patcher.patches] == ["Deployment ns/stale"]


@pytest.mark.parametrize("event", ["DELETED", "ADDED"])
def test_deleting_and_recreating_a_configmap(event: str) -> None:
    reconciler, patcher, _, clock, _ = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment())
    configmap_event(reconciler, "DELETED", cm({"log_level": "INFO"}))
    assert run_due(reconciler, clock) == 1
    if event == "ADDED":
        configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
        assert run_due(reconciler, clock) == 1
        assert patcher.patches[-1][1] == SEED_HASH


def test_unhashed_workload_rolls_on_the_first_real_change() -> None:
    reconciler, _patcher, _, clock, _ = make()
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment(stored=None))
    assert reconciler.resync() == 0
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "DEBUG"}))
    assert run_due(reconciler, clock) == 1


def test_patch_errors_are_counted_and_do_not_stop_the_loop() -> None:
    reconciler, _patcher, recorder, clock, stats = make(fail=True)
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    workload_event(reconciler, "ADDED", deployment())
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "DEBUG"}))
    assert run_due(reconciler, clock) == 0
    assert stats.errors == 1
    assert recorder.events == []


def test_rate_limit_spreads_patches_over_time() -> None:
    reconciler, _patcher, _, clock, _ = make(rate=10.0)
    configmap_event(reconciler, "ADDED", cm({"log_level": "INFO"}))
    for index in range(30):
        workload_event(reconciler, "ADDED", deployment(name=f"w{index:02d}"))
    configmap_event(reconciler, "MODIFIED", cm({"log_level": "DEBUG"}))
    start = clock.now + WINDOW + 0.01
    assert run_due(reconciler, clock) == 30
    assert clock.now - start == pytest.approx(2.9, abs=0.05)


def test_deleted_workload_leaves_the_index() -> None:
    reconciler, _, _, _, _ = make()
    obj = deployment()
    workload_event(reconciler, "ADDED", obj)
    assert len(reconciler.index) == 1
    workload_event(reconciler, "DELETED", copy.deepcopy(obj))
    assert len(reconciler.index) == 0
