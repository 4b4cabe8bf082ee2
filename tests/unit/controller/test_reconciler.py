"""The controller, level-triggered, driven through its watch caches with recorded lists and
events (no cluster). Each scenario here is one the edge-triggered controller got wrong: a failed
patch lost for good, a workload event that never checked its hash, a mass roll at start when the
Deployment list landed before the ConfigMap list, a ConfigMap held twice."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from tests.support.builders import SEED_HASH, container, env_from, env_ref, pod_spec, workload
from tests.support.polling import eventually
from tests.unit.controller.fakes import FakeListWatch, FakePatcher, FakeRecorder
from webhook.controller.configmaps import HashInput
from webhook.controller.consumers import WorkloadKey
from webhook.controller.reconciler import Outcome, Reconciler
from webhook.controller.runner import Controller, Tuning
from webhook.policy import HASH_ANNOTATION, ConfigMapContent

DEBOUNCE = 0.05
KEY = WorkloadKey(kind="Deployment", namespace="ns", name="web")


def spec_hash(entries: list[list[str | None]]) -> str:
    """SPEC "Hash algorithm (exact)", written out independently of webhook.policy."""
    text = json.dumps(entries, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def env_config_hash(log_level: str) -> str:
    return spec_hash([["env-config", "data", "log_level", b64(log_level)]])


def test_the_independent_hash_matches_the_spec_test_vector() -> None:
    assert env_config_hash("INFO") == "sha256:08c2241d98d68d7f1f0676bc1542957dcdccdf1bb200a0788849e738f1bd3394"
    assert env_config_hash("INFO") == SEED_HASH


def cm(data: dict[str, str], name: str = "env-config") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": data}


def deployment(
    *, stored: str | None = SEED_HASH, name: str = "web", spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    return workload(
        "Deployment",
        spec or pod_spec(container(envFrom=[env_from("env-config")])),
        name=name,
        namespace="ns",
        annotations={"reload-safe.io/reload": "rollout"},
        template_annotations={HASH_ANNOTATION: stored} if stored else None,
    )


class Harness:
    def __init__(
        self,
        *,
        configmaps: list[dict[str, Any]],
        deployments: list[dict[str, Any]],
        hold_configmaps: bool = False,
        failures: int = 0,
        may_write: Callable[[], bool] = lambda: True,
        max_wait: float = 1.0,
        resync_period: float = 3600.0,
        skip_namespace: Callable[[str], bool] = lambda namespace: False,
    ) -> None:
        self.configmaps = FakeListWatch(*configmaps, hold=hold_configmaps)
        self.deployments = FakeListWatch(*deployments)
        self.patcher = FakePatcher(failures=failures)
        self.recorder = FakeRecorder()
        self.controller = Controller(
            configmaps=self.configmaps,
            workloads={"Deployment": self.deployments},
            patcher=self.patcher,
            recorder=self.recorder,
            tuning=Tuning(debounce=DEBOUNCE, max_wait=max_wait, rate=1000.0, burst=100, resync_period=resync_period),
            may_write=may_write,
            skip_namespace=skip_namespace,
        )
        self.stop = threading.Event()
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.controller.run(self.stop)
        except BaseException as error:
            self.error.append(error)

    def start(self) -> Harness:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)

    def settle(self) -> None:
        """Until the queue is empty and stays so past a debounce window (or 5 s)."""
        quiet_since: float | None = None

        def quiet_long_enough() -> bool:
            nonlocal quiet_since
            if len(self.controller.queue) == 0 and self.controller.synced:
                quiet_since = quiet_since or time.monotonic()
                return time.monotonic() - quiet_since > 4 * DEBOUNCE
            quiet_since = None
            return False

        eventually(quiet_long_enough, timeout=5, interval=0.01, what="the controller settled")


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        made.append(Harness(**kwargs).start())
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_an_edit_rolls_the_consumer_once_with_the_exact_spec_hash(harness: Callable[..., Harness]) -> None:
    h = harness(configmaps=[cm({"log_level": "INFO"})], deployments=[deployment()])
    h.settle()
    assert h.patcher.patches == []
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    h.settle()
    assert h.patcher.patches == [("Deployment ns/web", env_config_hash("DEBUG"))]
    assert h.recorder.events == [("Deployment ns/web", "ConfigMap env-config")]


def test_twenty_quick_edits_roll_once(harness: Callable[..., Harness]) -> None:
    h = harness(configmaps=[cm({"log_level": "v0"})], deployments=[deployment(stored=env_config_hash("v0"))])
    h.settle()
    for index in range(1, 21):
        h.configmaps.push("MODIFIED", cm({"log_level": f"v{index}"}))
    h.settle()
    assert h.patcher.patches == [("Deployment ns/web", env_config_hash("v20"))]


def test_a_failed_patch_is_retried_with_backoff_until_it_succeeds(harness: Callable[..., Harness]) -> None:
    h = harness(configmaps=[cm({"log_level": "INFO"})], deployments=[deployment()], failures=2)
    h.settle()
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    eventually(lambda: h.patcher.calls == 3, timeout=10)
    h.settle()
    assert h.patcher.patches == [("Deployment ns/web", env_config_hash("DEBUG"))]
    assert h.patcher.calls == 3
    assert h.controller.queue.failures(KEY) == 0, "a success forgets the failures"
    assert h.recorder.events == [("Deployment ns/web", "ConfigMap env-config")], "the retry still names the ConfigMap"


def test_a_workload_deleted_while_backing_off_is_not_retried(harness: Callable[..., Harness]) -> None:
    h = harness(configmaps=[cm({"log_level": "INFO"})], deployments=[deployment()], failures=100)
    h.settle()
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    eventually(lambda: h.patcher.calls >= 1)
    h.deployments.push("DELETED", deployment())
    eventually(lambda: KEY not in h.controller.queue and h.controller.queue.failures(KEY) == 0, timeout=10)
    calls = h.patcher.calls
    time.sleep(1.0)
    assert h.patcher.calls == calls


def test_an_old_hash_written_back_onto_the_template_is_restored(harness: Callable[..., Harness]) -> None:
    current = env_config_hash("DEBUG")
    h = harness(configmaps=[cm({"log_level": "DEBUG"})], deployments=[deployment(stored=current)])
    h.settle()
    assert h.patcher.patches == []
    h.deployments.push("MODIFIED", deployment(stored=SEED_HASH))
    h.settle()
    assert h.patcher.patches == [("Deployment ns/web", current)]


def test_workloads_without_a_hash_listed_before_their_configmaps_are_not_rolled(
    harness: Callable[..., Harness],
) -> None:
    """The Deployment list lands first; the ConfigMaps arrive later. No reconcile may run until
    both have synced, so no baseline is taken from a half-filled cache and nothing rolls."""
    names = [f"web-{index}" for index in range(20)]
    h = harness(
        configmaps=[cm({"log_level": "INFO"})],
        deployments=[deployment(stored=None, name=name) for name in names],
        hold_configmaps=True,
    )
    eventually(lambda: len(h.controller.queue) == len(names))  # listed and queued, not reconciled
    time.sleep(4 * DEBOUNCE)
    assert not h.controller.synced
    assert h.controller.reconciler.baselines == 0
    h.configmaps.release.set()
    h.settle()
    assert h.patcher.patches == []
    assert h.controller.reconciler.baselines == len(names)
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    h.settle()
    assert sorted(h.patcher.patches) == [(f"Deployment ns/{name}", env_config_hash("DEBUG")) for name in sorted(names)]


def test_a_restart_with_nothing_changed_patches_nothing(harness: Callable[..., Harness]) -> None:
    h = harness(
        configmaps=[cm({"log_level": "INFO"})],
        deployments=[deployment(name="hashed"), deployment(name="bare", stored=None)],
    )
    h.settle()
    assert h.patcher.patches == []


def test_a_change_made_while_down_is_rolled_at_start(harness: Callable[..., Harness]) -> None:
    h = harness(configmaps=[cm({"log_level": "WARN"})], deployments=[deployment()])
    h.settle()
    assert h.patcher.patches == [("Deployment ns/web", env_config_hash("WARN"))]


def test_an_unconsumed_key_changes_nothing(harness: Callable[..., Harness]) -> None:
    spec = pod_spec(container(env=[env_ref("env-config", "log_level")]))
    h = harness(configmaps=[cm({"log_level": "INFO", "other": "1"})], deployments=[deployment(spec=spec)])
    h.settle()
    h.configmaps.push("MODIFIED", cm({"log_level": "INFO", "other": "2"}))
    h.settle()
    assert h.patcher.patches == []


def test_without_a_fresh_lease_nothing_is_patched_and_the_worker_stops(harness: Callable[..., Harness]) -> None:
    leading = threading.Event()
    leading.set()
    h = harness(configmaps=[cm({"log_level": "INFO"})], deployments=[deployment()], may_write=leading.is_set)
    h.settle()
    leading.clear()
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    h.thread.join(5)
    assert not h.thread.is_alive()
    assert h.patcher.calls == 0
    assert [type(e).__name__ for e in h.error] == ["NotLeading"]


def test_each_configmap_is_held_once_and_only_what_the_hash_needs(harness: Callable[..., Harness]) -> None:
    h = harness(configmaps=[cm({"log_level": "INFO"})], deployments=[deployment()])
    h.settle()
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    h.settle()
    assert len(h.patcher.patches) == 1
    gc.collect()
    held = [o for o in gc.get_objects() if isinstance(o, ConfigMapContent) and o.data.get("log_level") == "DEBUG"]
    assert held == [], "the policy core's ConfigMapContent lives only for one reconcile"
    stored = h.controller._configmaps.get(("ns", "env-config"))
    assert isinstance(stored, HashInput)
    assert stored.unpack() == ({"log_level": "DEBUG"}, {})


def test_the_resync_reconciles_every_opted_in_workload_again(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[WorkloadKey] = []
    original = Reconciler.reconcile

    def counting(self: Reconciler, key: WorkloadKey, *, changed: Iterable[str] = ()) -> Outcome:
        seen.append(key)
        return original(self, key, changed=changed)

    monkeypatch.setattr(Reconciler, "reconcile", counting)
    h = harness(
        configmaps=[cm({"log_level": "INFO"})],
        deployments=[deployment(name="a"), deployment(name="b", stored=None)],
        resync_period=0.3,
    )
    eventually(lambda: len(seen) >= 6)  # the start pass and at least two resyncs, no event at all
    assert {key.name for key in seen} == {"a", "b"}
    assert h.patcher.patches == []


def test_a_namespace_turned_on_takes_baselines_before_the_next_edit(harness: Callable[..., Harness]) -> None:
    off = {"ns"}
    h = harness(
        configmaps=[cm({"log_level": "INFO"})],
        deployments=[deployment(stored=None)],
        skip_namespace=lambda namespace: namespace in off,
    )
    h.settle()
    assert h.controller.reconciler.baselines == 0
    off.clear()
    h.controller.namespace_changed("MODIFIED", ("", "ns"), None)
    h.settle()
    assert h.controller.reconciler.baselines == 1
    h.configmaps.push("MODIFIED", cm({"log_level": "DEBUG"}))
    h.settle()
    assert h.patcher.patches == [("Deployment ns/web", env_config_hash("DEBUG"))]
