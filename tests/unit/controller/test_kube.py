"""The controller's writes carry its own field manager and the workload's uid guard."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.unit.policy.builders import container, env_from, pod_spec, workload
from webhook.controller.consumers import consumer_of
from webhook.controller.kube import KubePatcher
from webhook.policy import HASH_ANNOTATION


class RecordingApps:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def patch_namespaced_deployment(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((args, kwargs))

    patch_namespaced_stateful_set = patch_namespaced_daemon_set = patch_namespaced_deployment


def test_every_patch_names_the_controller_as_field_manager() -> None:
    obj = workload(
        "Deployment",
        pod_spec(container(envFrom=[env_from("env-config")])),
        namespace="ns",
        annotations={"reload-safe.io/reload": "rollout"},
    )
    obj["metadata"]["uid"] = "u-1"
    consumer = consumer_of(obj)
    assert consumer is not None
    patcher = KubePatcher(client.ApiClient(client.Configuration()))
    apps = RecordingApps()
    patcher._apps = apps  # type: ignore[assignment]
    patcher.patch_hash(consumer, value="sha256:" + "0" * 64)
    ((args, kwargs),) = apps.calls
    assert kwargs["field_manager"] == "reload-safe-controller"
    assert kwargs["_request_timeout"] > 0
    name, namespace, body = args
    assert (name, namespace) == ("web", "ns")
    assert body == {
        "metadata": {"uid": "u-1"},
        "spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: "sha256:" + "0" * 64}}}},
    }
