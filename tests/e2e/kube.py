"""A thin client for the end-to-end tests: send objects through the real API server and keep
what it answered — the stored object, the `Warning` headers, or the error status.

Server-side apply (`kubectl apply --server-side`) creates or updates in one call, and re-applying
an unchanged manifest is a no-op, which is exactly the behaviour the tests assert on.

With kube-controller-manager in the control plane (tests/envtest), a rollout is what a user sees:
a new ReplicaSet. `replica_sets` lists a Deployment's own (by ownerReference), and
`settled_replica_sets` waits until the deployment controller has caught up, so that "one rollout"
can be asserted as "exactly one new ReplicaSet". Polling is `tests.support.polling.eventually`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.support.polling import eventually

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
    "Secret": ("/api/v1", "secrets"),
    "Rollout": ("/apis/argoproj.io/v1alpha1", "rollouts"),
}
_WARNING: Final = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')
_T = TypeVar("_T")


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

    def apply(
        self, obj: dict[str, Any], *, namespace: str, dry_run: bool = False, field_manager: str = "e2e"
    ) -> Answer:
        """Server-side apply (create or update) of `obj` in `namespace`, forced, as GitOps tools do."""
        query = [("fieldManager", field_manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        path = self._path(obj["kind"], namespace, obj["metadata"]["name"])
        return self._call("PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml")

    def create(self, obj: dict[str, Any], *, namespace: str, dry_run: bool = False) -> Answer:
        query = [("dryRun", "All")] if dry_run else []
        return self._call("POST", self._path(obj["kind"], namespace), body=obj, query=query)

    def get(self, kind: str, name: str, *, namespace: str) -> Answer:
        return self._call("GET", self._path(kind, namespace, name))

    def list_objects(self, kind: str, *, namespace: str) -> list[dict[str, Any]]:
        """Every object of `kind` in `namespace` (raises on an error answer: a list that
        silently came back empty would make "no new ReplicaSet" pass for the wrong reason)."""
        answer = self._call("GET", self._path(kind, namespace))
        if not answer.ok:
            raise RuntimeError(f"listing {kind} in {namespace}: {answer.status} {answer.message}")
        return list(answer.body.get("items") or [])

    def patch_merge(self, kind: str, name: str, patch: dict[str, Any], *, namespace: str) -> Answer:
        return self._call(
            "PATCH", self._path(kind, namespace, name), body=patch, content_type="application/merge-patch+json"
        )


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    """Whether `owner` is `obj`'s controller (matched by uid, as the garbage collector does:
    a Deployment deleted and re-created under the same name is another owner)."""
    uid = owner["metadata"]["uid"]
    refs = obj["metadata"].get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def replica_sets(kube: Kube, deployment: str, *, namespace: str) -> list[dict[str, Any]]:
    """The ReplicaSets the Deployment named `deployment` controls, oldest revision first
    (kube-controller-manager's `deployment.kubernetes.io/revision`)."""
    owner = kube.get("Deployment", deployment, namespace=namespace)
    if not owner.ok:
        raise RuntimeError(f"Deployment {namespace}/{deployment}: {owner.status} {owner.message}")
    return _owned_replica_sets(owner.body, kube.list_objects("ReplicaSet", namespace=namespace))


def _owned_replica_sets(deployment: dict[str, Any], candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((rs for rs in candidates if owned_by(rs, deployment)), key=_revision)


def _revision(replica_set: dict[str, Any]) -> int:
    annotations = replica_set["metadata"].get("annotations") or {}
    return int(annotations.get("deployment.kubernetes.io/revision", "0"))


def _observed(deployment: dict[str, Any]) -> bool:
    """The deployment controller has seen this generation; it creates the ReplicaSet of a new
    pod template before it records that, so the ReplicaSets listed after are complete."""
    seen = (deployment.get("status") or {}).get("observedGeneration", 0)
    return bool(seen >= deployment["metadata"]["generation"])


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


def settled_replica_sets(
    kube: Kube, deployment: str, *, namespace: str, quiet: float = 2.0, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The Deployment's ReplicaSets once the count has settled: the deployment controller has
    observed the Deployment's current generation, and the set of ReplicaSets stayed the same
    for `quiet` seconds, so a rollout someone is about to cause (a debounced controller) has
    time to show.

    Count what is new against a list taken before the change: `len(after) - len(before)`
    is the number of rollouts (kube-controller-manager keeps up to 10 old ReplicaSets)."""

    def snapshot() -> list[dict[str, Any]] | None:
        owner = kube.get("Deployment", deployment, namespace=namespace).body
        if not _observed(owner):
            return None
        return _owned_replica_sets(owner, kube.list_objects("ReplicaSet", namespace=namespace))

    return _settled(snapshot, key=names, quiet=quiet, timeout=timeout, what=f"the ReplicaSets of {deployment}")


def settled_replica_sets_by_deployment(
    kube: Kube, *, namespace: str, quiet: float = 2.0, timeout: float = 60.0
) -> dict[str, list[str]]:
    """`settled_replica_sets` for every Deployment of the namespace at once, in two list calls
    per poll (for tests with hundreds of Deployments): Deployment name -> its ReplicaSets'
    names, oldest revision first, once every Deployment is observed and nothing changed for
    `quiet` seconds."""

    def snapshot() -> dict[str, list[str]] | None:
        deployments = kube.list_objects("Deployment", namespace=namespace)
        if not all(_observed(deployment) for deployment in deployments):
            return None
        candidates = kube.list_objects("ReplicaSet", namespace=namespace)
        return {d["metadata"]["name"]: names(_owned_replica_sets(d, candidates)) for d in deployments}

    return _settled(snapshot, key=lambda m: m, quiet=quiet, timeout=timeout, what=f"the ReplicaSets in {namespace}")


def _settled(
    snapshot: Callable[[], _T | None], *, key: Callable[[_T], object], quiet: float, timeout: float, what: str
) -> _T:
    """The first `snapshot()` whose `key` has stayed the same (and not None) for `quiet`
    seconds, polled with `eventually`."""
    last: list[Any] = [None, time.monotonic()]  # key, since when

    def still() -> tuple[_T] | None:
        value, now = snapshot(), time.monotonic()
        current = None if value is None else key(value)
        if value is None or current != last[0]:
            last[:] = [current, now]
            return None
        return (value,) if now - last[1] >= quiet else None

    return eventually(still, timeout=timeout, what=f"{what} settled")[0]
