"""Attribute pods to top-level workloads through ownerReferences, judging each workload once.

Feed order matters and is the adapter's job: ConfigMaps first (given to the constructor), then
every workload kind, then pods, so that by the time a pod arrives the chain Pod → ReplicaSet →
Deployment (or Pod → Job → CronJob) is known. Each object is reduced on arrival to what the
report needs (a link of two uids, or one `WorkloadState`), so nothing holds a page longer than
the adapter does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from webhook.clusterreport.model import NO_HASH_KEY, ClusterReport, State, WorkloadState
from webhook.clusterreport.states import pod_is_stale, state_of
from webhook.policy import (
    HASH_ANNOTATION,
    WORKLOAD_KINDS,
    ConfigMapContent,
    Mode,
    ObjectKind,
    Operation,
    SecretContent,
    evaluate,
    find_references,
    read_workload,
)
from webhook.policy.shapes import items, mapping, text

MAX_OWNER_DEPTH: Final = 4
"""Pod → ReplicaSet → Deployment is two links; a deeper chain is a loop or a bug, not a workload."""


class Tally:
    """Accumulates one report. Not thread-safe: one adapter feeds it in order."""

    def __init__(
        self,
        *,
        configmaps: Mapping[str, Mapping[str, ConfigMapContent]],
        secrets: Mapping[str, Mapping[str, SecretContent]] | None = None,
    ) -> None:
        """`secrets` None: no hash key, so a workload that consumes a Secret cannot have its
        current hash computed and is reported `unknown` (with the reason in `unknown_reason`)."""
        self._configmaps = configmaps
        self._secrets = secrets
        self._rows: dict[str, WorkloadState] = {}
        """Reported workloads by uid."""
        self._parent: dict[str, str] = {}
        """uid of a workload owned by a workload kind → its owner's uid (not reported itself)."""
        self.unattributed_pods = 0
        """Pods whose owner chain leads to no listed workload (a race with a delete, or a kind
        the report does not list): counted so the summary can say so."""

    def add_workload(self, obj: Mapping[str, Any], *, kind: str) -> None:
        """One listed workload (not a Pod: see `add_pod`)."""
        metadata = mapping(obj.get("metadata"))
        uid = text(metadata.get("uid"))
        owner = controller_owner(metadata)
        if uid is None or _being_deleted(metadata):
            return
        if owner is not None and owner[0] in WORKLOAD_KINDS:
            self._parent[uid] = owner[1]
            return
        self._rows[uid] = self._judge(obj, kind=kind, owned=owner is not None)

    def add_pod(self, pod: Mapping[str, Any]) -> None:
        """A pod counts toward its top-level workload, or is one itself when no workload owns it."""
        metadata = mapping(pod.get("metadata"))
        if _being_deleted(metadata):
            return
        owner = controller_owner(metadata)
        pod_hash = text(mapping(metadata.get("annotations")).get(HASH_ANNOTATION))
        if owner is None or owner[0] not in WORKLOAD_KINDS:
            row = self._judge(pod, kind="Pod", owned=owner is not None)
            uid = text(metadata.get("uid")) or f"pod/{row.namespace}/{row.name}"
            self._rows[uid] = row
        else:
            found = self._top(owner[1])
            if found is None:
                self.unattributed_pods += 1
                return
            row = found
        row.pods += 1
        if pod_is_stale(pod_hash=pod_hash, current_hash=row.current_hash):
            row.stale_pods += 1

    def report(self) -> ClusterReport:
        return ClusterReport(workloads=tuple(sorted(self._rows.values(), key=lambda row: row.sort_key)))

    def _top(self, uid: str) -> WorkloadState | None:
        for _ in range(MAX_OWNER_DEPTH):
            row = self._rows.get(uid)
            if row is not None:
                return row
            parent = self._parent.get(uid)
            if parent is None:
                return None
            uid = parent
        return None

    def _judge(self, obj: Mapping[str, Any], *, kind: str, owned: bool) -> WorkloadState:
        """Findings under `enforce` rules, as `scan` finds them; the hash as the webhook computes it."""
        workload = read_workload(obj, kind=kind)
        assert workload is not None, kind  # only workload kinds are listed
        namespace = workload.namespace or ""
        references = find_references(workload.pod_spec)
        decision = evaluate(
            obj=obj,
            kind=kind,
            operation=Operation.CREATE,
            mode=Mode.ENFORCE,
            configmaps=self._configmaps.get(namespace, {}),
            secrets=self._secrets.get(namespace, {}) if self._secrets is not None else None,
            references=references,
        )
        config_hash = text(mapping(workload.template_metadata.get("annotations")).get(HASH_ANNOTATION))
        current_hash = decision.config_hash
        if self._secrets is None and any(r.source is ObjectKind.SECRET for r in references):
            return WorkloadState(
                kind=kind,
                namespace=namespace,
                name=workload.display_name,
                owned=owned,
                state=State.UNKNOWN,
                config_hash=config_hash,
                current_hash=None,
                findings=decision.violations,
                unknown_reason=NO_HASH_KEY,
                uid=text(workload.metadata.get("uid")),
            )
        return WorkloadState(
            kind=kind,
            namespace=namespace,
            name=workload.display_name,
            owned=owned,
            state=state_of(references=references, config_hash=config_hash, current_hash=current_hash),
            config_hash=config_hash,
            current_hash=current_hash,
            findings=decision.violations,
            uid=text(workload.metadata.get("uid")),
        )


def controller_owner(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, uid) of the ownerReference with `controller: true`, the one that manages the object."""
    for reference in items(metadata.get("ownerReferences")):
        ref = mapping(reference)
        kind, uid = text(ref.get("kind")), text(ref.get("uid"))
        if ref.get("controller") is True and kind is not None and uid is not None:
            return kind, uid
    return None


def _being_deleted(metadata: Mapping[str, Any]) -> bool:
    """Skipped as `scan` skips them: a workload on its way out is not worth fixing."""
    return metadata.get("deletionTimestamp") not in (None, "")
