"""AdmissionReviews as the API server sends them, with every way a pod spec uses a ConfigMap.

`rich_object(kind)` is the richest workload the policy reads: env, envFrom, subPath and plain
volume mounts, a projected volume, init containers, reload annotations on both levels. The
fuzz campaign breaks it field by field; the soak and fault tests send it as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.support.builders import (
    ALL_KINDS,
    API_VERSIONS,
    cm_volume,
    container,
    env_from,
    env_ref,
    mount,
    pod_spec,
    projected_volume,
    workload,
)

RESOURCES = {
    "Pod": ("", "pods"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
}
KINDS = ALL_KINDS


def rich_spec(*, configmap: str = "env-config") -> dict[str, Any]:
    app = container(
        "app",
        env=[env_ref(configmap, "log_level", var="LOG_LEVEL"), {"name": "PLAIN", "value": "x"}],
        envFrom=[env_from(configmap), {"prefix": "P_", "configMapRef": {"name": "nginx-conf", "optional": True}}],
        volumeMounts=[
            mount("conf", "/etc/nginx/conf.d/default.conf", sub_path="default.conf"),
            mount("conf", "/etc/nginx/live"),
            mount("all", "/etc/all"),
            mount("report", "/etc/report/$(POD)", expr="$(POD)"),
        ],
    )
    init = container("init", envFrom=[env_from("report-config")])
    volumes = [
        cm_volume("conf", "nginx-conf", items=["default.conf"]),
        projected_volume("all", configmap, "nginx-conf", "missing-config"),
        cm_volume("report", "report-config"),
        {"name": "scratch", "emptyDir": {}},
    ]
    return pod_spec(app, volumes=volumes, init=[init])


def rich_object(
    kind: str, *, name: str = "web", namespace: str = "shop", configmap: str = "env-config"
) -> dict[str, Any]:
    return workload(
        kind,
        rich_spec(configmap=configmap),
        name=name,
        namespace=namespace,
        annotations={"reload-safe.io/reload": "rollout"} if kind == "Deployment" else {"team": "a"},
        template_annotations={"checksum/config": "abc"} if kind == "StatefulSet" else {"prometheus.io/scrape": "true"},
    )


def review(
    obj: Any,
    *,
    uid: str,
    operation: str = "CREATE",
    old: Any = None,
    namespace: str = "shop",
    kind: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    if kind is None:
        found = obj.get("kind") if isinstance(obj, dict) else None
        kind = found if isinstance(found, str) else "Deployment"
    group, resource = RESOURCES.get(kind, ("apps", "deployments"))
    version = API_VERSIONS.get(kind, "apps/v1").rsplit("/", 1)[-1]
    gvk = {"group": group, "version": version, "kind": kind}
    request: dict[str, Any] = {
        "uid": uid,
        "kind": gvk,
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": gvk,
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": obj.get("metadata", {}).get("name") if isinstance(obj, dict) else None,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "reliability", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def review_bytes(obj: Any, **kwargs: Any) -> bytes:
    return json.dumps(review(obj, **kwargs)).encode()


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in a JSON tree (objects by key, arrays by index), the root excluded."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def replaced(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of `tree` with the value at `path` replaced (or deleted, for `DELETE`)."""
    copy = json.loads(json.dumps(tree))
    node = copy
    for step in path[:-1]:
        node = node[step]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


DELETE = object()
