"""The `Cluster` of `webhook.certs.ensure`, spoken through the official Kubernetes client.

This is the only module of `webhook.certs` that imports `kubernetes`, so generating
certificates on a laptop or in CI never needs a cluster library or a kubeconfig.
Permissions it needs (granted by the chart's hook RBAC): secrets get/create/update in one
namespace, and get/patch on the two named webhook configurations.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from webhook.certs.ensure import ConflictError, StoredSecret, WebhookCA, WebhookKind

NOT_FOUND = 404
CONFLICT = 409
UNPROCESSABLE = 422  # a failed JSON patch `test` operation


class KubernetesCluster:
    """Secrets and webhook configurations, translated to plain data at the boundary."""

    def __init__(self, *, api_client: client.ApiClient) -> None:
        self._core = client.CoreV1Api(api_client)
        self._admission = client.AdmissionregistrationV1Api(api_client)

    def read_secret(self, *, namespace: str, name: str) -> StoredSecret | None:
        try:
            secret = self._core.read_namespaced_secret(name=name, namespace=namespace)
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise
        data = {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}
        version = secret.metadata.resource_version if secret.metadata else None
        return StoredSecret(data=data, resource_version=version)

    def write_secret(
        self,
        *,
        namespace: str,
        name: str,
        secret_type: str,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        previous: StoredSecret | None,
    ) -> None:
        body = client.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=namespace,
                labels=dict(labels) or None,
                resource_version=previous.resource_version if previous else None,
            ),
            type=secret_type,
            data={key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
        )
        try:
            if previous is None:
                self._core.create_namespaced_secret(namespace=namespace, body=body)
            else:
                self._core.replace_namespaced_secret(name=name, namespace=namespace, body=body)
        except ApiException as exc:
            if exc.status == CONFLICT:
                raise ConflictError(f"secret {namespace}/{name} changed concurrently") from exc
            raise

    def read_webhooks(self, *, kind: WebhookKind, name: str) -> list[WebhookCA] | None:
        read = (
            self._admission.read_mutating_webhook_configuration
            if kind is WebhookKind.MUTATING
            else self._admission.read_validating_webhook_configuration
        )
        try:
            configuration = read(name=name)
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise
        return [
            WebhookCA(name=webhook.name, ca_bundle=_text(webhook.client_config.ca_bundle))
            for webhook in configuration.webhooks or []
        ]

    def patch_webhooks(self, *, kind: WebhookKind, name: str, patch: list[dict[str, Any]]) -> None:
        apply = (
            self._admission.patch_mutating_webhook_configuration
            if kind is WebhookKind.MUTATING
            else self._admission.patch_validating_webhook_configuration
        )
        try:
            apply(name=name, body=patch, _content_type="application/json-patch+json")
        except ApiException as exc:
            if exc.status in (CONFLICT, UNPROCESSABLE):
                raise ConflictError(f"{kind} {name} changed concurrently") from exc
            raise


def _text(ca_bundle: bytes | str | None) -> str | None:
    # The API serves caBundle as base64 text; the client may hand it back as bytes of that text.
    # At worst a misreading costs one redundant (idempotent) patch.
    return ca_bundle.decode("ascii", errors="replace") if isinstance(ca_bundle, bytes) else ca_bundle


def connect(*, kubeconfig: str | None = None, context: str | None = None) -> KubernetesCluster:
    """Inside a pod (and no kubeconfig given): the ServiceAccount; elsewhere: a kubeconfig."""
    configuration = client.Configuration()
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        load_incluster = cast(Callable[..., None], config.load_incluster_config)
        load_incluster(client_configuration=configuration)
    else:
        load_kube_config = cast(Callable[..., None], config.load_kube_config)
        load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    return KubernetesCluster(api_client=client.ApiClient(configuration))
