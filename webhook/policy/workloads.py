"""Where each workload kind keeps its pod template (SPEC "Objects it looks at")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from webhook.policy.shapes import items, mapping, text

TEMPLATE_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Rollout": ("spec", "template"),
}
"""Path from the object to its pod template; the empty path means the object is the pod.

`Rollout` is Argo Rollouts' (`argoproj.io/v1alpha1`): a Deployment-like kind whose controller
replaces pods when its template changes (SPEC v2 "Argo Rollouts")."""

ROLLOUT: Final = "Rollout"

WORKLOAD_KINDS: Final = frozenset(TEMPLATE_PATHS)

ROLLING_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob", ROLLOUT})
"""Kinds whose controller replaces pods when the template changes (CronJob: the next Job)."""

CREATE_ONLY_HASH_KINDS: Final = frozenset({"Pod", "Job"})
"""A Pod's hash records the config it started with; a Job's template cannot change."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A read-only view of one workload object, as far as it could be read."""

    kind: str
    name: str | None
    namespace: str | None
    metadata: Mapping[str, Any]
    template_metadata: Mapping[str, Any]
    pod_spec: Mapping[str, Any]
    template_path: tuple[str, ...]
    has_template: bool
    """False when the object has no pod template where its kind keeps one."""

    @property
    def borrows_template(self) -> bool:
        """A Rollout without a template of its own runs the one of `spec.workloadRef`'s
        Deployment, which is evaluated when that Deployment is admitted."""
        return self.kind == ROLLOUT and not self.has_template

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"

    @property
    def rolling(self) -> bool:
        return self.kind in ROLLING_KINDS

    @property
    def owned(self) -> bool:
        """Owned by a controller: its owner's template was judged when the owner was admitted."""
        return any(mapping(ref).get("controller") is True for ref in items(self.metadata.get("ownerReferences")))

    @property
    def being_deleted(self) -> bool:
        return self.metadata.get("deletionTimestamp") not in (None, "")

    @property
    def display_name(self) -> str:
        return self.name or "(unnamed)"


def read_workload(obj: Mapping[str, Any], *, kind: str | None = None) -> Workload | None:
    """The workload view of `obj`, or None when its kind is not one the policy looks at."""
    kind = kind or text(obj.get("kind"))
    if kind is None or kind not in TEMPLATE_PATHS:
        return None
    path = TEMPLATE_PATHS[kind]
    template: object = obj
    for step in path:
        template = mapping(template).get(step)
    has_template = isinstance(template, Mapping)
    template = mapping(template)
    metadata = mapping(obj.get("metadata"))
    return Workload(
        kind=kind,
        name=text(metadata.get("name")) or text(metadata.get("generateName")),
        namespace=text(metadata.get("namespace")),
        metadata=metadata,
        template_metadata=metadata if kind == "Pod" else mapping(template.get("metadata")),
        pod_spec=mapping(template.get("spec")),
        template_path=path,
        has_template=has_template,
    )
