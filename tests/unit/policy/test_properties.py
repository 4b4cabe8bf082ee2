"""Properties over generated pod specs: idempotence, order independence, schema validity."""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonpatch
import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.builders import ALL_KINDS, workload
from webhook.policy import HASH_ANNOTATION, ConfigMapContent, Mode, Operation, evaluate, read_workload

K8S_VERSION = kubernetes_validate.latest_version()
NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta"])
KEYS = st.sampled_from(["a", "b", "c.conf", "d"])


@st.composite
def pod_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Pod specs with every reference type, projected volumes, items, init containers."""
    volumes = []
    for index in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            source: dict[str, Any] = {"name": draw(NAMES)}
            if draw(st.booleans()):
                source["items"] = [{"key": k, "path": f"p-{k}"} for k in draw(st.lists(KEYS, max_size=3, unique=True))]
            volumes.append({"name": f"vol{index}", "configMap": source})
        else:
            sources = [{"configMap": {"name": n}} for n in draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))]
            volumes.append({"name": f"vol{index}", "projected": {"sources": sources}})

    def containers(prefix: str, count: int) -> list[dict[str, Any]]:
        made = []
        for index in range(count):
            c: dict[str, Any] = {"name": f"{prefix}{index}", "image": "nginx"}
            env = [
                {"name": f"V{i}", "valueFrom": {"configMapKeyRef": {"name": draw(NAMES), "key": draw(KEYS)}}}
                for i in range(draw(st.integers(0, 2)))
            ]
            if env:
                c["env"] = env
            env_from = [{"configMapRef": {"name": n}} for n in draw(st.lists(NAMES, max_size=2, unique=True))]
            if env_from:
                c["envFrom"] = env_from
            mounts = []
            for v_index, volume in enumerate(volumes):
                if draw(st.booleans()):
                    m: dict[str, Any] = {"name": volume["name"], "mountPath": f"/m/{index}/{v_index}"}
                    if draw(st.booleans()):
                        m["subPath"] = "a"
                    mounts.append(m)
            if mounts:
                c["volumeMounts"] = mounts
            made.append(c)
        return made

    spec: dict[str, Any] = {"containers": containers("c", draw(st.integers(1, 3)))}
    init = containers("init", draw(st.integers(0, 1)))
    if init:
        spec["initContainers"] = init
    if volumes:
        spec["volumes"] = volumes
    return spec


@st.composite
def configmap_sets(draw: st.DrawFn) -> dict[str, ConfigMapContent]:
    found = {}
    for name in draw(st.lists(NAMES, unique=True)):
        data = draw(st.dictionaries(KEYS, st.text(max_size=8), max_size=3))
        binary = draw(st.dictionaries(st.sampled_from(["bin1", "c.conf"]), st.binary(max_size=6), max_size=2))
        found[name] = ConfigMapContent(name=name, data=data, binary_data=binary)
    return found


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(spec=pod_specs(), configmaps=configmap_sets(), kind=st.sampled_from(ALL_KINDS), annotated=st.booleans())
def test_applying_the_patch_then_evaluating_again_yields_no_patch(
    spec: dict[str, Any], configmaps: dict[str, ConfigMapContent], kind: str, annotated: bool
) -> None:
    obj = workload(kind, spec, template_annotations={"team": "x"} if annotated else None)
    first = evaluate(obj=obj, operation=Operation.CREATE, mode=Mode.WARN, configmaps=configmaps)
    if first.patch is None:
        assert first.references == () or first.config_hash is not None
        return
    patched = jsonpatch.apply_patch(obj, first.patch)
    second = evaluate(obj=patched, operation=Operation.CREATE, mode=Mode.WARN, configmaps=configmaps)
    assert second.patch is None
    assert second.config_hash == first.config_hash
    assert second.violations == first.violations


def _shuffled(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    spec = copy.deepcopy(spec)
    for field in ("containers", "initContainers", "volumes"):
        if field in spec:
            rng.shuffle(spec[field])
    for c in spec["containers"] + spec.get("initContainers", []):
        for field in ("env", "envFrom", "volumeMounts"):
            if field in c:
                rng.shuffle(c[field])
    return spec


def _reordered_configmaps(configmaps: dict[str, ConfigMapContent]) -> dict[str, ConfigMapContent]:
    return {
        name: ConfigMapContent(
            name=name,
            data=dict(reversed(list(content.data.items()))),
            binary_data=dict(reversed(list(content.binary_data.items()))),
        )
        for name, content in reversed(list(configmaps.items()))
    }


@SETTINGS
@given(spec=pod_specs(), configmaps=configmap_sets(), seed=st.integers(0, 2**16))
def test_hash_is_independent_of_the_order_of_keys_containers_volumes_and_references(
    spec: dict[str, Any], configmaps: dict[str, ConfigMapContent], seed: int
) -> None:
    original = evaluate(
        obj=workload("Deployment", spec), operation=Operation.CREATE, mode=Mode.WARN, configmaps=configmaps
    )
    shuffled = evaluate(
        obj=workload("Deployment", _shuffled(spec, seed)),
        operation=Operation.CREATE,
        mode=Mode.WARN,
        configmaps=_reordered_configmaps(configmaps),
    )
    assert shuffled.config_hash == original.config_hash


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("template_annotations", [None, {"team": "x"}, {HASH_ANNOTATION: "sha256:old"}])
def test_patched_objects_still_validate_against_the_kubernetes_schema(
    kind: str, template_annotations: dict[str, str] | None
) -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "envFrom": [{"configMapRef": {"name": "alpha"}}],
                "volumeMounts": [{"name": "v", "mountPath": "/etc/x", "subPath": "a"}],
            }
        ],
        "volumes": [{"name": "v", "configMap": {"name": "beta", "items": [{"key": "a", "path": "a"}]}}],
    }
    obj = workload(kind, spec, template_annotations=template_annotations)
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    decision = evaluate(obj=obj, operation=Operation.CREATE, mode=Mode.WARN, configmaps={})
    assert decision.patch is not None
    patched = jsonpatch.apply_patch(obj, decision.patch)
    kubernetes_validate.validate(patched, K8S_VERSION, strict=True)
    view = read_workload(patched)
    assert view is not None
    assert view.template_metadata["annotations"][HASH_ANNOTATION] == decision.config_hash
