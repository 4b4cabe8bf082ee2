"""The controller's writes to the Kubernetes API: the hash patch and the `ConfigChanged` Event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from kubernetes import client

from webhook.controller.consumers import Consumer
from webhook.policy import HASH_ANNOTATION

COMPONENT: Final = "reload-safe-controller"
_API_VERSIONS: Final = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "CronJob": "batch/v1",
}


def hash_merge_patch(consumer: Consumer, *, value: str) -> dict[str, Any]:
    """A merge patch that sets only the template's hash annotation, nothing else."""
    body: dict[str, Any] = {"metadata": {"annotations": {HASH_ANNOTATION: value}}}
    for step in reversed(consumer.template_path):
        body = {step: body}
    return body


class KubePatcher:
    """Patches through the typed clients, guarded by the workload's uid so a workload deleted
    and recreated under the same name is never patched on its predecessor's behalf."""

    def __init__(self, api_client: client.ApiClient, *, timeout: float = 10.0) -> None:
        self._apps = client.AppsV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._timeout = timeout

    def patch_hash(self, consumer: Consumer, *, value: str) -> None:
        body = hash_merge_patch(consumer, value=value)
        if consumer.uid:
            body["metadata"] = {"uid": consumer.uid}
        key = consumer.key
        patch = {
            "Deployment": self._apps.patch_namespaced_deployment,
            "StatefulSet": self._apps.patch_namespaced_stateful_set,
            "DaemonSet": self._apps.patch_namespaced_daemon_set,
            "CronJob": self._batch.patch_namespaced_cron_job,
        }[key.kind]
        patch(key.name, key.namespace, body, _request_timeout=self._timeout, field_manager=COMPONENT)


class KubeRecorder:
    """Kubernetes Events (core/v1) on the rolled workload."""

    def __init__(self, api_client: client.ApiClient, *, instance: str) -> None:
        self._core = client.CoreV1Api(api_client)
        self._instance = instance

    def config_changed(self, consumer: Consumer, *, configmap: str, old: str | None, new: str) -> None:
        key = consumer.key
        now = datetime.now(UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{key.name}.", namespace=key.namespace),
            involved_object=client.V1ObjectReference(
                api_version=_API_VERSIONS[key.kind],
                kind=key.kind,
                name=key.name,
                namespace=key.namespace,
                uid=consumer.uid,
            ),
            reason="ConfigChanged",
            message=f"ConfigMap {configmap} changed: rolling out with {HASH_ANNOTATION} {new}",
            type="Normal",
            source=client.V1EventSource(component=COMPONENT, host=self._instance),
            reporting_component=COMPONENT,
            reporting_instance=self._instance,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        self._core.create_namespaced_event(key.namespace, event, _request_timeout=5)
