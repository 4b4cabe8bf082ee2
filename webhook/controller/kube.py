"""The controller's writes to the Kubernetes API: the hash patch and the `ConfigChanged` Event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from webhook.controller.consumers import Consumer
from webhook.controller.rawapi import Transport
from webhook.policy import HASH_ANNOTATION

HTTP_NOT_FOUND: Final = 404

COMPONENT: Final = "reload-safe-controller"
"""Also the field manager of every patch, so server-side-apply tools see who wrote the hash."""
_RESOURCES: Final = {
    "Deployment": ("apps/v1", "/apis/apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("apps/v1", "/apis/apps/v1", "daemonsets"),
    "CronJob": ("batch/v1", "/apis/batch/v1", "cronjobs"),
    "Rollout": ("argoproj.io/v1alpha1", "/apis/argoproj.io/v1alpha1", "rollouts"),
}
LIST_PATHS: Final = {kind: f"{prefix}/{plural}" for kind, (_, prefix, plural) in _RESOURCES.items()}
"""Each rolled kind's list-for-all-namespaces path."""

OPTIONAL_KINDS: Final = frozenset({"Rollout"})
"""Kinds from CRDs that may not be installed: watched only while the API serves them."""


def serves(transport: Transport, *, group_version_path: str, plural: str) -> bool:
    """Whether the API serves `plural` in the group version at `group_version_path` (discovery).

    False when the group version is absent (404); raises when discovery itself fails."""
    try:
        response = transport.send("GET", group_version_path, timeout=10)
    except ApiException as error:
        if error.status == HTTP_NOT_FOUND:
            return False
        raise
    try:
        resources = json.loads(response.data).get("resources") or []
    finally:
        response.release_conn()
    return any(isinstance(r, dict) and r.get("name") == plural for r in resources)


def served_kinds(transport: Transport) -> frozenset[str]:
    """The rolled kinds the API server serves now (discovery of each optional kind's group version)."""
    served = set(_RESOURCES) - OPTIONAL_KINDS
    for kind in OPTIONAL_KINDS:
        _, prefix, plural = _RESOURCES[kind]
        if serves(transport, group_version_path=prefix, plural=plural):
            served.add(kind)
    return frozenset(served)


def hash_merge_patch(consumer: Consumer, *, value: str) -> dict[str, Any]:
    """A merge patch that sets only the template's hash annotation, nothing else."""
    body: dict[str, Any] = {"metadata": {"annotations": {HASH_ANNOTATION: value}}}
    for step in reversed(consumer.template_path):
        body = {step: body}
    return body


class KubePatcher:
    """Patches guarded by the workload's uid, so a workload deleted and recreated under the same
    name is never patched on its predecessor's behalf."""

    def __init__(self, transport: Transport, *, timeout: float = 10.0) -> None:
        self._transport = transport
        self._timeout = timeout

    def patch_hash(self, consumer: Consumer, *, value: str) -> None:
        body = hash_merge_patch(consumer, value=value)
        if consumer.uid:
            body["metadata"] = {"uid": consumer.uid}
        key = consumer.key
        _, prefix, plural = _RESOURCES[key.kind]
        self._transport.write(
            "PATCH",
            f"{prefix}/namespaces/{key.namespace}/{plural}/{key.name}",
            query=[("fieldManager", COMPONENT)],
            body=body,
            content_type="application/merge-patch+json",
            timeout=self._timeout,
        )


class KubeRecorder:
    """Kubernetes Events (core/v1) on the rolled workload."""

    def __init__(self, transport: Transport, *, instance: str) -> None:
        self._transport = transport
        self._instance = instance

    def config_changed(self, consumer: Consumer, *, what: str, old: str | None, new: str) -> None:
        key = consumer.key
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{key.name}.", "namespace": key.namespace},
            "involvedObject": {
                "apiVersion": _RESOURCES[key.kind][0],
                "kind": key.kind,
                "name": key.name,
                "namespace": key.namespace,
                "uid": consumer.uid,
            },
            "reason": "ConfigChanged",
            "message": f"{what} changed: rolling out with {HASH_ANNOTATION} {new}",
            "type": "Normal",
            "source": {"component": COMPONENT, "host": self._instance},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._transport.write("POST", f"/api/v1/namespaces/{key.namespace}/events", body=event, timeout=5)
