"""An in-memory `Cluster` that records every write, for ensure/inject tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.certs.ensure import ConflictError, StoredSecret, WebhookCA, WebhookKind


@dataclass
class FakeCluster:
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[tuple[WebhookKind, str], list[dict[str, Any]]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    conflicts_to_raise: int = 0
    _version: int = 0

    def add_configuration(self, *, kind: WebhookKind, name: str, webhook_names: list[str]) -> None:
        self.webhooks[(kind, name)] = [{"name": n, "clientConfig": {}} for n in webhook_names]

    def ca_bundles(self, *, kind: WebhookKind, name: str) -> list[str | None]:
        return [w["clientConfig"].get("caBundle") for w in self.webhooks[(kind, name)]]

    def read_secret(self, *, namespace: str, name: str) -> StoredSecret | None:
        stored = self.secrets.get((namespace, name))
        if stored is None:
            return None
        return StoredSecret(data=dict(stored["data"]), resource_version=stored["resourceVersion"])

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
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise ConflictError("simulated conflict")
        current = self.secrets.get((namespace, name))
        if (current is None) != (previous is None):
            raise ConflictError("created or deleted concurrently")
        if current is not None and previous is not None and current["resourceVersion"] != previous.resource_version:
            raise ConflictError("stale resourceVersion")
        self._version += 1
        self.secrets[(namespace, name)] = {
            "type": secret_type,
            "data": dict(data),
            "labels": dict(labels),
            "resourceVersion": str(self._version),
        }
        self.writes.append(f"secret/{name}")

    def read_webhooks(self, *, kind: WebhookKind, name: str) -> list[WebhookCA] | None:
        configuration = self.webhooks.get((kind, name))
        if configuration is None:
            return None
        return [WebhookCA(name=w["name"], ca_bundle=w["clientConfig"].get("caBundle")) for w in configuration]

    def patch_webhooks(self, *, kind: WebhookKind, name: str, patch: list[dict[str, Any]]) -> None:
        configuration = copy.deepcopy(self.webhooks[(kind, name)])
        for op in patch:
            _, _, index, *rest = op["path"].split("/")
            webhook = configuration[int(index)]
            if op["op"] == "test":
                if webhook["name"] != op["value"]:
                    raise ConflictError("test failed")
            elif rest == ["clientConfig", "caBundle"] and op["op"] == "add":
                webhook["clientConfig"]["caBundle"] = op["value"]
            else:
                raise AssertionError(f"unexpected patch operation {op}")
        self.webhooks[(kind, name)] = configuration
        self.writes.append(f"{kind}/{name}")
