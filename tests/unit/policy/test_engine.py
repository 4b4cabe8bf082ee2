"""SPEC "Policy per namespace", "Owned objects", UPDATE semantics, and "Mutation: the config hash"."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from tests.support.builders import (
    ALL_KINDS,
    ENV_CONFIG,
    ENV_FROM_SPEC,
    SEED_HASH,
    cm,
    cm_volume,
    container,
    env_from,
    env_ref,
    mount,
    pod_spec,
    workload,
)
from webhook.policy import HASH_ANNOTATION, UNREADABLE, Mode, Operation, Verdict, evaluate
from webhook.policy.model import ConfigMaps
from webhook.policy.namespaces import resolve_mode


def judge(
    obj: dict[str, Any],
    *,
    mode: Mode = Mode.WARN,
    operation: Operation = Operation.CREATE,
    configmaps: ConfigMaps = ENV_CONFIG,
    old: dict[str, Any] | None = None,
) -> Any:
    return evaluate(obj=obj, operation=operation, mode=mode, configmaps=configmaps, old_obj=old)


SEED = workload("Deployment", ENV_FROM_SPEC, name="my-nginx", namespace="default")


@pytest.mark.parametrize(
    ("mode", "verdict", "warnings", "patched", "denial"),
    [
        pytest.param(Mode.ENFORCE, Verdict.DENIED, 0, True, True, id="enforce"),
        pytest.param(Mode.WARN, Verdict.WARNED, 1, True, False, id="warn"),
        pytest.param(Mode.AUDIT, Verdict.ALLOWED, 0, False, False, id="audit"),
        pytest.param(Mode.OFF, Verdict.SKIPPED, 0, False, False, id="off"),
    ],
)
def test_modes(mode: Mode, verdict: Verdict, warnings: int, patched: bool, denial: bool) -> None:
    decision = judge(SEED, mode=mode)
    assert decision.verdict is verdict
    assert len(decision.warnings) == warnings
    assert (decision.patch is not None) is patched
    assert (decision.denial_message is not None) is denial


def test_enforce_denial_names_every_violation_and_the_fixes() -> None:
    spec = pod_spec(container(envFrom=[env_from("env-config")], env=[env_ref("env-config", "log_level")]))
    decision = judge(workload("Deployment", spec, name="my-nginx", namespace="default"), mode=Mode.ENFORCE)
    message = decision.denial_message
    assert message.startswith("reload-safe denied Deployment default/my-nginx: 2 findings")
    assert 'envFrom reference to ConfigMap "env-config"' in message
    assert 'env reference to ConfigMap "env-config" (key "log_level")' in message
    for fix in ("reload-safe.io/reload: rollout", "without subPath", "immutable", "reload-safe.io/reload: none"):
        assert fix in message
    assert "INFO" not in message


@pytest.mark.parametrize(
    ("namespace", "label", "expected", "problem"),
    [
        pytest.param("team", "enforce", Mode.ENFORCE, False, id="label-enforce"),
        pytest.param("team", "audit", Mode.AUDIT, False, id="label-audit"),
        pytest.param("team", None, Mode.WARN, False, id="no-label-default"),
        pytest.param("team", "Enforce", Mode.WARN, True, id="unknown-value-default-and-problem"),
        pytest.param("kube-system", "enforce", Mode.OFF, False, id="kube-system-never"),
        pytest.param("reload-safe", "enforce", Mode.OFF, False, id="own-namespace-never"),
    ],
)
def test_namespace_modes(namespace: str, label: str | None, expected: Mode, problem: bool) -> None:
    resolved = resolve_mode(namespace=namespace, label=label, default=Mode.WARN, exempt={"reload-safe"})
    assert resolved.mode is expected
    assert (resolved.problem is not None) is problem


@pytest.mark.parametrize("mode", [Mode.ENFORCE, Mode.WARN, Mode.AUDIT])
def test_owned_objects_are_evaluated_but_never_mutated_warned_or_denied(mode: Mode) -> None:
    decision = judge(workload("ReplicaSet", ENV_FROM_SPEC, owned=True), mode=mode)
    assert decision.owned is True
    assert decision.verdict is Verdict.ALLOWED
    assert decision.patch is None
    assert decision.warnings == ()
    assert len(decision.violations) == 1


def test_owned_requires_controller_true() -> None:
    obj = workload("Pod", ENV_FROM_SPEC)
    obj["metadata"]["ownerReferences"] = [{"kind": "ConfigMap", "name": "x", "controller": False}]
    assert judge(obj).owned is False


def test_objects_being_deleted_are_skipped() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC)
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    decision = judge(obj, mode=Mode.ENFORCE)
    assert decision.verdict is Verdict.SKIPPED
    assert decision.patch is None


@pytest.mark.parametrize("operation", [Operation.DELETE, Operation.CONNECT])
def test_only_create_and_update_are_evaluated(operation: Operation) -> None:
    assert judge(SEED, operation=operation, mode=Mode.ENFORCE).verdict is Verdict.SKIPPED


PATHS = {
    "Pod": "/metadata/annotations",
    "CronJob": "/spec/jobTemplate/spec/template/metadata/annotations",
}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_patch_creates_annotations_on_the_right_path(kind: str) -> None:
    obj = workload(kind, ENV_FROM_SPEC)
    decision = judge(obj)
    path = PATHS.get(kind, "/spec/template/metadata/annotations")
    assert decision.patch == [{"op": "add", "path": path, "value": {HASH_ANNOTATION: SEED_HASH}}]
    patched = jsonpatch.apply_patch(obj, decision.patch)
    assert judge(patched).patch is None


def test_patch_escapes_the_annotation_key_when_annotations_exist() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC, template_annotations={"team": "a"})
    decision = judge(obj)
    assert decision.patch == [
        {"op": "add", "path": "/spec/template/metadata/annotations/reload-safe.io~1config-hash", "value": SEED_HASH}
    ]


def test_patch_replaces_a_stale_hash() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC, template_annotations={HASH_ANNOTATION: "sha256:old"})
    (op,) = judge(obj).patch
    assert op["op"] == "replace"
    assert op["value"] == SEED_HASH


def test_patch_creates_template_metadata_when_absent() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC)
    del obj["spec"]["template"]["metadata"]
    decision = judge(obj)
    assert decision.patch == [
        {"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {HASH_ANNOTATION: SEED_HASH}}}
    ]


def test_no_patch_when_the_hash_is_current() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC, template_annotations={HASH_ANNOTATION: SEED_HASH})
    decision = judge(obj)
    assert decision.patch is None
    assert decision.config_hash == SEED_HASH


def test_safe_references_are_hashed_too() -> None:
    spec = pod_spec(container(volumeMounts=[mount("v", "/etc/cfg")]), volumes=[cm_volume("v", "env-config")])
    decision = judge(workload("Deployment", spec), mode=Mode.ENFORCE)
    assert decision.verdict is Verdict.ALLOWED
    assert decision.violations == ()
    assert decision.patch is not None


def test_no_references_no_hash() -> None:
    decision = judge(workload("Deployment", pod_spec(container())))
    assert decision.config_hash is None
    assert decision.patch is None


@pytest.mark.parametrize(
    ("kind", "operation", "patched"),
    [
        pytest.param("Pod", Operation.CREATE, True, id="pod-create"),
        pytest.param("Pod", Operation.UPDATE, False, id="pod-update-never"),
        pytest.param("Job", Operation.CREATE, True, id="job-create"),
        pytest.param("Job", Operation.UPDATE, False, id="job-update-never"),
        pytest.param("Deployment", Operation.UPDATE, True, id="deployment-update"),
        pytest.param("CronJob", Operation.UPDATE, True, id="cronjob-update"),
    ],
)
def test_pods_and_jobs_are_hashed_on_create_only(kind: str, operation: Operation, patched: bool) -> None:
    obj = workload(kind, ENV_FROM_SPEC)
    assert (judge(obj, operation=operation, old=obj).patch is not None) is patched


def test_update_denies_only_new_violations_and_warns_existing_ones() -> None:
    old = workload("Deployment", ENV_FROM_SPEC)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["env"] = [env_ref("env-config", "log_level")]
    decision = judge(new, mode=Mode.ENFORCE, operation=Operation.UPDATE, old=old)
    assert decision.verdict is Verdict.DENIED
    assert [v.type for v in decision.denied] == ["env"]
    assert len(decision.warnings) == 1
    assert "envFrom" in decision.warnings[0]


def test_update_with_only_existing_violations_is_warned() -> None:
    old = workload("Deployment", ENV_FROM_SPEC)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"edited": "yes"}
    decision = judge(new, mode=Mode.ENFORCE, operation=Operation.UPDATE, old=old)
    assert decision.verdict is Verdict.WARNED
    assert decision.denied == ()


def test_existing_invalid_annotation_is_identified_by_level_and_value() -> None:
    old = workload("Deployment", pod_spec(container()), annotations={"reload-safe.io/reload": "x"})
    same = judge(old, mode=Mode.ENFORCE, operation=Operation.UPDATE, old=old)
    other = workload("Deployment", pod_spec(container()), annotations={"reload-safe.io/reload": "y"})
    changed = judge(other, mode=Mode.ENFORCE, operation=Operation.UPDATE, old=old)
    assert same.verdict is Verdict.WARNED
    assert changed.verdict is Verdict.DENIED


def test_unreadable_configmap_leaves_the_hash_and_warns() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC, template_annotations={HASH_ANNOTATION: "sha256:previous"})
    decision = judge(obj, configmaps={"env-config": UNREADABLE}, mode=Mode.ENFORCE)
    assert decision.patch is None
    assert decision.config_hash is None
    assert decision.hash_warning is not None
    assert "env-config" in decision.hash_warning
    assert decision.verdict is Verdict.WARNED, "unknown is not absent: it might be immutable, so warn, never deny"


def test_missing_configmap_still_hashes_with_the_absent_marker() -> None:
    decision = judge(SEED, configmaps={})
    assert decision.config_hash is not None
    assert decision.config_hash != SEED_HASH


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_malformed_object_is_judged_as_far_as_it_can_be_read(kind: str) -> None:
    decision = evaluate(
        obj={"kind": kind, "spec": [1, 2]}, operation=Operation.CREATE, mode=Mode.ENFORCE, configmaps={}
    )
    assert decision.verdict is Verdict.ALLOWED


def test_duplicate_references_are_one_violation() -> None:
    spec = pod_spec(container(env=[env_ref("c", "k", var="A"), env_ref("c", "k", var="B")]))
    assert len(judge(workload("Deployment", spec), configmaps={"c": cm("c")}).violations) == 1
