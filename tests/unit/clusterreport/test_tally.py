"""The cluster report's pure part: states, pod attribution through ownerReferences, rendering.

Expected values are SPEC literals (state names, JSON field names, the v1 hash test vector), not
constants imported from the code under test.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.builders import (
    ENV_CONFIG,
    ENV_FROM_SPEC,
    SEED_HASH,
    cm,
    cm_volume,
    container,
    mount,
    pod_spec,
    workload,
)
from tests.support.spec import REPORT_FINDING_FIELDS
from webhook.clusterreport import Tally
from webhook.clusterreport.render import render_text, report_json

OLD_HASH = "sha256:" + "0" * 64
VOLUME_SPEC = pod_spec(container(volumeMounts=[mount("conf", "/etc/app")]), volumes=[cm_volume("conf", "env-config")])
NO_REFS_SPEC = pod_spec(container())
ROLLOUT = {"reload-safe.io/reload": "rollout"}


def obj(kind: str, spec: dict[str, Any], *, name: str = "web", uid: str | None = None, **kw: Any) -> dict[str, Any]:
    made = workload(kind, spec, name=name, **kw)
    made["metadata"]["uid"] = uid or f"uid-{kind}-{name}"
    return made


def owned_by(made: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    made["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    return made


def pod(
    name: str, *, owner: dict[str, Any] | None, config_hash: str | None, spec: dict[str, Any] = ENV_FROM_SPEC
) -> dict[str, Any]:
    annotations = {"reload-safe.io/config-hash": config_hash} if config_hash else None
    made = obj("Pod", spec, name=name, template_annotations=annotations)
    return owned_by(made, owner) if owner else made


def tally(configmaps: dict[str, Any] | None = None) -> Tally:
    return Tally(configmaps={"team-a": ENV_CONFIG if configmaps is None else configmaps})


def one(t: Tally) -> dict[str, Any]:
    (row,) = report_json(t.report())["workloads"]
    return dict(row)


def deployment_with_pods(t: Tally, *, template_hash: str | None, pod_hashes: list[str | None]) -> None:
    annotations = {"reload-safe.io/config-hash": template_hash, **ROLLOUT} if template_hash else ROLLOUT
    deployment = obj("Deployment", ENV_FROM_SPEC, template_annotations=annotations)
    replica_set = owned_by(obj("ReplicaSet", ENV_FROM_SPEC, name="web-5d4f"), deployment)
    t.add_workload(deployment, kind="Deployment")
    t.add_workload(replica_set, kind="ReplicaSet")
    for index, pod_hash in enumerate(pod_hashes):
        t.add_pod(pod(f"web-5d4f-{index}", owner=replica_set, config_hash=pod_hash))


def test_current_deployment_counts_its_replica_sets_pods_and_has_spec_fields() -> None:
    t = tally()
    deployment_with_pods(t, template_hash=SEED_HASH, pod_hashes=[SEED_HASH, SEED_HASH])
    assert one(t) == {
        "kind": "Deployment",
        "namespace": "team-a",
        "name": "web",
        "owned": False,
        "state": "current",
        "config_hash": SEED_HASH,
        "current_hash": SEED_HASH,
        "stale_pods": 0,
        "pods": 2,
        "findings": [],
    }


def test_stale_counts_only_pods_whose_own_hash_differs() -> None:
    t = tally()
    deployment_with_pods(t, template_hash=OLD_HASH, pod_hashes=[OLD_HASH, SEED_HASH, None])
    row = one(t)
    assert (row["state"], row["stale_pods"], row["pods"]) == ("stale", 1, 3)
    assert not t.report().clean


def test_mid_rollout_old_replica_set_pods_are_stale_new_ones_are_not() -> None:
    t = tally()
    deployment = obj(
        "Deployment", ENV_FROM_SPEC, template_annotations={"reload-safe.io/config-hash": SEED_HASH, **ROLLOUT}
    )
    old_rs = owned_by(obj("ReplicaSet", ENV_FROM_SPEC, name="web-old"), deployment)
    new_rs = owned_by(obj("ReplicaSet", ENV_FROM_SPEC, name="web-new"), deployment)
    for made in (deployment, old_rs, new_rs):
        t.add_workload(made, kind=made["kind"])
    t.add_pod(pod("old-0", owner=old_rs, config_hash=OLD_HASH))
    t.add_pod(pod("old-1", owner=old_rs, config_hash=OLD_HASH))
    t.add_pod(pod("new-0", owner=new_rs, config_hash=SEED_HASH))
    row = one(t)
    assert (row["state"], row["stale_pods"], row["pods"]) == ("current", 2, 3)


def test_changed_when_every_reference_is_a_live_updated_volume() -> None:
    t = tally()
    t.add_workload(
        obj("Deployment", VOLUME_SPEC, template_annotations={"reload-safe.io/config-hash": OLD_HASH}), kind="Deployment"
    )
    row = one(t)
    assert row["state"] == "changed"
    assert row["findings"] == []
    assert t.report().clean, "changed needs no restart: exit status 0"


def test_unknown_without_annotation_and_none_without_references() -> None:
    t = tally()
    t.add_workload(obj("StatefulSet", ENV_FROM_SPEC, template_annotations=ROLLOUT), kind="StatefulSet")
    t.add_workload(
        obj("DaemonSet", NO_REFS_SPEC, name="plain", template_annotations={"reload-safe.io/config-hash": OLD_HASH}),
        kind="DaemonSet",
    )
    rows = {row["kind"]: row for row in report_json(t.report())["workloads"]}
    assert (rows["StatefulSet"]["state"], rows["StatefulSet"]["current_hash"]) == ("unknown", SEED_HASH)
    assert (rows["DaemonSet"]["state"], rows["DaemonSet"]["current_hash"]) == ("none", None)
    assert rows["DaemonSet"]["config_hash"] == OLD_HASH


def test_findings_follow_enforce_rules_and_are_shaped_as_scan_without_source() -> None:
    t = tally()
    t.add_workload(obj("Deployment", ENV_FROM_SPEC), kind="Deployment")
    (finding,) = one(t)["findings"]
    assert set(finding) == REPORT_FINDING_FIELDS
    assert (finding["type"], finding["configmap"], finding["container"]) == ("envFrom", "env-config", "app")
    assert finding["secret"] is None
    assert (finding["key"], finding["mount_path"]) == (None, None)
    assert not t.report().clean


def test_cronjob_jobs_are_not_reported_and_their_pods_count_toward_the_cronjob() -> None:
    t = tally()
    cronjob = obj("CronJob", ENV_FROM_SPEC, template_annotations={"reload-safe.io/config-hash": SEED_HASH, **ROLLOUT})
    job = owned_by(obj("Job", ENV_FROM_SPEC, name="web-2901"), cronjob)
    t.add_workload(cronjob, kind="CronJob")
    t.add_workload(job, kind="Job")
    t.add_pod(pod("web-2901-x", owner=job, config_hash=OLD_HASH))
    row = one(t)
    assert (row["kind"], row["pods"], row["stale_pods"]) == ("CronJob", 1, 1)


def test_owned_by_a_custom_resource_is_reported_marked_owned() -> None:
    t = tally()
    operator = {"apiVersion": "example.com/v1", "kind": "Database", "metadata": {"name": "db", "uid": "uid-db"}}
    statefulset = owned_by(obj("StatefulSet", ENV_FROM_SPEC, name="db"), operator)
    t.add_workload(statefulset, kind="StatefulSet")
    t.add_pod(pod("db-0", owner=statefulset, config_hash=None))
    t.add_pod(pod("sidecar", owner=operator, config_hash=None))
    rows = {row["kind"]: row for row in report_json(t.report())["workloads"]}
    assert (rows["StatefulSet"]["owned"], rows["StatefulSet"]["pods"]) == (True, 1)
    assert (rows["Pod"]["owned"], rows["Pod"]["name"], rows["Pod"]["pods"]) == (True, "sidecar", 1)


def test_bare_pod_is_its_own_workload_judged_on_its_own_annotation() -> None:
    t = tally()
    t.add_pod(pod("lonely", owner=None, config_hash=OLD_HASH))
    row = one(t)
    assert (row["kind"], row["state"], row["pods"], row["stale_pods"], row["owned"]) == ("Pod", "stale", 1, 1, False)


def test_deleting_objects_are_skipped_and_orphan_pods_counted_apart() -> None:
    t = tally()
    deployment = obj("Deployment", ENV_FROM_SPEC)
    deployment["metadata"]["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    t.add_workload(deployment, kind="Deployment")
    ghost = obj("ReplicaSet", ENV_FROM_SPEC, name="ghost")
    t.add_pod(pod("orphan", owner=ghost, config_hash=SEED_HASH))
    assert report_json(t.report())["workloads"] == []
    assert t.unattributed_pods == 1


def test_missing_configmap_still_has_a_current_hash() -> None:
    t = tally(configmaps={})
    t.add_workload(
        obj("Deployment", ENV_FROM_SPEC, template_annotations={"reload-safe.io/config-hash": SEED_HASH, **ROLLOUT}),
        kind="Deployment",
    )
    row = one(t)
    assert row["state"] == "stale"
    assert row["current_hash"] not in (None, SEED_HASH)


def test_summary_and_text_give_counts_by_state() -> None:
    t = tally(configmaps={"env-config": cm("env-config", {"log_level": "DEBUG"})})
    deployment_with_pods(t, template_hash=SEED_HASH, pod_hashes=[SEED_HASH])
    t.add_workload(obj("Deployment", NO_REFS_SPEC, name="plain"), kind="Deployment")
    document = report_json(t.report())
    assert document["summary"] == {
        "workloads": 2,
        "by_state": {"current": 0, "stale": 1, "changed": 0, "unknown": 0, "none": 1},
        "pods": 1,
        "stale_pods": 1,
        "findings": 0,
    }
    json.dumps(document)  # the wire format is plain JSON
    text = render_text(t.report())
    lines = text.splitlines()
    assert lines[0].split() == ["KIND", "NAMESPACE/NAME", "STATE", "STALE/PODS", "FINDINGS"]
    assert lines[1].split() == ["Deployment", "team-a/plain", "none", "0/0", "0"]
    assert lines[2].split() == ["Deployment", "team-a/web", "stale", "1/1", "0"]
    assert lines[-1] == "2 workloads: 0 current, 1 stale, 0 changed, 0 unknown, 1 none; 1 of 1 pod stale; 0 findings"
    assert "DEBUG" not in text
    assert "DEBUG" not in json.dumps(document)
