"""SPEC Contract v2 "Secrets", rule by rule: Secret references are found and judged like
ConfigMap references; strategies cover them as the table says; messages say "Secret"; the same
violation on UPDATE also names the same kind of object; without a hash key, immutable is unknown."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.builders import (
    cm,
    container,
    env_from,
    mount,
    pod_spec,
    projected_secret_volume,
    secret,
    secret_env_from,
    secret_env_ref,
    secret_volume,
    workload,
)
from tests.support.spec import V1_CONFIGMAP, V1_DATA, V2_HASH, V2_HASH_KEY, V2_SECRET, V2_SECRET_DATA
from webhook.policy import Mode, Operation, evaluate, references_of
from webhook.policy.confighash import consumed_entries
from webhook.policy.jsontext import compact_json
from webhook.policy.secrets import secret_digest

KEY = V2_HASH_KEY


def judge(
    obj: dict[str, Any],
    *,
    secrets: dict[str, Any] | None,
    mode: Mode = Mode.ENFORCE,
    configmaps: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
) -> Any:
    return evaluate(
        obj=obj,
        operation=Operation.UPDATE if old is not None else Operation.CREATE,
        mode=mode,
        configmaps=configmaps or {},
        secrets=secrets,
        old_obj=old,
    )


SUB_PATH = mount("s", "/etc/s/password", sub_path="password")


@pytest.mark.parametrize(
    ("spec", "type_", "key", "mount_path"),
    [
        pytest.param(pod_spec(container(env=[secret_env_ref("db", "password")])), "env", "password", None, id="env"),
        pytest.param(pod_spec(container(envFrom=[secret_env_from("db")])), "envFrom", None, None, id="envFrom"),
        pytest.param(
            pod_spec(container(volumeMounts=[SUB_PATH]), volumes=[secret_volume("s", "db")]),
            "subPath",
            None,
            "/etc/s/password",
            id="subPath-secret-volume",
        ),
        pytest.param(
            pod_spec(container(volumeMounts=[SUB_PATH]), volumes=[projected_secret_volume("s", "db")]),
            "subPath",
            None,
            "/etc/s/password",
            id="subPath-projected",
        ),
    ],
)
def test_each_unsafe_secret_reference_is_denied_naming_the_secret(
    spec: dict[str, Any], type_: str, key: str | None, mount_path: str | None
) -> None:
    decision = judge(workload("Deployment", spec), secrets={"db": secret("db", {"password": b"x"}, key=KEY)})
    (violation,) = decision.denied
    assert (violation.type, violation.secret, violation.configmap) == (type_, "db", None)
    assert (violation.key, violation.mount_path) == (key, mount_path)
    assert 'Secret "db"' in violation.message
    assert "ConfigMap" not in violation.message
    assert "Secret db" in violation.warning
    assert len(violation.warning) <= 256


def test_a_secret_volume_without_subpath_is_safe() -> None:
    spec = pod_spec(container(volumeMounts=[mount("s", "/etc/s")]), volumes=[secret_volume("s", "db")])
    decision = judge(workload("Deployment", spec), secrets={})
    assert decision.violations == ()
    assert [str(r.type) for r in decision.references] == ["volume"]


@pytest.mark.parametrize(("immutable", "with_key", "denied"), [(True, True, 0), (False, True, 1), (True, False, 1)])
def test_an_immutable_secret_covers_only_when_it_can_be_read(immutable: bool, with_key: bool, denied: int) -> None:
    spec = pod_spec(container(envFrom=[secret_env_from("db")]))
    secrets = {"db": secret("db", key=KEY, immutable=immutable)} if with_key else None
    assert len(judge(workload("Deployment", spec), secrets=secrets).denied) == denied


@pytest.mark.parametrize(
    ("annotations", "denied"),
    [
        ({"reloader.stakater.com/auto": "true"}, 0),
        ({"secret.reloader.stakater.com/auto": "true"}, 0),
        ({"configmap.reloader.stakater.com/auto": "true"}, 1),
        ({"secret.reloader.stakater.com/reload": "other, db"}, 0),
        ({"configmap.reloader.stakater.com/reload": "db"}, 1),
        ({"secret.reloader.stakater.com/auto": "false"}, 1),
        ({"secret.reloader.stakater.com/auto": "True"}, 1),
    ],
)
def test_reloader_secret_annotations_cover_secret_references_only(annotations: dict[str, str], denied: int) -> None:
    spec = pod_spec(container(envFrom=[secret_env_from("db")]))
    decision = judge(workload("Deployment", spec, annotations=annotations), secrets={"db": secret("db", key=KEY)})
    assert len(decision.denied) == denied


def test_secret_reloader_annotations_do_not_cover_configmaps() -> None:
    spec = pod_spec(container(envFrom=[env_from("cfg")]))
    obj = workload("Deployment", spec, annotations={"secret.reloader.stakater.com/auto": "true"})
    assert len(judge(obj, secrets={}, configmaps={"cfg": cm("cfg")}).denied) == 1


@pytest.mark.parametrize(("match", "denied"), [(True, 0), (False, 1)])
def test_reloader_search_covers_a_secret_annotated_match(match: bool, denied: int) -> None:
    spec = pod_spec(container(envFrom=[secret_env_from("db")]))
    obj = workload("Deployment", spec, annotations={"reloader.stakater.com/search": "true"})
    assert len(judge(obj, secrets={"db": secret("db", key=KEY, match=match)}).denied) == denied


def test_on_update_a_configmap_violation_does_not_excuse_a_secret_of_the_same_name() -> None:
    old = workload("Deployment", pod_spec(container(envFrom=[env_from("db")])))
    new = workload("Deployment", pod_spec(container(envFrom=[secret_env_from("db")])))
    decision = judge(new, secrets={"db": secret("db", key=KEY)}, configmaps={"db": cm("db")}, old=old)
    assert [v.secret for v in decision.denied] == ["db"]


def test_on_update_the_same_secret_violation_is_warned_not_denied() -> None:
    obj = workload("Deployment", pod_spec(container(envFrom=[secret_env_from("db")])))
    decision = judge(obj, secrets={"db": secret("db", key=KEY)}, old=obj)
    assert decision.denied == ()
    assert len(decision.warnings) == 1


def test_without_a_key_secret_references_are_judged_but_not_hashed() -> None:
    only_secret = workload("Deployment", pod_spec(container(envFrom=[secret_env_from("db")])))
    decision = judge(only_secret, secrets=None, mode=Mode.WARN)
    assert len(decision.violations) == 1
    assert (decision.config_hash, decision.patch) == (None, None)


def test_with_a_key_a_missing_secret_and_a_missing_key_hash_differently_from_present_ones() -> None:
    spec = pod_spec(container(env=[secret_env_ref("db", "password")]))
    obj = workload("Deployment", spec, annotations={"reload-safe.io/reload": "rollout"})
    present = judge(obj, secrets={"db": secret("db", {"password": b"a"}, key=KEY)}).config_hash
    other_value = judge(obj, secrets={"db": secret("db", {"password": b"b"}, key=KEY)}).config_hash
    key_absent = judge(obj, secrets={"db": secret("db", {"user": b"a"}, key=KEY)}).config_hash
    secret_absent = judge(obj, secrets={}).config_hash
    assert len({present, other_value, key_absent, secret_absent}) == 4
    unconsumed = judge(obj, secrets={"db": secret("db", {"password": b"a", "user": b"z"}, key=KEY)}).config_hash
    assert unconsumed == present, "an unconsumed key changes nothing"


def test_an_unreadable_secret_leaves_the_hash_and_is_warned_not_denied() -> None:
    from webhook.policy import UNREADABLE

    obj = workload("Deployment", pod_spec(container(envFrom=[secret_env_from("db")])))
    decision = judge(obj, secrets={"db": UNREADABLE})
    assert decision.unreadable_secrets == ("db",)
    assert decision.patch is None
    assert decision.denied == ()
    assert decision.hash_warning is not None
    assert "Secret db" in decision.hash_warning


@pytest.mark.parametrize(
    ("rollout", "evaluated"),
    [
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "c", "image": "x", "envFrom": [{"secretRef": {"name": "db"}}]}]
                        }
                    }
                }
            },
            True,
        ),
        ({"spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}}}, False),
    ],
)
def test_a_rollout_is_judged_by_its_template_and_skipped_without_one(rollout: dict[str, Any], evaluated: bool) -> None:
    obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r", "namespace": "ns"},
        **rollout,
    }
    decision = judge(obj, secrets={})
    assert (str(decision.verdict) != "skipped") is evaluated
    if evaluated:
        assert len(decision.denied) == 1
    else:
        assert "workloadRef" in (decision.skip_reason or "")


# --- Step 1 of the hash for Secrets, entry by entry (SPEC v2 "Entries") ---------------------------


def entries_json(spec: dict[str, Any], *, secrets: dict[str, Any], configmaps: dict[str, Any] | None = None) -> str:
    obj = workload("Deployment", spec)
    return compact_json(consumed_entries(references_of(obj), configmaps or {}, secrets)).decode()


def test_a_missing_secret_is_one_entry_with_an_empty_key_and_null() -> None:
    spec = pod_spec(container(envFrom=[secret_env_from("db")]))
    assert entries_json(spec, secrets={}) == '[["db","secret","",null]]'


def test_a_secret_volume_with_items_consumes_only_those_keys() -> None:
    mounted = mount("s", "/etc/s/a", sub_path="a")
    spec = pod_spec(container(volumeMounts=[mounted]), volumes=[secret_volume("s", "db", items=["a"])])
    content = secret("db", {"a": b"1", "b": b"2"}, key=KEY)
    assert entries_json(spec, secrets={"db": content}) == f'[["db","secret","a","{secret_digest(b"1", hash_key=KEY)}"]]'


def test_the_spec_vector_does_not_depend_on_the_order_of_the_references() -> None:
    """SPEC v2's vector with `secretRef` listed before `configMapRef`: every reference counts."""
    spec = pod_spec(container(envFrom=[secret_env_from(V2_SECRET), env_from(V1_CONFIGMAP)]))
    obj = workload("Deployment", spec, annotations={"reload-safe.io/reload": "rollout"})
    data = {key: base64.b64decode(value) for key, value in V2_SECRET_DATA.items()}
    decision = judge(
        obj,
        secrets={V2_SECRET: secret(V2_SECRET, data, key=KEY)},
        configmaps={V1_CONFIGMAP: cm(V1_CONFIGMAP, dict(V1_DATA))},
    )
    assert decision.config_hash == V2_HASH


def test_a_projected_volume_finds_a_configmap_and_a_secret_source_alike() -> None:
    volume = {"name": "p", "projected": {"sources": [{"configMap": {"name": "cfg"}}, {"secret": {"name": "db"}}]}}
    spec = pod_spec(container(volumeMounts=[mount("p", "/etc/p/x", sub_path="x")]), volumes=[volume])
    found = {(r.source.label, r.name, str(r.type)) for r in references_of(workload("Deployment", spec))}
    assert found == {("ConfigMap", "cfg", "subPath"), ("Secret", "db", "subPath")}


@pytest.mark.parametrize(
    "volume",
    [{"name": "v", "configMap": {}}, {"name": "v", "secret": {}}, {"name": "v", "secret": {"secretName": ""}}],
    ids=["configMap-without-name", "secret-without-secretName", "secret-with-empty-secretName"],
)
def test_a_volume_source_that_names_nothing_is_no_reference(volume: dict[str, Any]) -> None:
    spec = pod_spec(container(volumeMounts=[mount("v", "/etc/v/x", sub_path="x")]), volumes=[volume])
    assert references_of(workload("Deployment", spec)) == ()


def test_on_update_a_violation_the_old_object_escaped_through_reloader_match_is_denied() -> None:
    """The old object's violations are judged with the Secrets too: its `search` + `match` covered
    the reference, so after `search` is dropped the violation is new, and enforce denies it."""
    spec = pod_spec(container(envFrom=[secret_env_from("db")]))
    old = workload("Deployment", spec, annotations={"reloader.stakater.com/search": "true"})
    new = workload("Deployment", spec)
    decision = judge(new, secrets={"db": secret("db", key=KEY, match=True)}, old=old)
    assert [v.secret for v in decision.denied] == ["db"]


@pytest.mark.parametrize(
    ("spec", "configmap", "secret_name"),
    [
        (pod_spec(container(envFrom=[env_from("cfg")])), "cfg", None),
        (pod_spec(container(envFrom=[secret_env_from("db")])), None, "db"),
    ],
    ids=["configmap", "secret"],
)
def test_a_violation_names_its_configmap_or_its_secret_never_both(
    spec: dict[str, Any], configmap: str | None, secret_name: str | None
) -> None:
    decision = judge(workload("Deployment", spec), secrets={}, configmaps={"cfg": cm("cfg")})
    (violation,) = decision.violations
    assert (violation.configmap, violation.secret) == (configmap, secret_name)
