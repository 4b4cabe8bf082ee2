"""SPEC rules at their edges, each stated with the SPEC's own literals (tests/support/spec.py).

The reviewer's gaps (issue 20): warnings against the literal 256 at 255/256/257 characters;
each field of "the same violation" on UPDATE; every non-"true" value of every annotation the
SPEC compares, Reloader's `match` on a ConfigMap included.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.builders import cm, cm_volume, container, env_from, env_ref, mount, pod_spec, workload
from tests.support.spec import (
    ELLIPSIS,
    RELOAD_ANNOTATION,
    RELOADER_AUTO,
    RELOADER_CONFIGMAP_AUTO,
    RELOADER_CONFIGMAP_RELOAD,
    RELOADER_MATCH,
    RELOADER_SEARCH,
    TRUE,
    WARNING_MAX,
    WAVE,
)
from webhook.manifests.configmaps import configmap_content
from webhook.policy import ConfigMaps, Mode, Operation, Verdict, evaluate

NOT_TRUE = ["false", "True", "TRUE", "yes", "1", "on", "", "  ", "true-ish", "'true'"]
"""Values that are not the string "true" after trimming: none of them declares anything."""


def judge(
    obj: dict[str, Any],
    configmaps: ConfigMaps | None = None,
    *,
    mode: Mode = Mode.ENFORCE,
    operation: Operation = Operation.CREATE,
    old: dict[str, Any] | None = None,
) -> Any:
    return evaluate(
        obj=obj,
        operation=operation,
        mode=mode,
        configmaps={"c": cm("c", {"k": "v"})} if configmaps is None else configmaps,
        old_obj=old,
    )


# --- Messages: one warning per violation, never longer than 256 characters ------------------------


def env_deployment(name: str, container_name: str, configmap: str, key: str) -> dict[str, Any]:
    return workload("Deployment", pod_spec(container(container_name, env=[env_ref(configmap, key)])), name=name)


def warning_of(obj: dict[str, Any], configmap: str) -> str:
    (warning,) = judge(obj, {configmap: cm(configmap)}, mode=Mode.WARN).warnings
    assert isinstance(warning, str)
    return warning


def names_totalling(extra: int) -> tuple[str, str, str, str]:
    """Four names (workload, container, ConfigMap, key) of at most 63 characters, `extra` in all."""
    sizes = [extra // 4 + (1 if i < extra % 4 else 0) for i in range(4)]
    assert all(1 <= size <= 63 for size in sizes), sizes
    return tuple(letter * size for letter, size in zip("dcmk", sizes, strict=True))  # type: ignore[return-value]


BASE = len(warning_of(env_deployment("d", "c", "m", "k"), "m")) - 4
"""The length of a warning without its four names (measured, not assumed)."""


@pytest.mark.parametrize("length", [255, 256])
def test_a_warning_of_up_to_256_characters_is_sent_whole(length: int) -> None:
    name, container_name, configmap, key = names_totalling(length - BASE)
    warning = warning_of(env_deployment(name, container_name, configmap, key), configmap)
    assert len(warning) == length <= WARNING_MAX == 256
    assert ELLIPSIS not in warning
    for full in (name, container_name, configmap, key):
        assert full in warning


def test_a_warning_that_would_be_257_characters_is_shortened_to_at_most_256() -> None:
    name, container_name, configmap, key = names_totalling(257 - BASE)
    warning = warning_of(env_deployment(name, container_name, configmap, key), configmap)
    assert len(warning) <= 256
    assert ELLIPSIS in warning, "long names are shortened in the middle with …"


@pytest.mark.parametrize("size", [63, 64, 253, 1000])
def test_warnings_of_long_names_are_never_longer_than_256(size: int) -> None:
    long = "n" * size
    spec = pod_spec(
        container(long, env=[env_ref(long, long)], volumeMounts=[mount("v", "/" + long, sub_path="f")]),
        volumes=[cm_volume("v", long)],
    )
    annotations = {RELOAD_ANNOTATION: long}
    for kind in ("Deployment", "Pod", "CronJob"):
        decision = judge(workload(kind, spec, name=long, annotations=annotations), {}, mode=Mode.WARN)
        assert len(decision.warnings) == 3
        assert all(len(warning) <= 256 for warning in decision.warnings), [len(w) for w in decision.warnings]
        assert all(long in v.message for v in decision.violations if v.type != "invalid-annotation")


def test_warnings_count_characters_not_bytes() -> None:
    """A mount path of 63 two-byte characters: the 256 limit is in characters."""
    path = "/" + "é" * 62
    spec = pod_spec(container("c" * 40, volumeMounts=[mount("v", path, sub_path="f")]), volumes=[cm_volume("v", "m")])
    (warning,) = judge(workload("Deployment", spec, name="d" * 40), {"m": cm("m")}, mode=Mode.WARN).warnings
    assert path in warning, "fits in 256 characters (though not in 256 bytes), so it is sent whole"
    assert len(warning) <= 256 < len(warning.encode())


# --- UPDATE in enforce: "the same violation" is type, container, ConfigMap, key and mount path --------


def two_violations(
    *, container_name: str = "app", configmap: str = "c", key: str = "k", mount_path: str = "/etc/app/f.conf"
) -> dict[str, Any]:
    """A Deployment with an `env` violation (key) and a `subPath` violation (mount path)."""
    spec = pod_spec(
        container(
            container_name,
            env=[env_ref(configmap, key)],
            volumeMounts=[mount("v", mount_path, sub_path="f.conf")],
        ),
        volumes=[cm_volume("v", configmap)],
    )
    return workload("Deployment", spec)


CONFIGMAPS = {name: cm(name, {"k": "v", "other": "w"}) for name in ("c", "d")}


def test_an_update_with_the_same_violations_is_warned() -> None:
    old = two_violations()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"restarted": "now"}
    decision = judge(new, CONFIGMAPS, operation=Operation.UPDATE, old=old)
    assert decision.verdict is Verdict.WARNED
    assert len(decision.warnings) == 2
    assert decision.denied == ()


@pytest.mark.parametrize(
    ("changed", "denied"),
    [
        pytest.param({"container_name": "sidecar"}, [("env", "sidecar"), ("subPath", "sidecar")], id="container"),
        pytest.param({"configmap": "d"}, [("env", "app"), ("subPath", "app")], id="configmap"),
        pytest.param({"key": "other"}, [("env", "app")], id="key"),
        pytest.param({"mount_path": "/etc/other/f.conf"}, [("subPath", "app")], id="mount-path"),
    ],
)
def test_a_violation_differing_in_one_field_is_new_and_denied(
    changed: dict[str, str], denied: list[tuple[str, str]]
) -> None:
    decision = judge(two_violations(**changed), CONFIGMAPS, operation=Operation.UPDATE, old=two_violations())
    assert decision.verdict is Verdict.DENIED
    assert [(v.type, v.container) for v in decision.denied] == denied
    assert len(decision.warnings) == 2 - len(denied), "the unchanged one is warned"
    for field, value in changed.items():
        attribute = "container" if field == "container_name" else field
        assert all(getattr(v, attribute) == value for v in decision.denied if attribute != "key" or v.type == "env")


def test_a_violation_of_another_type_on_the_same_configmap_is_new() -> None:
    """envFrom where the old object had env of one key: the same container and ConfigMap, another type."""
    old = workload("Deployment", pod_spec(container(env=[env_ref("c", "k")])))
    new = workload("Deployment", pod_spec(container(env=[env_ref("c", "k")], envFrom=[env_from("c")])))
    decision = judge(new, CONFIGMAPS, operation=Operation.UPDATE, old=old)
    assert [v.type for v in decision.denied] == ["envFrom"]


def test_a_new_env_key_of_the_same_configmap_is_denied_in_enforce() -> None:
    """The reviewer's case: another key of the same ConfigMap was warned instead of denied."""
    old = workload("Deployment", pod_spec(container(env=[env_ref("c", "k")])))
    new = workload("Deployment", pod_spec(container(env=[env_ref("c", "k"), env_ref("c", "other", var="B")])))
    decision = judge(new, CONFIGMAPS, operation=Operation.UPDATE, old=old)
    assert decision.verdict is Verdict.DENIED
    assert [(v.type, v.key) for v in decision.denied] == [("env", "other")]


@pytest.mark.parametrize(
    ("old_level", "old_value", "new_level", "new_value", "verdict"),
    [
        pytest.param("workload", "sometimes", "workload", "sometimes", Verdict.WARNED, id="same-level-and-value"),
        pytest.param("workload", "sometimes", "template", "sometimes", Verdict.DENIED, id="other-level"),
        pytest.param("workload", "sometimes", "workload", "always", Verdict.DENIED, id="other-value"),
        pytest.param("template", "x", "template", "x", Verdict.WARNED, id="same-on-template"),
    ],
)
def test_an_invalid_annotation_is_the_same_by_level_and_value(
    old_level: str, old_value: str, new_level: str, new_value: str, verdict: Verdict
) -> None:
    def annotated(level: str, value: str) -> dict[str, Any]:
        where = "annotations" if level == "workload" else "template_annotations"
        return workload("Deployment", pod_spec(container()), **{where: {RELOAD_ANNOTATION: value}})

    old, new = annotated(old_level, old_value), annotated(new_level, new_value)
    decision = judge(new, CONFIGMAPS, operation=Operation.UPDATE, old=old)
    assert decision.verdict is verdict
    assert [(v.level, v.value) for v in decision.denied] == (
        [] if verdict is Verdict.WARNED else [(new_level, new_value)]
    )


@pytest.mark.parametrize("mode", [Mode.WARN, Mode.AUDIT])
def test_only_enforce_compares_with_the_old_object(mode: Mode) -> None:
    decision = judge(
        two_violations(key="other"), CONFIGMAPS, mode=mode, operation=Operation.UPDATE, old=two_violations()
    )
    assert decision.verdict is (Verdict.WARNED if mode is Mode.WARN else Verdict.ALLOWED)
    assert decision.denied == ()


# --- Annotation values are compared exactly after trimming; only "true" declares -----------------


ROLLING_DECLARATIONS = [
    pytest.param(RELOADER_AUTO, "workload", id="reloader-auto"),
    pytest.param(RELOADER_AUTO, "template", id="reloader-auto-on-template"),
    pytest.param(RELOADER_CONFIGMAP_AUTO, "workload", id="configmap-reloader-auto"),
    pytest.param(RELOADER_CONFIGMAP_AUTO, "template", id="configmap-reloader-auto-on-template"),
    pytest.param(WAVE, "workload", id="wave"),
]


def declaring(annotation: str, level: str, value: object) -> dict[str, Any]:
    where = "annotations" if level == "workload" else "template_annotations"
    spec = pod_spec(container(envFrom=[env_from("c")]))
    return workload("Deployment", spec, **{where: {annotation: value}})


@pytest.mark.parametrize(("annotation", "level"), ROLLING_DECLARATIONS)
@pytest.mark.parametrize("value", [TRUE, f" {TRUE} ", f"\t{TRUE}\n", True])
def test_true_declares(annotation: str, level: str, value: object) -> None:
    decision = judge(declaring(annotation, level, value))
    assert decision.verdict is Verdict.ALLOWED
    assert decision.violations == ()


@pytest.mark.parametrize(("annotation", "level"), ROLLING_DECLARATIONS)
@pytest.mark.parametrize("value", [*NOT_TRUE, False, None, 1])
def test_any_other_value_declares_nothing(annotation: str, level: str, value: object) -> None:
    decision = judge(declaring(annotation, level, value))
    assert decision.verdict is Verdict.DENIED
    assert [v.type for v in decision.violations] == ["envFrom"]
    assert decision.strategies == ()


def search(value: object, *, match: object) -> Any:
    """`reloader.stakater.com/search: value` on the Deployment; the ConfigMap annotated `match`."""
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    if match is not None:
        manifest["metadata"]["annotations"] = {RELOADER_MATCH: match}  # type: ignore[index]
    _, content = configmap_content(manifest)
    return judge(declaring(RELOADER_SEARCH, "workload", value), {"c": content})


@pytest.mark.parametrize("match", [TRUE, f" {TRUE} ", True])
@pytest.mark.parametrize("value", [TRUE, f" {TRUE} ", True])
def test_search_covers_configmaps_annotated_match_true(value: object, match: object) -> None:
    assert search(value, match=match).verdict is Verdict.ALLOWED


@pytest.mark.parametrize("match", [*NOT_TRUE, False, None])
def test_match_counts_only_when_true(match: object) -> None:
    decision = search(TRUE, match=match)
    assert decision.verdict is Verdict.DENIED
    assert decision.strategies == ()


@pytest.mark.parametrize("value", [*NOT_TRUE, False, None])
def test_search_declares_only_when_true(value: object) -> None:
    assert search(value, match=TRUE).verdict is Verdict.DENIED


@pytest.mark.parametrize("level", ["workload", "template"])
@pytest.mark.parametrize(
    ("listed", "covered"),
    [
        pytest.param("c", True, id="alone"),
        pytest.param(" a , c ", True, id="trimmed-in-a-list"),
        pytest.param("a,c", True, id="comma-separated"),
        pytest.param("c,", True, id="trailing-comma"),
        pytest.param("a,b", False, id="not-listed"),
        pytest.param("C", False, id="case-sensitive"),
        pytest.param("cc", False, id="whole-names"),
        pytest.param("", False, id="empty"),
        pytest.param(True, False, id="yaml-boolean"),
    ],
)
def test_reloader_reload_lists_names(level: str, listed: object, covered: bool) -> None:
    decision = judge(declaring(RELOADER_CONFIGMAP_RELOAD, level, listed))
    assert decision.verdict is (Verdict.ALLOWED if covered else Verdict.DENIED)


@pytest.mark.parametrize("level", ["workload", "template"])
@pytest.mark.parametrize(
    ("value", "strategy"),
    [
        pytest.param("rollout", "rollout", id="rollout"),
        pytest.param("none", "none", id="none"),
        pytest.param(" rollout\n", "rollout", id="rollout-trimmed"),
        pytest.param("\tnone ", "none", id="none-trimmed"),
    ],
)
def test_reload_values_rollout_and_none(level: str, value: str, strategy: str) -> None:
    decision = judge(declaring(RELOAD_ANNOTATION, level, value))
    assert decision.verdict is Verdict.ALLOWED
    assert [str(s) for s in decision.strategies] == [strategy]
    assert decision.acknowledged is (strategy == "none")


@pytest.mark.parametrize("level", ["workload", "template"])
@pytest.mark.parametrize("value", ["Rollout", "NONE", "roll out", "true", "", "restart", True, 1])
def test_any_other_reload_value_is_an_invalid_annotation(level: str, value: object) -> None:
    decision = judge(declaring(RELOAD_ANNOTATION, level, value))
    assert decision.verdict is Verdict.DENIED
    assert sorted(v.type for v in decision.violations) == ["envFrom", "invalid-annotation"]
    (invalid,) = [v for v in decision.violations if v.type == "invalid-annotation"]
    assert invalid.level == level
    assert decision.strategies == ()
