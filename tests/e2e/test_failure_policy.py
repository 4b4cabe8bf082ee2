"""With the webhook process unreachable, the failure policies behave as configured.

This also proves the other tests' warnings come from the API server calling the webhook: with
nothing listening, `Fail` makes the API server refuse the write, naming the webhook.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.kube import Answer, Kube
from tests.e2e.webhook_process import WebhookServer, register, render_webhook_configurations, unregister
from tests.envtest import ControlPlane, free_port
from tests.support.builders import container, env_from, pod_spec, workload
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION

pytestmark = pytest.mark.e2e


@pytest.fixture
def dead_webhook(
    control_plane: ControlPlane, kube: Kube, webhook: WebhookServer, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A second release of the chart whose URL nothing listens on, for namespaces labelled
    `e2e-dead-webhook=yes` only, those with `reload-safe.io/policy: off` included: the session's
    live webhook skips `off` namespaces, so there the dead one is the only webhook called."""
    failure_policy = request.param
    configurations = render_webhook_configurations(
        helm=control_plane.binary("helm"),
        url=f"https://127.0.0.1:{free_port()}",
        ca_bundle=webhook.ca_bundle,
        values={
            "webhook": {
                "failurePolicy": failure_policy,
                "namespaceSelectorExpressions": [{"key": "e2e-dead-webhook", "operator": "In", "values": ["yes"]}],
            },
            "fullnameOverride": "reload-safe-dead",
        },
    )
    for configuration in configurations:
        for hook in configuration["webhooks"]:
            selector = hook["namespaceSelector"]
            selector["matchExpressions"] = [
                e for e in selector["matchExpressions"] if e["key"] != "reload-safe.io/policy"
            ]
    register(kube.api, configurations)
    try:
        yield failure_policy
    finally:
        unregister(kube.api, configurations)


def obj(name: str = "web") -> dict[str, object]:
    return workload("Deployment", pod_spec(container(envFrom=[env_from("env-config")])), name=name, namespace=None)


@pytest.mark.parametrize("dead_webhook", ["Ignore"], indirect=True)
def test_ignore_admits_without_the_hash_when_the_webhook_is_down(
    kube: Kube, namespace: Callable[..., str], dead_webhook: str
) -> None:
    ns = namespace("off")
    from kubernetes import client

    client.CoreV1Api(kube.api).patch_namespace(ns, {"metadata": {"labels": {"e2e-dead-webhook": "yes"}}})
    answer = kube.create(obj(), namespace=ns)
    assert answer.ok, answer.body
    assert HASH_ANNOTATION not in answer.annotations(("spec", "template")), answer.body
    stored = kube.get("Deployment", "web", namespace=ns)
    assert stored.ok, stored.body
    assert HASH_ANNOTATION not in stored.annotations(("spec", "template")), stored.body


@pytest.mark.parametrize("dead_webhook", ["Fail"], indirect=True)
def test_fail_refuses_with_a_clear_error_when_the_webhook_is_down(
    kube: Kube, namespace: Callable[..., str], dead_webhook: str
) -> None:
    ns = namespace("off")
    from kubernetes import client

    client.CoreV1Api(kube.api).patch_namespace(ns, {"metadata": {"labels": {"e2e-dead-webhook": "yes"}}})
    # The API server applies a new webhook configuration and a namespace's new label through
    # its informers, a moment after each write: until both are seen, a create is admitted
    # without the dead webhook. Each try uses a new name; the refusal must come.
    names = (f"web-{n}" for n in itertools.count())

    def create() -> tuple[str, Answer]:
        name = next(names)
        return name, kube.create(obj(name), namespace=ns)

    name, answer = eventually(create, until=lambda tried: tried[1].status != 201, timeout=10.0, interval=0.2)
    assert answer.status >= 500 or answer.status == 403, answer.body
    assert "failed calling webhook" in answer.message
    assert kube.get("Deployment", name, namespace=ns).status == 404
    assert HASH_ANNOTATION not in str(answer.body)
