"""SPEC "References": every way a pod spec consumes a ConfigMap, and what is not a reference."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.builders import (
    ALL_KINDS,
    cm_volume,
    container,
    env_from,
    env_ref,
    mount,
    pod_spec,
    projected_volume,
    workload,
)
from webhook.policy import RefType, configmap_names, find_references, read_workload


def refs(spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r.container, r.init, str(r.type), r.name, r.key, r.mount_path) for r in find_references(spec)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            pod_spec(container(env=[env_ref("cfg", "level")])),
            [("app", False, "env", "cfg", "level", None)],
            id="env-configMapKeyRef",
        ),
        pytest.param(
            pod_spec(container(envFrom=[env_from("cfg")])),
            [("app", False, "envFrom", "cfg", None, None)],
            id="envFrom-configMapRef",
        ),
        pytest.param(
            pod_spec(
                container(volumeMounts=[mount("v", "/etc/app/app.conf", sub_path="app.conf")]),
                volumes=[cm_volume("v", "cfg")],
            ),
            [("app", False, "subPath", "cfg", None, "/etc/app/app.conf")],
            id="subPath-on-configMap-volume",
        ),
        pytest.param(
            pod_spec(
                container(volumeMounts=[mount("v", "/etc/app", expr="$(POD_NAME)")]), volumes=[cm_volume("v", "cfg")]
            ),
            [("app", False, "subPath", "cfg", None, "/etc/app")],
            id="subPathExpr-on-configMap-volume",
        ),
        pytest.param(
            pod_spec(container(volumeMounts=[mount("v", "/etc/app")]), volumes=[cm_volume("v", "cfg")]),
            [("app", False, "volume", "cfg", None, "/etc/app")],
            id="plain-volume-mount",
        ),
        pytest.param(
            pod_spec(container(volumeMounts=[mount("v", "/etc/app", sub_path="")]), volumes=[cm_volume("v", "cfg")]),
            [("app", False, "volume", "cfg", None, "/etc/app")],
            id="empty-subPath-is-plain-mount",
        ),
        pytest.param(
            pod_spec(
                container(volumeMounts=[mount("p", "/etc/all", sub_path="a")]),
                volumes=[projected_volume("p", "one", "two")],
            ),
            [("app", False, "subPath", "one", None, "/etc/all"), ("app", False, "subPath", "two", None, "/etc/all")],
            id="projected-mount-refers-to-every-configMap-source",
        ),
        pytest.param(
            pod_spec(container(), volumes=[cm_volume("v", "cfg")]),
            [],
            id="unmounted-volume-is-not-a-reference",
        ),
        pytest.param(
            pod_spec(container(volumeMounts=[mount("v", "/data")]), volumes=[{"name": "v", "emptyDir": {}}]),
            [],
            id="non-configMap-volume",
        ),
        pytest.param(
            pod_spec(
                container(),
                init=[
                    container("setup", envFrom=[env_from("boot")]),
                    {**container("sidecar", env=[env_ref("side", "k")]), "restartPolicy": "Always"},
                ],
            ),
            [("setup", True, "envFrom", "boot", None, None), ("sidecar", True, "env", "side", "k", None)],
            id="init-containers-and-restartable-sidecars",
        ),
        pytest.param(
            {"containers": [container()], "ephemeralContainers": [container("debug", envFrom=[env_from("dbg")])]},
            [],
            id="ephemeral-containers-ignored",
        ),
        pytest.param(
            pod_spec(
                container(
                    env=[
                        {"name": "A", "value": "x"},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    ],
                    envFrom=[{"secretRef": {"name": "s"}}],
                )
            ),
            [("app", False, "env", "s", "k", None), ("app", False, "envFrom", "s", None, None)],
            id="secret-references-are-found-literals-are-not",
        ),
    ],
)
def test_reference_types(spec: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    assert refs(spec) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param({"name": "c", "items": [{"key": "a", "path": "a"}]}, ("a",), id="items-listed"),
        pytest.param({"name": "c", "items": []}, None, id="empty-items-means-no-items"),
        pytest.param({"name": "c"}, None, id="no-items"),
    ],
)
def test_items_are_kept_for_hashing(source: dict[str, Any], expected: tuple[str, ...] | None) -> None:
    spec = pod_spec(container(volumeMounts=[mount("v", "/x")]), volumes=[{"name": "v", "configMap": source}])
    (reference,) = find_references(spec)
    assert reference.items == expected


def test_optional_is_recorded() -> None:
    spec = pod_spec(container(env=[env_ref("c", "k", optional=True)]))
    (reference,) = find_references(spec)
    assert reference.optional is True
    assert reference.type is RefType.ENV


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_finds_its_template(kind: str) -> None:
    obj = workload(kind, pod_spec(container(envFrom=[env_from("cfg")])))
    assert configmap_names(obj) == {"cfg"}
    view = read_workload(obj)
    assert view is not None
    assert view.kind == kind


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"kind": "Deployment", "spec": "nope"}, id="spec-is-a-string"),
        pytest.param(
            {"kind": "Deployment", "spec": {"template": {"spec": {"containers": "x"}}}}, id="containers-not-a-list"
        ),
        pytest.param(
            {"kind": "Pod", "spec": {"containers": [1, None, {"env": [{"valueFrom": 3}]}]}}, id="garbage-entries"
        ),
        pytest.param(
            {"kind": "Pod", "metadata": [], "spec": {"volumes": [{"name": 1}], "containers": [{"volumeMounts": [{}]}]}},
            id="wrong-types-everywhere",
        ),
    ],
)
def test_malformed_objects_have_no_references_and_do_not_raise(obj: dict[str, Any]) -> None:
    assert configmap_names(obj) == frozenset()


def test_unknown_kind_is_not_a_workload() -> None:
    assert read_workload({"kind": "Service"}) is None


def test_a_malformed_entry_does_not_hide_the_entries_after_it() -> None:
    """Judged "as far as it can be read": a bad entry is skipped, the next one is still read."""
    good = container(
        "app",
        env=["not-an-entry", 5, {"name": "PLAIN", "value": "x"}, env_ref("cfg", "level")],
        volumeMounts=[mount("other", "/x"), "junk", mount("v", "/etc/app", sub_path="a")],
    )
    spec = {
        "containers": [None, "junk", good],
        "volumes": [{"configMap": {"name": "nameless"}}, {"name": "other", "emptyDir": {}}, cm_volume("v", "cfg")],
    }
    assert refs(spec) == [
        ("app", False, "env", "cfg", "level", None),
        ("app", False, "subPath", "cfg", None, "/etc/app"),
    ]


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param({"name": "cfg"}, id="no-key"),
        pytest.param({"key": "level"}, id="no-name"),
        pytest.param({"name": "", "key": "level"}, id="empty-name"),
        pytest.param({"name": "cfg", "key": 5}, id="key-not-a-string"),
    ],
)
def test_a_configmapkeyref_without_name_or_key_is_not_a_reference(ref: dict[str, Any]) -> None:
    spec = pod_spec(container(env=[{"name": "V", "valueFrom": {"configMapKeyRef": ref}}]))
    assert refs(spec) == []


@pytest.mark.parametrize(
    ("env", "volume", "optional"),
    [
        pytest.param(True, True, True, id="optional-true"),
        pytest.param(False, False, False, id="optional-false"),
        pytest.param(None, None, False, id="absent"),
        pytest.param("true", "true", False, id="a-string-is-not-true"),
    ],
)
def test_optional_is_true_only_when_true(env: object, volume: object, optional: bool) -> None:
    key_ref: dict[str, Any] = {"name": "cfg", "key": "k"}
    source: dict[str, Any] = {"name": "cfg"}
    if env is not None:
        key_ref["optional"] = env
        source["optional"] = volume
    spec = pod_spec(
        container(
            env=[{"name": "V", "valueFrom": {"configMapKeyRef": key_ref}}],
            envFrom=[{"configMapRef": dict(source)}],
            volumeMounts=[mount("v", "/etc/app")],
        ),
        volumes=[{"name": "v", "configMap": source}],
    )
    found = find_references(spec)
    assert [(str(r.type), r.optional) for r in found] == [(t, optional) for t in ("env", "envFrom", "volume")]
    assert [r.volume for r in found] == [None, None, "v"]
