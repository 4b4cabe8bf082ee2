"""A thin client for the end-to-end tests: send objects through the real API server and keep
what it answered — the stored object, the `Warning` headers, or the error status.

Server-side apply (`kubectl apply --server-side`) creates or updates in one call, and re-applying
an unchanged manifest is a no-op, which is exactly the behaviour the tests assert on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

RESOURCES: Final = {
    "Pod": ("/api/v1", "pods"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "ReplicationController": ("/api/v1", "replicationcontrollers"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
}
_WARNING: Final = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')


@dataclass
class Answer:
    """What the API server answered to one write."""

    status: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    def annotations(self, path: tuple[str, ...] = ()) -> dict[str, str]:
        node: Any = self.body
        for step in path:
            node = node.get(step, {})
        return dict(node.get("metadata", {}).get("annotations") or {})


class Kube:
    def __init__(self, api_client: ApiClient) -> None:
        self.api = api_client

    def _path(self, kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = RESOURCES[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        return f"{path}/{name}" if name else path

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Answer:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method_, url, header_params, serialized, post = self.api.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body
        )
        try:
            raw = self.api.call_api(method_, url, header_params=header_params, body=serialized, post_params=post)
            status, data, header_map = raw.status, raw.read(), raw.headers
        except ApiException as error:
            status, data, header_map = error.status, error.body, error.headers or {}
        warnings = []
        getter = getattr(header_map, "getlist", None) or getattr(header_map, "get_all", None)
        values = getter("Warning") if getter else [header_map.get("Warning")] if header_map.get("Warning") else []
        for value in values or []:
            for part in re.split(r",(?=\s*\d{3}\s)", value):
                match = _WARNING.match(part)
                if match:
                    warnings.append(json.loads(f'"{match.group("text")}"'))
        parsed = json.loads(data) if data else {}
        return Answer(status=status, body=parsed, warnings=warnings)

    def apply(self, obj: dict[str, Any], *, namespace: str, dry_run: bool = False) -> Answer:
        """Server-side apply (create or update) of `obj` in `namespace`."""
        query = [("fieldManager", "e2e"), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        path = self._path(obj["kind"], namespace, obj["metadata"]["name"])
        return self._call("PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml")

    def create(self, obj: dict[str, Any], *, namespace: str, dry_run: bool = False) -> Answer:
        query = [("dryRun", "All")] if dry_run else []
        return self._call("POST", self._path(obj["kind"], namespace), body=obj, query=query)

    def get(self, kind: str, name: str, *, namespace: str) -> Answer:
        return self._call("GET", self._path(kind, namespace, name))

    def patch_merge(self, kind: str, name: str, patch: dict[str, Any], *, namespace: str) -> Answer:
        return self._call(
            "PATCH", self._path(kind, namespace, name), body=patch, content_type="application/merge-patch+json"
        )
