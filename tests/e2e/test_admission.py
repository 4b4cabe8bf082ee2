"""The webhook through a real kube-apiserver: what the API server stored and what it answered."""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import assert_no_records, records_for
from tests.e2e.kube import Kube, owned_by, settled_replica_sets
from tests.e2e.webhook_process import WebhookServer
from tests.envtest import ControlPlane
from tests.support.builders import (
    ALL_KINDS,
    SEED_HASH,
    cm_volume,
    configmap_manifest,
    container,
    env_from,
    env_ref,
    mount,
    pod_spec,
    workload,
)
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION

pytestmark = pytest.mark.e2e

TEMPLATE = {
    "Pod": (),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def template_annotations(obj: dict[str, Any]) -> dict[str, str]:
    node: Any = obj
    for step in TEMPLATE.get(obj["kind"], ("spec", "template")):
        node = node[step]
    return dict(node.get("metadata", {}).get("annotations") or {})


def seed_deployment(**kwargs: Any) -> dict[str, Any]:
    spec = pod_spec(container("my-nginx", envFrom=[env_from("env-config")]))
    obj = workload("Deployment", spec, name="my-nginx", namespace=None, **kwargs)
    obj["spec"]["replicas"] = 1
    return obj


ENV_CONFIG = configmap_manifest("env-config", data={"log_level": "INFO"})


def test_seed_envfrom_in_warn_namespace_is_warned_and_hashed(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    ns = namespace("warn")
    assert kube.apply(ENV_CONFIG, namespace=ns).ok
    answer = kube.apply(seed_deployment(), namespace=ns)
    assert answer.ok, answer.body
    assert len(answer.warnings) == 1
    assert "envFrom ConfigMap env-config never reloads" in answer.warnings[0]
    stored = kube.get("Deployment", "my-nginx", namespace=ns).body
    assert template_annotations(stored)[HASH_ANNOTATION] == SEED_HASH
    decisions = {r["webhook"]: r["decision"] for r in records_for(webhook, namespace=ns, name="my-nginx")}
    assert decisions == {"mutating": "allowed", "validating": "warned"}


def test_what_kube_controller_manager_makes_is_not_sent_and_keeps_the_deployments_hash(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    """SPEC, owned objects: never mutated, warned or denied. The chart's matchConditions keep the
    API server from sending them at all (docs/policy.md), so the warned Deployment's ReplicaSet
    and Pod, made by the controllers, reach neither webhook, and carry the hash the controllers
    copied from the Deployment's template."""
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    answer = kube.apply(seed_deployment(), namespace=ns)
    assert answer.ok
    assert answer.warnings
    (replica_set,) = settled_replica_sets(kube, "my-nginx", namespace=ns, quiet=0.5)
    (pod,) = eventually(
        lambda: [p for p in kube.list_objects("Pod", namespace=ns) if owned_by(p, replica_set)],
        what="the Pod",
        timeout=15.0,
    )
    # Items of a list carry no "kind": read the template directly.
    assert replica_set["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] == SEED_HASH
    assert pod["metadata"]["annotations"][HASH_ANNOTATION] == SEED_HASH
    # The Deployment's own lines were written when its create was answered, before the
    # ReplicaSet existed; anything sent for the ReplicaSet or the Pod would be there by now.
    kinds = sorted((r["kind"], r["webhook"]) for r in webhook.audit_records() if r.get("namespace") == ns)
    assert kinds == [("Deployment", "mutating"), ("Deployment", "validating")]


def test_seed_envfrom_in_enforce_namespace_is_denied_with_the_message(
    kube: Kube, namespace: Callable[..., str]
) -> None:
    ns = namespace("enforce")
    kube.apply(ENV_CONFIG, namespace=ns)
    answer = kube.apply(seed_deployment(), namespace=ns)
    assert answer.status == 403
    assert "reload-safe denied Deployment" in answer.message
    assert 'envFrom reference to ConfigMap "env-config"' in answer.message
    assert "reload-safe.io/reload: rollout" in answer.message
    assert kube.get("Deployment", "my-nginx", namespace=ns).status == 404


def test_plain_volume_mount_is_admitted_silently(kube: Kube, namespace: Callable[..., str]) -> None:
    ns = namespace("enforce")
    kube.apply(configmap_manifest("special-config", data={"log_level": "INFO"}), namespace=ns)
    spec = pod_spec(
        container(volumeMounts=[mount("config-volume", "/etc/config")]),
        volumes=[cm_volume("config-volume", "special-config")],
    )
    answer = kube.apply(workload("Deployment", spec, namespace=None), namespace=ns)
    assert answer.ok
    assert answer.warnings == []
    assert template_annotations(answer.body)[HASH_ANNOTATION].startswith("sha256:")


UNSAFE_SPECS = [
    pytest.param(
        pod_spec(
            container(volumeMounts=[mount("v", "/etc/app.conf", sub_path="app.conf")]), volumes=[cm_volume("v", "app")]
        ),
        "subPath",
        id="subPath",
    ),
    pytest.param(pod_spec(container(env=[env_ref("app", "level")])), "env", id="configMapKeyRef"),
]


@pytest.mark.parametrize(("spec", "kind_of_ref"), UNSAFE_SPECS)
def test_unsafe_references_are_warned(
    kube: Kube, namespace: Callable[..., str], spec: dict[str, Any], kind_of_ref: str
) -> None:
    ns = namespace("warn")
    kube.apply(configmap_manifest("app", data={"level": "1", "app.conf": "x"}), namespace=ns)
    answer = kube.apply(workload("Deployment", spec, namespace=None), namespace=ns)
    assert answer.ok
    assert len(answer.warnings) == 1
    assert f"{kind_of_ref} ConfigMap app" in answer.warnings[0]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_is_judged_and_hashed_on_the_right_path(
    kube: Kube, namespace: Callable[..., str], kind: str
) -> None:
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    obj = workload(kind, pod_spec(container(envFrom=[env_from("env-config")])), namespace=None)
    answer = kube.create(obj, namespace=ns)
    assert answer.ok, answer.body
    assert len(answer.warnings) == 1
    assert answer.warnings[0].startswith(f"{kind}/web ")
    assert template_annotations(answer.body)[HASH_ANNOTATION] == SEED_HASH
    denied = kube.create(obj, namespace=namespace("enforce"))
    assert denied.status == 403


STRATEGIES = [
    pytest.param({"annotations": {"reload-safe.io/reload": "rollout"}}, {}, id="rollout"),
    pytest.param({"annotations": {"reload-safe.io/reload": "none"}}, {}, id="none"),
    pytest.param({"annotations": {"reloader.stakater.com/auto": "true"}}, {}, id="reloader-auto"),
    pytest.param(
        {"annotations": {"configmap.reloader.stakater.com/reload": "env-config"}}, {}, id="reloader-reload-list"
    ),
    pytest.param(
        {"template_annotations": {"reloader.stakater.com/search": "true"}},
        {"annotations": {"reloader.stakater.com/match": "true"}},
        id="reloader-search-match",
    ),
    pytest.param({"annotations": {"wave.pusher.com/update-on-config-change": "true"}}, {}, id="wave"),
    pytest.param({"template_annotations": {"checksum/config": "abc"}}, {}, id="checksum"),
    pytest.param({}, {"immutable": True}, id="immutable"),
]


@pytest.mark.parametrize(("declared", "configmap_extra"), STRATEGIES)
def test_each_strategy_is_admitted_in_enforce(
    kube: Kube, namespace: Callable[..., str], declared: dict[str, Any], configmap_extra: dict[str, Any]
) -> None:
    ns = namespace("enforce")
    cm = configmap_manifest("env-config", data={"log_level": "INFO"})
    if "annotations" in configmap_extra:
        cm["metadata"]["annotations"] = configmap_extra["annotations"]
    if "immutable" in configmap_extra:
        cm["immutable"] = True
    assert kube.apply(cm, namespace=ns).ok
    answer = kube.apply(seed_deployment(**declared), namespace=ns)
    assert answer.ok, answer.message
    assert answer.warnings == []
    assert template_annotations(answer.body)[HASH_ANNOTATION] == SEED_HASH


def test_audit_namespace_admits_silently_and_records(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    ns = namespace("audit")
    kube.apply(ENV_CONFIG, namespace=ns)
    answer = kube.apply(seed_deployment(), namespace=ns)
    assert answer.ok
    assert answer.warnings == []
    assert HASH_ANNOTATION not in template_annotations(answer.body)
    (validating,) = [r for r in records_for(webhook, namespace=ns, name="my-nginx") if r["webhook"] == "validating"]
    assert validating["mode"] == "audit"
    assert validating["decision"] == "allowed"
    assert [v["type"] for v in validating["violations"]] == ["envFrom"]


def test_off_namespace_is_not_even_sent_to_the_webhook(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    ns = namespace("off")
    answer = kube.apply(seed_deployment(), namespace=ns)
    assert answer.ok
    assert answer.warnings == []
    assert HASH_ANNOTATION not in template_annotations(answer.body)
    assert_no_records(webhook, namespace=ns, name="my-nginx")


def test_kube_system_is_untouched(kube: Kube, webhook: WebhookServer) -> None:
    obj = seed_deployment()
    obj["metadata"]["name"] = f"ks-{int(time.time() * 1000)}"
    answer = kube.apply(obj, namespace="kube-system")
    assert answer.ok
    assert answer.warnings == []
    assert HASH_ANNOTATION not in template_annotations(answer.body)
    assert_no_records(webhook, namespace="kube-system", name=obj["metadata"]["name"])


def test_dry_run_creates_nothing_and_is_audited(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    answer = kube.apply(seed_deployment(), namespace=ns, dry_run=True)
    assert answer.ok
    assert len(answer.warnings) == 1
    assert template_annotations(answer.body)[HASH_ANNOTATION] == SEED_HASH
    assert kube.get("Deployment", "my-nginx", namespace=ns).status == 404
    records = records_for(webhook, namespace=ns, name="my-nginx")
    assert records
    assert all(r["dry_run"] is True for r in records)


def test_config_change_and_reapply_rolls_out_and_unchanged_reapply_does_not(
    kube: Kube, namespace: Callable[..., str]
) -> None:
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    first = kube.apply(seed_deployment(), namespace=ns).body
    again = kube.apply(seed_deployment(), namespace=ns).body
    assert again["metadata"]["generation"] == first["metadata"]["generation"]
    assert template_annotations(again) == template_annotations(first)

    kube.apply(configmap_manifest("env-config", data={"log_level": "DEBUG"}), namespace=ns)
    changed = eventually(
        lambda: kube.apply(seed_deployment(), namespace=ns).body,
        until=lambda body: template_annotations(body)[HASH_ANNOTATION] != SEED_HASH,
        timeout=10.0,
        interval=0.2,
    )
    assert changed["metadata"]["generation"] == first["metadata"]["generation"] + 1


def test_configmap_created_after_the_deployment(kube: Kube, namespace: Callable[..., str]) -> None:
    ns = namespace("warn")
    before = kube.apply(seed_deployment(), namespace=ns).body
    absent_hash = template_annotations(before)[HASH_ANNOTATION]
    assert absent_hash != SEED_HASH
    kube.apply(ENV_CONFIG, namespace=ns)
    after = eventually(
        lambda: kube.apply(seed_deployment(), namespace=ns).body,
        until=lambda body: template_annotations(body)[HASH_ANNOTATION] == SEED_HASH,
        timeout=10.0,
        interval=0.2,
    )
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1


def test_a_missing_configmap_is_asked_for_once_per_worker_not_once_per_review(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    """Both webhooks of every create used to GET a ConfigMap that does not exist; the 404 is
    now remembered until the watch adds it (the test above shows the ADDED event ending it).

    kube-controller-manager makes each Deployment's ReplicaSet and Pod; the chart's
    matchConditions keep those owned objects from the webhook, so each create is 2 reviews. They
    are made one create at a time (the next create waits for the previous one's Pod): reviews
    running at once can each miss the memo before either remembers the 404, which is not what
    this counts."""
    ns = namespace("warn")
    before = _direct_reads(webhook, "absent")
    hashes = set()
    for index in range(5):
        spec = pod_spec(container("app", envFrom=[env_from("never-created")]))
        created = kube.create(workload("Deployment", spec, name=f"app-{index}", namespace=None), namespace=ns)
        assert created.ok, created.message
        hashes.add(template_annotations(created.body)[HASH_ANNOTATION])
        eventually(functools.partial(_pods_of, kube, ns, f"app-{index}"), what=f"the Pod of app-{index}", timeout=15.0)
    reads = _direct_reads(webhook, "absent") - before
    assert len(hashes) == 1  # the same "does not exist" hash every time
    lines = [r for r in webhook.audit_records() if r.get("namespace") == ns]
    assert sorted({r["kind"] for r in lines}) == ["Deployment"]  # owned objects are not sent
    assert len(lines) == 5 * 2
    assert reads == 1  # 10 reviews in one server process: one GET, not one per review


def _pods_of(kube: Kube, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = kube.list_objects("Pod", namespace=namespace)
    return [pod for pod in pods if (pod["metadata"].get("labels") or {}).get("app") == app]


def _direct_reads(webhook: WebhookServer, result: str) -> float:
    status, text = webhook.get("/metrics")
    assert status == 200
    line = f'reload_safe_configmap_direct_reads_total{{result="{result}"}} '
    return sum(float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line))


def test_update_in_enforce_keeps_existing_violations_working(kube: Kube, namespace: Callable[..., str]) -> None:
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    assert kube.apply(seed_deployment(), namespace=ns).ok
    client.CoreV1Api(kube.api).patch_namespace(ns, {"metadata": {"labels": {"reload-safe.io/policy": "enforce"}}})
    restart = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}
    answer = eventually(
        lambda: kube.patch_merge("Deployment", "my-nginx", restart, namespace=ns),
        until=lambda a: a.ok and any("envFrom" in w for w in a.warnings),
        timeout=10.0,
        interval=0.2,
    )
    assert answer.ok
    new_violation = copy.deepcopy(seed_deployment())
    new_violation["spec"]["template"]["spec"]["containers"][0]["env"] = [env_ref("env-config", "log_level")]
    denied = kube.apply(new_violation, namespace=ns)
    assert denied.status == 403
    assert '(key "log_level")' in denied.message
    assert any("envFrom" in w for w in denied.warnings)


def test_webhook_audit_lines_match_the_requests(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    for index in range(3):
        obj = seed_deployment()
        obj["metadata"]["name"] = f"app-{index}"
        assert kube.apply(obj, namespace=ns).ok
    for index in range(3):
        records = records_for(webhook, namespace=ns, name=f"app-{index}")
        assert sorted(r["webhook"] for r in records) == ["mutating", "validating"]
        for record in records:
            assert record["operation"] == "CREATE"
            assert record["kind"] == "Deployment"
            assert record["user"]
            assert isinstance(record["latency_ms"], (int, float))
            assert "INFO" not in str(record)


def test_api_server_audit_log_shows_the_audit_annotations(
    kube: Kube, namespace: Callable[..., str], control_plane: ControlPlane
) -> None:
    ns = namespace("warn")
    kube.apply(ENV_CONFIG, namespace=ns)
    kube.apply(seed_deployment(), namespace=ns)

    def annotations() -> dict[str, str]:
        found: dict[str, str] = {}
        for event in control_plane.read_audit_events():
            ref = event.get("objectRef", {})
            if (
                ref.get("namespace") == ns
                and ref.get("resource") == "deployments"
                and event.get("stage") == "ResponseComplete"
            ):
                found.update(event.get("annotations") or {})
        return found

    got = eventually(annotations, until=lambda a: any(k.endswith("/decision") for k in a), timeout=10.0, interval=0.2)
    decisions = {k: v for k, v in got.items() if k.endswith("/decision")}
    assert "warned" in decisions.values()
    assert any(k.endswith("/violations") and v == "1" for k, v in got.items())
