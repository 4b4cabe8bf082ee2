"""SPEC "Reload strategies": every row, with its exact coverage per kind."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.builders import (
    ALL_KINDS,
    ENV_CONFIG,
    cm,
    cm_volume,
    container,
    env_from,
    env_ref,
    mount,
    pod_spec,
    workload,
)
from webhook.policy import INVALID_ANNOTATION, ConfigMaps, Mode, Operation, Strategy, Verdict, evaluate

ROLLING_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
STATIC_KINDS = ("Pod", "ReplicaSet", "ReplicationController", "Job")
SPEC = pod_spec(container(envFrom=[env_from("env-config")]))


def judge(obj: dict[str, Any], configmaps: ConfigMaps = ENV_CONFIG, mode: Mode = Mode.ENFORCE) -> Any:
    return evaluate(obj=obj, operation=Operation.CREATE, mode=mode, configmaps=configmaps)


DECLARATIONS = [
    pytest.param(Strategy.ROLLOUT, {"reload-safe.io/reload": "rollout"}, None, id="rollout-on-workload"),
    pytest.param(Strategy.ROLLOUT, None, {"reload-safe.io/reload": " rollout "}, id="rollout-on-template-trimmed"),
    pytest.param(Strategy.RELOADER, {"reloader.stakater.com/auto": "true"}, None, id="reloader-auto"),
    pytest.param(
        Strategy.RELOADER,
        None,
        {"configmap.reloader.stakater.com/auto": "true"},
        id="reloader-configmap-auto-on-template",
    ),
    pytest.param(Strategy.RELOADER, {"reloader.stakater.com/auto": True}, None, id="reloader-auto-yaml-boolean"),
    pytest.param(
        Strategy.RELOADER,
        {"configmap.reloader.stakater.com/reload": "other, env-config"},
        None,
        id="reloader-reload-list",
    ),
    pytest.param(Strategy.WAVE, {"wave.pusher.com/update-on-config-change": "true"}, None, id="wave-on-workload"),
    pytest.param(Strategy.CHECKSUM, None, {"checksum/config": "abc"}, id="checksum-on-template"),
]


@pytest.mark.parametrize("kind", ROLLING_KINDS)
@pytest.mark.parametrize(("strategy", "annotations", "template_annotations"), DECLARATIONS)
def test_rolling_strategies_cover_rolling_kinds(
    kind: str, strategy: Strategy, annotations: dict[str, Any] | None, template_annotations: dict[str, Any] | None
) -> None:
    decision = judge(workload(kind, SPEC, annotations=annotations, template_annotations=template_annotations))
    assert decision.verdict is Verdict.ALLOWED
    assert decision.violations == ()
    assert strategy in decision.strategies
    assert decision.coverage[0].strategies == (strategy,)


@pytest.mark.parametrize("kind", STATIC_KINDS)
@pytest.mark.parametrize(("strategy", "annotations", "template_annotations"), DECLARATIONS)
def test_rolling_strategies_cover_nothing_where_no_pods_get_replaced(
    kind: str, strategy: Strategy, annotations: dict[str, Any] | None, template_annotations: dict[str, Any] | None
) -> None:
    decision = judge(workload(kind, SPEC, annotations=annotations, template_annotations=template_annotations))
    assert decision.verdict is Verdict.DENIED
    (violation,) = decision.violations
    assert f"does not cover a {kind}" in violation.message
    assert "run it from a Deployment" in violation.message
    assert "reload-safe.io/reload: rollout` so" not in violation.message


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_none_covers_every_kind_and_is_acknowledged(kind: str) -> None:
    decision = judge(workload(kind, SPEC, annotations={"reload-safe.io/reload": "none"}))
    assert decision.verdict is Verdict.ALLOWED
    assert decision.acknowledged is True
    assert decision.strategies == (Strategy.NONE,)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_immutable_configmap_covers_every_kind(kind: str) -> None:
    decision = judge(workload(kind, SPEC), {"env-config": cm("env-config", {"a": "b"}, immutable=True)})
    assert decision.verdict is Verdict.ALLOWED
    assert decision.strategies == (Strategy.IMMUTABLE,)
    assert decision.acknowledged is False


def test_reloader_reload_list_covers_only_the_names_it_lists() -> None:
    spec = pod_spec(container(envFrom=[env_from("listed"), env_from("unlisted")]))
    configmaps = {"listed": cm("listed"), "unlisted": cm("unlisted")}
    decision = judge(
        workload("Deployment", spec, annotations={"configmap.reloader.stakater.com/reload": "listed"}), configmaps
    )
    assert [v.configmap for v in decision.violations] == ["unlisted"]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        pytest.param("true", Verdict.ALLOWED, id="matched-configmap-covered"),
        pytest.param(None, Verdict.DENIED, id="unmatched-configmap-not-covered"),
    ],
)
def test_reloader_search_covers_configmaps_annotated_match(match: str | None, expected: Verdict) -> None:
    configmaps = {"env-config": cm("env-config", reloader_match=match == "true")}
    decision = judge(
        workload("Deployment", SPEC, template_annotations={"reloader.stakater.com/search": "true"}), configmaps
    )
    assert decision.verdict is expected


@pytest.mark.parametrize(
    ("annotations", "template_annotations", "expected"),
    [
        pytest.param(
            None,
            {"wave.pusher.com/update-on-config-change": "true"},
            Verdict.DENIED,
            id="wave-on-template-does-not-count",
        ),
        pytest.param({"checksum/config": "abc"}, None, Verdict.DENIED, id="checksum-on-workload-does-not-count"),
        pytest.param({"reloader.stakater.com/auto": "True"}, None, Verdict.DENIED, id="values-are-case-sensitive"),
        pytest.param({"reloader.stakater.com/auto": "false"}, None, Verdict.DENIED, id="reloader-false"),
    ],
)
def test_strategies_only_count_where_declared(
    annotations: dict[str, Any] | None, template_annotations: dict[str, Any] | None, expected: Verdict
) -> None:
    decision = judge(workload("Deployment", SPEC, annotations=annotations, template_annotations=template_annotations))
    assert decision.verdict is expected


@pytest.mark.parametrize(
    ("annotations", "template_annotations", "verdict", "levels"),
    [
        pytest.param({"reload-safe.io/reload": "Rollout"}, None, Verdict.DENIED, ["workload"], id="wrong-case"),
        pytest.param(
            {"reload-safe.io/reload": "rolout"},
            {"reload-safe.io/reload": "rollout"},
            Verdict.DENIED,
            ["workload"],
            id="valid-other-level-still-counts-but-finding-remains",
        ),
        pytest.param(
            {"reload-safe.io/reload": "x"},
            {"reload-safe.io/reload": "y"},
            Verdict.DENIED,
            ["workload", "template"],
            id="one-finding-per-annotation",
        ),
        pytest.param({"reload-safe.io/reload": ""}, None, Verdict.DENIED, ["workload"], id="empty-value"),
    ],
)
def test_invalid_reload_values(
    annotations: dict[str, Any], template_annotations: dict[str, Any] | None, verdict: Verdict, levels: list[str]
) -> None:
    decision = judge(workload("Deployment", SPEC, annotations=annotations, template_annotations=template_annotations))
    invalid = [v for v in decision.violations if v.type == INVALID_ANNOTATION]
    assert [v.level for v in invalid] == levels
    assert all(v.container is None and v.configmap is None for v in invalid)
    assert decision.verdict is verdict


def test_valid_value_on_other_level_covers_the_references() -> None:
    decision = judge(
        workload(
            "Deployment",
            SPEC,
            annotations={"reload-safe.io/reload": "rolout"},
            template_annotations={"reload-safe.io/reload": "rollout"},
        )
    )
    assert [v.type for v in decision.violations] == [INVALID_ANNOTATION]
    assert decision.coverage[0].strategies == (Strategy.ROLLOUT,)


def test_invalid_annotation_is_a_finding_without_references() -> None:
    decision = judge(workload("Deployment", pod_spec(container()), annotations={"reload-safe.io/reload": "always"}))
    assert [v.type for v in decision.violations] == [INVALID_ANNOTATION]
    assert decision.verdict is Verdict.DENIED
    assert decision.config_hash is None


@pytest.mark.parametrize(
    ("mode", "verdict", "warnings"),
    [
        pytest.param(Mode.ENFORCE, Verdict.DENIED, 0, id="enforce-denies"),
        pytest.param(Mode.WARN, Verdict.WARNED, 1, id="warn-warns"),
        pytest.param(Mode.AUDIT, Verdict.ALLOWED, 0, id="audit-silent"),
    ],
)
def test_invalid_annotation_is_treated_like_a_violation(mode: Mode, verdict: Verdict, warnings: int) -> None:
    decision = judge(
        workload("Deployment", pod_spec(container()), annotations={"reload-safe.io/reload": "always"}), mode=mode
    )
    assert decision.verdict is verdict
    assert len(decision.warnings) == warnings


def test_plain_volume_and_subpath_mixed_only_subpath_is_a_violation() -> None:
    spec = pod_spec(
        container(
            volumeMounts=[mount("v", "/etc/app"), mount("v", "/etc/one.conf", sub_path="one.conf")],
            env=[env_ref("env-config", "log_level")],
        ),
        volumes=[cm_volume("v", "env-config")],
    )
    decision = judge(workload("Deployment", spec))
    assert sorted(v.type for v in decision.violations) == ["env", "subPath"]
