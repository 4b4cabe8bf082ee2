"""The controller's writes carry its own field manager and the workload's uid guard."""

from __future__ import annotations

from typing import Any

from tests.support.builders import container, env_from, pod_spec, workload
from webhook.controller.consumers import consumer_of
from webhook.controller.kube import KubePatcher, KubeRecorder
from webhook.controller.rawapi import Transport
from webhook.policy import HASH_ANNOTATION

HASH = "sha256:" + "0" * 64


class Released:
    def read(self) -> bytes:
        return b"{}"

    def release_conn(self) -> None:
        """The real response hands its connection back to the pool."""


class RecordingTransport(Transport):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, path, kwargs))
        return Released()


def consumer() -> Any:
    obj = workload(
        "Deployment",
        pod_spec(container(envFrom=[env_from("env-config")])),
        namespace="ns",
        annotations={"reload-safe.io/reload": "rollout"},
    )
    obj["metadata"]["uid"] = "u-1"
    found = consumer_of(obj)
    assert found is not None
    return found


def test_every_patch_names_the_controller_as_field_manager() -> None:
    transport = RecordingTransport()
    KubePatcher(transport).patch_hash(consumer(), value=HASH)
    ((method, path, kwargs),) = transport.calls
    assert (method, path) == ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web")
    assert kwargs["query"] == [("fieldManager", "reload-safe-controller")]
    assert kwargs["content_type"] == "application/merge-patch+json"
    assert kwargs["timeout"] > 0
    assert kwargs["body"] == {
        "metadata": {"uid": "u-1"},
        "spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: HASH}}}},
    }


def test_the_event_names_the_configmap_and_the_hash_only() -> None:
    transport = RecordingTransport()
    KubeRecorder(transport, instance="pod-1").config_changed(
        consumer(), what="ConfigMap env-config", old=None, new=HASH
    )
    ((method, path, kwargs),) = transport.calls
    assert (method, path) == ("POST", "/api/v1/namespaces/ns/events")
    event = kwargs["body"]
    assert event["reason"] == "ConfigChanged"
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "ns",
        "uid": "u-1",
    }
    assert event["message"] == f"ConfigMap env-config changed: rolling out with {HASH_ANNOTATION} {HASH}"
