"""SPEC "Messages": short warnings (about 120, at most 256 characters) and full texts."""

from __future__ import annotations

import pytest

from tests.support.builders import ALL_KINDS, cm, cm_volume, container, env_from, env_ref, mount, pod_spec, workload
from tests.support.spec import ELLIPSIS, WARNING_MAX
from webhook.policy import Mode, Operation, evaluate
from webhook.policy.messages import shorten


@pytest.mark.parametrize(
    ("name", "limit", "expected"),
    [
        pytest.param("short", 10, "short", id="fits"),
        pytest.param("abcdefghij", 5, "ab…ij", id="middle"),
        pytest.param("abcdefghij", 6, "abc…ij", id="odd-room"),
        pytest.param("abcde", 5, "abcde", id="exactly-the-limit-is-kept"),
        pytest.param("abcdef", 5, "ab…ef", id="one-over-is-cut"),
        pytest.param("abcdef", 2, "a…", id="room-for-the-head-only"),
        pytest.param("abcdef", 1, "…", id="room-for-the-ellipsis-only"),
    ],
)
def test_shorten(name: str, limit: int, expected: str) -> None:
    assert shorten(name, limit) == expected


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_typical_warnings_aim_at_about_120_characters(kind: str) -> None:
    obj = workload(kind, pod_spec(container("my-nginx", envFrom=[env_from("env-config")])), name="my-nginx")
    (warning,) = evaluate(
        obj=obj, operation=Operation.CREATE, mode=Mode.WARN, configmaps={"env-config": cm("env-config")}
    ).warnings
    assert len(warning) <= 130
    assert "my-nginx" in warning
    assert "env-config" in warning


def test_huge_names_are_shortened_in_the_middle_and_never_exceed_256() -> None:
    long = "x" * 250
    spec = pod_spec(
        container(long, env=[env_ref(long + "cm", long + "key")], volumeMounts=[mount("v", "/" + long, sub_path="a")]),
        volumes=[cm_volume("v", long)],
    )
    obj = workload("StatefulSet", spec, name=long, annotations={"reload-safe.io/reload": long})
    decision = evaluate(obj=obj, operation=Operation.CREATE, mode=Mode.WARN, configmaps={})
    assert len(decision.warnings) == 3
    for warning in decision.warnings:
        assert len(warning) <= WARNING_MAX == 256
        assert ELLIPSIS in warning
    assert any(long in v.message for v in decision.violations), "the full message keeps full names"


@pytest.mark.parametrize(
    ("kind", "fix", "absent"),
    [
        pytest.param("Deployment", "reload-safe.io/reload: rollout", "run it from a Deployment", id="rolling-kind"),
        pytest.param("Pod", "run it from a Deployment", "so a ConfigMap change rolls it out", id="bare-pod"),
        pytest.param("Job", "run it from a Deployment", "so a ConfigMap change rolls it out", id="job"),
    ],
)
def test_fixes_depend_on_the_kind(kind: str, fix: str, absent: str) -> None:
    obj = workload(kind, pod_spec(container(envFrom=[env_from("c")])))
    decision = evaluate(obj=obj, operation=Operation.CREATE, mode=Mode.ENFORCE, configmaps={"c": cm("c")})
    (violation,) = decision.violations
    assert fix in violation.message
    assert absent not in violation.message
    assert fix.split(":", maxsplit=1)[0] in violation.warning


def test_messages_never_contain_configmap_values() -> None:
    secretish = "s3cr3t-V4LUE-do-not-log"
    obj = workload("Deployment", pod_spec(container(envFrom=[env_from("c")], env=[env_ref("c", "k")])))
    decision = evaluate(
        obj=obj, operation=Operation.CREATE, mode=Mode.ENFORCE, configmaps={"c": cm("c", {"k": secretish})}
    )
    text = " ".join([*decision.warnings, decision.denial_message or "", *(v.message for v in decision.violations)])
    assert secretish not in text
