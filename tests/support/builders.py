"""Small builders for workload objects, so each test states only what it is about."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.spec import V1_CONFIGMAP, V1_DATA, V1_HASH
from webhook.policy import ConfigMapContent
from webhook.policy.model import SecretContent
from webhook.policy.secrets import secret_content

TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")
ALL_KINDS = ("Pod", *TEMPLATE_KINDS, "CronJob")
API_VERSIONS = {
    "Pod": "v1",
    "ReplicationController": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "nginx:1.27", **fields}


def env_ref(configmap: str, key: str, *, var: str = "VAR", optional: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": configmap, "key": key}
    if optional is not None:
        ref["optional"] = optional
    return {"name": var, "valueFrom": {"configMapKeyRef": ref}}


def env_from(configmap: str) -> dict[str, Any]:
    return {"configMapRef": {"name": configmap}}


def cm_volume(name: str, configmap: str, *, items: list[str] | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"name": configmap}
    if items is not None:
        source["items"] = [{"key": k, "path": k} for k in items]
    return {"name": name, "configMap": source}


def projected_volume(name: str, *configmaps: str) -> dict[str, Any]:
    return {"name": name, "projected": {"sources": [{"configMap": {"name": c}} for c in configmaps]}}


def mount(volume: str, path: str, *, sub_path: str | None = None, expr: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": volume, "mountPath": path}
    if sub_path is not None:
        m["subPath"] = sub_path
    if expr is not None:
        m["subPathExpr"] = expr
    return m


def pod_spec(
    *containers: dict[str, Any], volumes: list[dict[str, Any]] | None = None, init: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers) or [container()]}
    if volumes:
        spec["volumes"] = volumes
    if init:
        spec["initContainers"] = init
    return spec


def workload(
    kind: str,
    spec: dict[str, Any],
    *,
    name: str | None = "web",
    namespace: str | None = "team-a",
    annotations: dict[str, Any] | None = None,
    template_annotations: dict[str, Any] | None = None,
    owned: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    """A `kind` object whose pod template (or, for a Pod, itself) has `spec`."""
    metadata: dict[str, Any] = {"name": name} if name is not None else {}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if namespace:
        metadata["namespace"] = namespace
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    if owned:
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "owner", "uid": "u-1", "controller": True}
        ]
    spec = copy.deepcopy(spec)
    if kind == "Pod":
        if template_annotations:
            metadata.setdefault("annotations", {}).update(template_annotations)
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    app = name or "unnamed"
    template: dict[str, Any] = {"metadata": {"labels": {"app": app}}, "spec": spec}
    if template_annotations is not None:
        template["metadata"]["annotations"] = dict(template_annotations)
    selector = {"matchLabels": {"app": app}}
    if kind == "CronJob":
        spec["restartPolicy"] = "OnFailure"
        body: dict[str, Any] = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec["restartPolicy"] = "Never"
        body = {"template": template}
    elif kind == "ReplicationController":
        body = {"selector": {"app": app}, "template": template}
    elif kind == "StatefulSet":
        body = {"selector": selector, "serviceName": app, "template": template}
    else:
        body = {"selector": selector, "template": template}
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": metadata, "spec": body}


def configmap_manifest(
    name: str,
    *,
    namespace: str | None = None,
    data: dict[str, str] | None = None,
    immutable: bool = False,
    match: bool = False,
) -> dict[str, Any]:
    """A ConfigMap object as written in a manifest (for `scan`, `review`, the API server)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if match:
        metadata["annotations"] = {"reloader.stakater.com/match": "true"}
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"k": "v"}}
    if immutable:
        obj["immutable"] = True
    return obj


def cm(name: str, data: dict[str, str] | None = None, **fields: Any) -> ConfigMapContent:
    return ConfigMapContent(name=name, data=data or {}, **fields)


ENV_FROM_SPEC = pod_spec(container(envFrom=[env_from(V1_CONFIGMAP)]))
ENV_CONFIG = {V1_CONFIGMAP: cm(V1_CONFIGMAP, dict(V1_DATA))}
SEED_HASH = V1_HASH
"""SPEC's v1 test vector, for ENV_FROM_SPEC with ENV_CONFIG (tests/support/spec.py)."""


# --- Secrets (SPEC Contract v2) ------------------------------------------------------------------


def secret_env_ref(secret: str, key: str, *, var: str = "VAR") -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def secret_env_from(secret: str) -> dict[str, Any]:
    return {"secretRef": {"name": secret}}


def secret_volume(name: str, secret: str, *, items: list[str] | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"secretName": secret}
    if items is not None:
        source["items"] = [{"key": key, "path": key} for key in items]
    return {"name": name, "secret": source}


def projected_secret_volume(name: str, *secrets: str) -> dict[str, Any]:
    return {"name": name, "projected": {"sources": [{"secret": {"name": s}} for s in secrets]}}


def secret(
    name: str, data: dict[str, bytes] | None = None, *, key: bytes, immutable: bool = False, match: bool = False
) -> SecretContent:
    """A Secret as the policy keeps it: digests under `key`, never the values."""
    return secret_content(name=name, data=data or {}, immutable=immutable, reloader_match=match, hash_key=key)
