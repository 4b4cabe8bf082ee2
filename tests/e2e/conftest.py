"""Fixtures for the end-to-end tests: one real control plane and one real webhook per session,
a fresh namespace per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kube import Kube
from tests.e2e.webhook_process import WebhookServer, register, render_webhook_configurations
from tests.envtest import ControlPlane, new_namespace
from tests.support.polling import consistently, eventually
from tests.support.spec import V2_HASH_KEY

pytestmark = pytest.mark.e2e

CANARY = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "canary"},
    "spec": {"containers": [{"name": "c", "image": "x", "envFrom": [{"configMapRef": {"name": "canary"}}]}]},
}


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(audit=True, work_dir=tmp_path_factory.mktemp("controlplane")) as cp:
        yield cp


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Kube:
    return Kube(control_plane.api_client())


@pytest.fixture(scope="session")
def hash_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installation's hash key, as the chart mounts it: SPEC v2's test-vector key."""
    path = tmp_path_factory.mktemp("hash-key") / "hash-key"
    path.write_bytes(V2_HASH_KEY + b"\n")
    return path


@pytest.fixture(scope="session")
def webhook(
    control_plane: ControlPlane, kube: Kube, tmp_path_factory: pytest.TempPathFactory, hash_key_file: Path
) -> Iterator[WebhookServer]:
    server = WebhookServer(
        kubeconfig=control_plane.kubeconfig_path,
        work_dir=tmp_path_factory.mktemp("webhook"),
        extra_args=("--hash-key-file", str(hash_key_file)),
    )
    server.start()
    try:  # a failure while registering must not leave the server process behind
        configurations = render_webhook_configurations(
            helm=control_plane.binary("helm"), url=server.url, ca_bundle=server.ca_bundle
        )
        assert {c["kind"] for c in configurations} == {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
        register(kube.api, configurations)
        wait_until_called(kube, new_namespace(kube.api, prefix="canary"))
        yield server
    finally:
        server.stop()


def wait_until_called(kube: Kube, namespace: str, *, timeout: float = 30.0) -> None:
    """The API server picks up new webhook configurations asynchronously: dry-run a canary
    until its answer carries our warning."""
    eventually(
        lambda: kube.create(CANARY, namespace=namespace, dry_run=True),
        until=lambda answer: answer.warnings,
        timeout=timeout,
        interval=0.3,
        what="the API server calling the webhook",
    )


@pytest.fixture
def namespace(kube: Kube, webhook: WebhookServer) -> Callable[..., str]:
    """`namespace("enforce")` creates a fresh namespace labelled with that policy (None: no label)."""

    def make(policy: str | None = None, *, prefix: str = "e2e") -> str:
        labels = {"reload-safe.io/policy": policy} if policy else {}
        return new_namespace(kube.api, prefix=prefix, labels=labels)

    return make


def _records_about(webhook: WebhookServer, *, namespace: str, name: str) -> list[dict[str, Any]]:
    return [r for r in webhook.audit_records() if r.get("namespace") == namespace and r.get("name") == name]


def records_for(webhook: WebhookServer, *, namespace: str, name: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The webhook's audit lines about one object, once there are any (lines follow the answer)."""
    return eventually(
        lambda: _records_about(webhook, namespace=namespace, name=name),
        timeout=timeout,
        interval=0.1,
        what=f"audit lines about {namespace}/{name}",
    )


def assert_no_records(webhook: WebhookServer, *, namespace: str, name: str) -> None:
    """No audit line about the object, for as long as one would take to appear."""
    consistently(
        lambda: _records_about(webhook, namespace=namespace, name=name),
        until=lambda found: found == [],
        duration=1.0,
        interval=0.1,
        what=f"no audit line about {namespace}/{name}",
    )


def seed_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "seed"
