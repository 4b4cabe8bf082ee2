"""Which opted-in workloads consume which ConfigMaps and Secrets.

Built with the policy core's own reference finder (`find_references`), so the controller and
the webhook can never disagree about what a workload consumes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from webhook.policy import HASH_ANNOTATION, RELOAD_ANNOTATION, ObjectKind, Reference, find_references, read_workload
from webhook.policy.shapes import annotation_value, mapping

ROLLED_KINDS: Final = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Rollout")
"""Kinds the controller rolls: their controllers replace pods when the template changes."""


@dataclass(frozen=True, slots=True)
class WorkloadKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Consumer:
    """What the controller needs to know of one opted-in workload."""

    key: WorkloadKey
    uid: str | None
    references: tuple[Reference, ...]
    stored_hash: str | None
    template_path: tuple[str, ...]

    @property
    def configmaps(self) -> frozenset[str]:
        return self.consumed(ObjectKind.CONFIGMAP)

    @property
    def secrets(self) -> frozenset[str]:
        return self.consumed(ObjectKind.SECRET)

    def consumed(self, source: ObjectKind) -> frozenset[str]:
        """The names of the objects of kind `source` it consumes."""
        return frozenset(r.name for r in self.references if r.source is source)


def opted_in(obj: Mapping[str, Any]) -> bool:
    """`reload-safe.io/reload: rollout` on the workload or on its pod template."""
    workload = read_workload(obj)
    if workload is None:
        return False
    levels = (mapping(workload.metadata.get("annotations")), mapping(workload.template_metadata.get("annotations")))
    return any(annotation_value(level.get(RELOAD_ANNOTATION)) == "rollout" for level in levels)


def consumer_of(obj: Mapping[str, Any]) -> Consumer | None:
    """The consumer record of an opted-in workload of a rolled kind; None for anything else."""
    workload = read_workload(obj)
    if workload is None or workload.kind not in ROLLED_KINDS or not workload.name or not workload.namespace:
        return None
    if workload.borrows_template:  # a Rollout running its workloadRef's template: nothing to roll here
        return None
    if not opted_in(obj) or workload.being_deleted:
        return None
    stored = mapping(workload.template_metadata.get("annotations")).get(HASH_ANNOTATION)
    return Consumer(
        key=WorkloadKey(kind=workload.kind, namespace=workload.namespace, name=workload.name),
        uid=workload.metadata.get("uid") if isinstance(workload.metadata.get("uid"), str) else None,
        references=find_references(workload.pod_spec),
        stored_hash=stored if isinstance(stored, str) else None,
        template_path=workload.template_path,
    )


_Consumed = tuple[str, ObjectKind, str]
"""(namespace, kind, name) of a consumed ConfigMap or Secret."""


class ConsumerIndex:
    """Opted-in workloads by key, and the reverse map ConfigMap or Secret → consuming workloads."""

    def __init__(self) -> None:
        self._consumers: dict[WorkloadKey, Consumer] = {}
        self._by_object: defaultdict[_Consumed, set[WorkloadKey]] = defaultdict(set)

    def upsert(self, consumer: Consumer) -> None:
        self.remove(consumer.key)
        self._consumers[consumer.key] = consumer
        for consumed in _consumed(consumer):
            self._by_object[consumed].add(consumer.key)

    def remove(self, key: WorkloadKey) -> None:
        old = self._consumers.pop(key, None)
        if old is None:
            return
        for consumed in _consumed(old):
            keys = self._by_object.get(consumed)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_object[consumed]

    def get(self, key: WorkloadKey) -> Consumer | None:
        return self._consumers.get(key)

    def consumers_of(self, *, namespace: str, name: str, source: ObjectKind = ObjectKind.CONFIGMAP) -> list[Consumer]:
        keys = sorted(self._by_object.get((namespace, source, name), ()), key=str)
        return [self._consumers[k] for k in keys]

    def all(self) -> Iterable[Consumer]:
        return list(self._consumers.values())

    def __len__(self) -> int:
        return len(self._consumers)


def _consumed(consumer: Consumer) -> set[_Consumed]:
    return {(consumer.key.namespace, r.source, r.name) for r in consumer.references}
