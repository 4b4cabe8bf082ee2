"""What a Decision carries for the audit log and the answers, on every path through `evaluate`.

SPEC "Audit log": `kind`, `namespace`, `name`, `mode`, `decision`, `owned`, `violations`,
`acknowledged`, `strategies`, `config_hash`; "Messages": what a message names. Found by
mutation testing (docs/testing.md): each test here killed mutants the other tests let live.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest

from tests.support.builders import (
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
from tests.support.spec import RELOAD_ANNOTATION, RELOADER_AUTO
from webhook.policy import UNREADABLE, ConfigMaps, Mode, Operation, Strategy, Verdict, evaluate, references_of
from webhook.policy.engine import configmap_names
from webhook.policy.jsontext import compact_json
from webhook.policy.patch import escape_pointer


def judge(
    obj: Any,
    configmaps: ConfigMaps = ENV_CONFIG,
    *,
    mode: Mode = Mode.ENFORCE,
    operation: Operation = Operation.CREATE,
    kind: str | None = None,
    old: dict[str, Any] | None = None,
) -> Any:
    return evaluate(obj=obj, operation=operation, mode=mode, configmaps=configmaps, kind=kind, old_obj=old)


def kindless(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "kind"}


# --- the request's kind is the object's kind ------------------------------------------------------


def test_the_kind_given_is_used_when_the_object_names_none() -> None:
    """The API server's `request.kind` is authoritative; an object need not repeat it."""
    obj = kindless(workload("Deployment", ENV_FROM_SPEC))
    decision = judge(obj, kind="Deployment")
    assert (decision.verdict, decision.kind, decision.config_hash) == (Verdict.DENIED, "Deployment", SEED_HASH)
    assert judge(obj).verdict is Verdict.SKIPPED
    assert [r.name for r in references_of(obj, kind="Deployment")] == ["env-config"]
    assert configmap_names(obj, kind="Deployment") == {"env-config"}
    assert configmap_names(obj) == frozenset()


def test_the_old_object_is_read_with_the_kind_given_too() -> None:
    old = kindless(workload("Deployment", ENV_FROM_SPEC))
    decision = judge(old, kind="Deployment", operation=Operation.UPDATE, old=old)
    assert decision.verdict is Verdict.WARNED, "the same violation as before: warned, not denied"


def test_a_read_only_mapping_is_read_like_a_dict() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC)
    frozen = MappingProxyType({**obj, "metadata": MappingProxyType(obj["metadata"])})
    assert judge(frozen).name == "web"


# --- skipped and evaluated decisions name what they judged ----------------------------------------


@pytest.mark.parametrize("mode", [Mode.ENFORCE, Mode.WARN])
def test_a_kind_not_looked_at_is_skipped_and_named(mode: Mode) -> None:
    decision = judge({"kind": "Service", "metadata": {"name": "s"}}, mode=mode, kind="Service")
    assert (decision.verdict, decision.mode, decision.kind) == (Verdict.SKIPPED, mode, "Service")
    assert decision.skip_reason
    assert decision.allowed is True


@pytest.mark.parametrize(
    ("mode", "operation", "deleting"),
    [
        pytest.param(Mode.OFF, Operation.CREATE, False, id="off"),
        pytest.param(Mode.ENFORCE, Operation.DELETE, False, id="delete"),
        pytest.param(Mode.WARN, Operation.CREATE, True, id="being-deleted"),
    ],
)
def test_a_skipped_workload_is_named_with_the_mode_and_a_reason(
    mode: Mode, operation: Operation, deleting: bool
) -> None:
    obj = workload("StatefulSet", ENV_FROM_SPEC, name="db", namespace="team-b")
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    decision = judge(obj, mode=mode, operation=operation)
    assert (decision.verdict, decision.mode, decision.kind, decision.name, decision.namespace) == (
        Verdict.SKIPPED,
        mode,
        "StatefulSet",
        "db",
        "team-b",
    )
    assert decision.skip_reason
    assert (decision.patch, decision.warnings, decision.violations) == (None, (), ())


def test_an_evaluated_workload_is_named_with_the_mode() -> None:
    decision = judge(workload("DaemonSet", ENV_FROM_SPEC, name="agent", namespace="ops"), mode=Mode.AUDIT)
    assert (decision.mode, decision.kind, decision.name, decision.namespace) == (
        Mode.AUDIT,
        "DaemonSet",
        "agent",
        "ops",
    )


def test_a_pod_created_with_generate_name_is_named_by_it() -> None:
    obj = workload("Pod", ENV_FROM_SPEC)
    obj["metadata"] = {"generateName": "web-", "namespace": "team-a"}
    decision = judge(obj)
    assert decision.name == "web-"
    (violation,) = decision.violations
    assert "web-" in violation.message


def test_coverage_pairs_each_unsafe_reference_with_what_covers_it() -> None:
    decision = judge(workload("Deployment", ENV_FROM_SPEC, annotations={RELOADER_AUTO: "true"}))
    assert [(r.name, str(r.type)) for r in decision.references] == [("env-config", "envFrom")]
    (coverage,) = decision.coverage
    assert coverage.reference.name == "env-config"
    assert str(coverage.reference.type) == "envFrom"
    assert coverage.strategies == (Strategy.RELOADER,)


def test_acknowledged_is_false_not_missing_without_references() -> None:
    assert judge(workload("Deployment", pod_spec(container()))).acknowledged is False


@pytest.mark.parametrize(
    ("kind", "value", "strategies"),
    [
        pytest.param("Deployment", "rollout", ["rollout"], id="rollout-declared-on-a-rolling-kind"),
        pytest.param("Pod", "rollout", [], id="rollout-declared-on-a-pod-is-no-strategy"),
        pytest.param("Pod", "none", ["none"], id="none-declared-on-a-pod"),
        pytest.param("Job", "none", ["none"], id="none-declared-on-a-job"),
    ],
)
def test_declared_strategies_are_recorded_without_references(kind: str, value: str, strategies: list[str]) -> None:
    decision = judge(workload(kind, pod_spec(container()), annotations={RELOAD_ANNOTATION: value}))
    assert [str(s) for s in decision.strategies] == strategies


# --- UPDATE compares with the old object only on UPDATE ------------------------------------------


def test_a_create_is_never_excused_by_an_old_object() -> None:
    obj = workload("Deployment", ENV_FROM_SPEC)
    assert judge(obj, operation=Operation.CREATE, old=obj).verdict is Verdict.DENIED


# --- unreadable ConfigMaps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "owned", "warned"),
    [
        pytest.param(Mode.ENFORCE, False, True, id="enforce"),
        pytest.param(Mode.WARN, False, True, id="warn"),
        pytest.param(Mode.AUDIT, False, False, id="audit-is-silent"),
        pytest.param(Mode.WARN, True, False, id="owned-never-warned"),
    ],
)
def test_an_unreadable_configmap_is_named_and_warned_only_where_warnings_are_given(
    mode: Mode, owned: bool, warned: bool
) -> None:
    obj = workload("Deployment", ENV_FROM_SPEC, owned=owned)
    decision = judge(obj, {"env-config": UNREADABLE}, mode=mode)
    assert decision.unreadable == ("env-config",)
    assert (decision.hash_warning is not None) is warned
    assert decision.patch is None


@pytest.mark.parametrize("count", [1, 3, 4])
def test_the_unreadable_warning_lists_up_to_three_names(count: int) -> None:
    names = [f"cm-{i}" for i in range(count)]
    spec = pod_spec(container(envFrom=[env_from(n) for n in names]))
    decision = judge(workload("Deployment", spec), dict.fromkeys(names, UNREADABLE), mode=Mode.WARN)
    warning = decision.hash_warning
    assert warning is not None
    assert len(warning) <= 256
    assert [n for n in names if re.search(rf"\b{n}\b", warning)] == names[:3]
    assert ("…" in warning) is (count > 3)


# --- messages name what SPEC says they name ---------------------------------------------------------


def test_a_subpath_message_names_the_configmap_and_the_mount_path() -> None:
    spec = pod_spec(
        container(volumeMounts=[mount("v", "/etc/app/app.conf", sub_path="app.conf")]), volumes=[cm_volume("v", "cfg")]
    )
    (violation,) = judge(workload("Deployment", spec), {"cfg": cm("cfg")}).violations
    assert 'subPath reference to ConfigMap "cfg" (mounted at "/etc/app/app.conf")' in violation.message
    assert re.search(r"\bcfg\b", violation.warning)
    assert re.search(r"/etc/app/app\.conf\b", violation.warning)


@pytest.mark.parametrize(
    ("refs", "configmap"),
    [
        pytest.param({"envFrom": [env_from("settings")]}, "settings", id="envFrom"),
        pytest.param({"env": [env_ref("settings", "level")]}, "settings", id="env"),
    ],
)
def test_a_warning_names_the_configmap_as_a_word(refs: dict[str, Any], configmap: str) -> None:
    (warning,) = judge(workload("Deployment", pod_spec(container(**refs))), {}, mode=Mode.WARN).warnings
    assert re.search(rf"\b{configmap}\b(?! ?None)", warning), warning
    assert "None" not in warning


@pytest.mark.parametrize(("namespace", "label"), [("team-a", "Deployment team-a/web"), (None, "Deployment web")])
def test_a_message_names_the_workload(namespace: str | None, label: str) -> None:
    (violation,) = judge(workload("Deployment", ENV_FROM_SPEC, namespace=namespace)).violations
    assert re.search(rf"(^|\s){re.escape(label)}\b", violation.message), violation.message


@pytest.mark.parametrize(("init", "word"), [(True, 'init container "app"'), (False, 'container "app"')])
def test_a_message_names_the_container(init: bool, word: str) -> None:
    spec = (
        pod_spec(container(envFrom=[env_from("env-config")]))
        if not init
        else pod_spec(container("main"), init=[container(envFrom=[env_from("env-config")])])
    )
    (violation,) = judge(workload("Deployment", spec)).violations
    assert word in violation.message
    assert ("init container" in violation.message) is init


def test_where_no_pods_get_replaced_the_message_names_the_declared_strategy() -> None:
    obj = workload("Job", ENV_FROM_SPEC, annotations={RELOADER_AUTO: "true", RELOAD_ANNOTATION: "rollout"})
    (violation,) = judge(obj).violations
    assert violation.message.startswith("Job team-a/web")
    assert "(rollout, reloader)" in violation.message
    assert "does not cover a Job" in violation.message


@pytest.mark.parametrize(("level", "where"), [("workload", "the Deployment"), ("template", "the pod template")])
def test_an_invalid_annotation_message_names_the_value_and_where_it_is(level: str, where: str) -> None:
    key = "annotations" if level == "workload" else "template_annotations"
    obj = workload("Deployment", pod_spec(container()), **{key: {RELOAD_ANNOTATION: "always"}})
    decision = judge(obj)
    (violation,) = decision.violations
    assert (violation.level, violation.value) == (level, "always")
    assert '"always"' in violation.message
    assert f"on {where} " in violation.message
    assert f"on {where.removeprefix('the ')};" in violation.warning
    assert decision.denial_message is not None
    assert violation.message in decision.denial_message


def test_a_non_string_reload_value_is_reported_as_a_string() -> None:
    obj = workload("Deployment", pod_spec(container()), annotations={RELOAD_ANNOTATION: 5})
    (violation,) = judge(obj).violations
    assert isinstance(violation.value, str)


@pytest.mark.parametrize("count", [1, 2])
def test_the_denial_message_counts_and_numbers_the_findings(count: int) -> None:
    refs = [env_ref("env-config", f"k{i}", var=f"V{i}") for i in range(count)]
    decision = judge(workload("Deployment", pod_spec(container(env=refs))))
    message = decision.denial_message
    noun = "finding" if count == 1 else "findings"
    assert f": {count} {noun} in a namespace" in message
    lines = message.split("\n")
    assert [line[:3] for line in lines[1:]] == [f"{i}. " for i in range(1, count + 1)]


# --- the one JSON encoder --------------------------------------------------------------------------


def test_compact_json_passes_default_on_to_whichever_encoder_writes() -> None:
    """orjson cannot write a 70-bit integer, so the standard library writes, with the same default."""
    assert compact_json({"big": 2**70, "set": {3}}, default=sorted) == b'{"big":1180591620717411303424,"set":[3]}'
    assert compact_json({"set": {3}}, default=sorted) == b'{"set":[3]}'


def test_json_pointer_tokens_are_escaped_as_rfc_6901_says() -> None:
    assert escape_pointer("reload-safe.io/config-hash") == "reload-safe.io~1config-hash"
    assert escape_pointer("a~b/c~1") == "a~0b~1c~01"
