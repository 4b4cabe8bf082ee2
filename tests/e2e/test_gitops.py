"""GitOps tools and the webhook (issue 19): Flux and Argo CD's server-side diff run a
server-side-apply dry run, with the webhook inside it. An unchanged manifest must show no
difference (the hash is deterministic); after a consumed ConfigMap changes, exactly the hash
differs, so the tool applies once and the workload rolls once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.kube import Kube
from tests.support.builders import container, env_from, pod_spec, workload
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

FLUX = "kustomize-controller"
HASH = "reload-safe.io/config-hash"


def configmap(level: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env-config"}, "data": {"log_level": level}}


MANIFEST = workload(
    "Deployment",
    pod_spec(container(envFrom=[env_from("env-config")])),
    name="app",
    namespace=None,
    annotations={"reload-safe.io/reload": "rollout"},
)


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """What a diff tool compares: the spec and the user-facing metadata."""
    metadata = obj["metadata"]
    return {
        "labels": metadata.get("labels"),
        "annotations": metadata.get("annotations"),
        "spec": obj["spec"],
    }


def settled(kube: Kube, ns: str) -> dict[str, Any]:
    """The stored Deployment once the deployment controller has stamped its revision (a field
    it writes after the create, which a diff against an earlier read would show)."""
    body: dict[str, Any] = eventually(
        lambda: kube.get("Deployment", "app", namespace=ns).body,
        until=lambda body: "deployment.kubernetes.io/revision" in (body["metadata"].get("annotations") or {}),
        timeout=15.0,
    )
    return body


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(a.keys() | b.keys()) for d in _differences(a.get(key), b.get(key), f"{path}/{key}")]
    return [] if a == b else [path]


def test_a_dry_run_apply_of_an_unchanged_manifest_changes_nothing_and_after_an_edit_only_the_hash(
    kube: Kube, namespace: Callable[..., str]
) -> None:
    ns = namespace("warn")
    assert kube.apply(configmap("INFO"), namespace=ns, field_manager=FLUX).ok
    created = kube.apply(copy.deepcopy(MANIFEST), namespace=ns, field_manager=FLUX)
    assert created.ok, created.body
    stored = settled(kube, ns)

    dry = kube.apply(copy.deepcopy(MANIFEST), namespace=ns, dry_run=True, field_manager=FLUX)
    assert dry.ok
    assert _differences(_comparable(stored), _comparable(dry.body)) == []
    assert dry.body["metadata"]["generation"] == stored["metadata"]["generation"]

    assert kube.apply(configmap("DEBUG"), namespace=ns, field_manager=FLUX).ok
    stored = settled(kube, ns)
    drifted = kube.apply(copy.deepcopy(MANIFEST), namespace=ns, dry_run=True, field_manager=FLUX)
    assert _differences(_comparable(stored), _comparable(drifted.body)) == [
        f"/spec/template/metadata/annotations/{HASH}"
    ]

    applied = kube.apply(copy.deepcopy(MANIFEST), namespace=ns, field_manager=FLUX)
    assert applied.body["metadata"]["generation"] == stored["metadata"]["generation"] + 1, "one rollout"
    again = kube.apply(copy.deepcopy(MANIFEST), namespace=ns, field_manager=FLUX)
    assert again.body["metadata"]["generation"] == applied.body["metadata"]["generation"], "and only one"
    managers = {entry["manager"] for entry in again.body["metadata"].get("managedFields") or []}
    assert FLUX in managers
