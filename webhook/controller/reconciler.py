"""The rollout controller's brain: from watch events to hash patches, with no I/O of its own.

Watches feed it events; it keeps the ConfigMaps and the consumer index, debounces ConfigMap
changes, and when one is due asks the `Patcher` to write the new hash on every opted-in
consumer whose consumed content really changed. Because the hash is the webhook's, a workload
re-applied together with its ConfigMap gets the same value from the webhook first, and the
controller then finds nothing to do: one rollout, not two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from webhook.controller.consumers import Consumer, ConsumerIndex, WorkloadKey
from webhook.controller.debounce import Debouncer
from webhook.controller.decide import desired_hash
from webhook.controller.ratelimit import TokenBucket
from webhook.policy import ABSENT, ConfigMapContent, ConfigMapState

log = logging.getLogger(__name__)

ConfigMapKey = tuple[str, str]
"""(namespace, name)"""


class Patcher(Protocol):
    def patch_hash(self, consumer: Consumer, *, value: str) -> None:
        """Write `value` as the pod template's config hash (raises on failure)."""
        ...


class Recorder(Protocol):
    def config_changed(self, consumer: Consumer, *, configmap: str, old: str | None, new: str) -> None:
        """Record a `ConfigChanged` Kubernetes Event on the workload."""
        ...


class Counters(Protocol):
    def rollout(self, kind: str) -> None: ...
    def unchanged(self) -> None: ...
    def error(self) -> None: ...
    def queue_depth(self, depth: int) -> None: ...


@dataclass
class Stats:
    """Plain counters, also handy in tests; `PrometheusCounters` mirrors them as metrics."""

    rollouts: int = 0
    unchanged_count: int = 0
    errors: int = 0
    depth: int = 0

    def rollout(self, kind: str) -> None:
        self.rollouts += 1

    def unchanged(self) -> None:
        self.unchanged_count += 1

    def error(self) -> None:
        self.errors += 1

    def queue_depth(self, depth: int) -> None:
        self.depth = depth


class Reconciler:
    def __init__(
        self,
        *,
        patcher: Patcher,
        recorder: Recorder,
        debouncer: Debouncer[ConfigMapKey],
        bucket: TokenBucket,
        counters: Counters,
        skip_namespace: Callable[[str], bool] = lambda namespace: False,
    ) -> None:
        self._patcher = patcher
        self._recorder = recorder
        self._debouncer = debouncer
        self._bucket = bucket
        self._counters = counters
        self._skip_namespace = skip_namespace
        self._configmaps: dict[ConfigMapKey, ConfigMapContent] = {}
        self._index = ConsumerIndex()
        self._baselines: dict[WorkloadKey, str] = {}

    # -------------------------------------------------------------- events in

    def configmap_changed(self, namespace: str, name: str, content: ConfigMapContent | None) -> None:
        """A ConfigMap was added, modified (`content`) or deleted (None): queue its consumers."""
        key = (namespace, name)
        previous = self._configmaps.get(key)
        if content is None:
            self._configmaps.pop(key, None)
        else:
            self._configmaps[key] = content
        if previous != content and self._index.consumers_of(namespace=namespace, configmap=name):
            self._debouncer.add(key)
            self._counters.queue_depth(len(self._debouncer))

    def workload_changed(self, key: WorkloadKey, consumer: Consumer | None) -> None:
        """An opted-in workload changed (`consumer`), or left (None: deleted or opted out)."""
        if consumer is None:
            self._index.remove(key)
            self._baselines.pop(key, None)
            return
        self._index.upsert(consumer)
        if consumer.stored_hash is None and consumer.key not in self._baselines:
            baseline = desired_hash(consumer, self._configmaps_of(consumer.key.namespace))
            if baseline is not None:
                self._baselines[consumer.key] = baseline

    # -------------------------------------------------------------- work out

    def resync(self) -> int:
        """After (re)start: patch only the consumers whose consumed content changed since their
        stored hash was written. Returns the number of patches."""
        return sum(self._reconcile(consumer, configmap=None) for consumer in self._index.all())

    def process_due(self, *, timeout: float) -> int:
        """Roll the consumers of every ConfigMap whose debounce window has passed."""
        patched = 0
        for namespace, name in self._debouncer.take_due(timeout=timeout):
            for consumer in self._index.consumers_of(namespace=namespace, configmap=name):
                patched += self._reconcile(consumer, configmap=name)
        self._counters.queue_depth(len(self._debouncer))
        return patched

    def _reconcile(self, consumer: Consumer, *, configmap: str | None) -> int:
        if self._skip_namespace(consumer.key.namespace):
            return 0
        new = desired_hash(consumer, self._configmaps_of(consumer.key.namespace))
        if new is None:
            return 0
        current = consumer.stored_hash or self._baselines.get(consumer.key)
        if current is None:
            self._baselines[consumer.key] = new
            return 0
        if new == current:
            self._counters.unchanged()
            return 0
        self._bucket.acquire()
        try:
            self._patcher.patch_hash(consumer, value=new)
        except Exception:
            self._counters.error()
            log.exception("could not patch %s", consumer.key)
            return 0
        self._counters.rollout(consumer.key.kind)
        self._index.upsert(_with_hash(consumer, new))
        changed = configmap or ", ".join(sorted(consumer.configmaps))
        log.info("rolled %s: ConfigMap %s changed (%s -> %s)", consumer.key, changed, current, new)
        try:
            self._recorder.config_changed(consumer, configmap=changed, old=current, new=new)
        except Exception:
            log.warning("could not record an Event on %s", consumer.key, exc_info=True)
        return 1

    def _configmaps_of(self, namespace: str) -> Mapping[str, ConfigMapState]:
        """The namespace's ConfigMaps as the policy core wants them; missing ones are ABSENT."""
        return _NamespaceView(self._configmaps, namespace)

    @property
    def index(self) -> ConsumerIndex:
        return self._index


class _NamespaceView(Mapping[str, ConfigMapState]):
    """A read-only view of one namespace's ConfigMaps, without copying the store."""

    def __init__(self, store: Mapping[ConfigMapKey, ConfigMapContent], namespace: str) -> None:
        self._store = store
        self._namespace = namespace

    def __getitem__(self, name: str) -> ConfigMapState:
        return self._store.get((self._namespace, name), ABSENT)

    def __iter__(self) -> Iterator[str]:
        return (name for namespace, name in self._store if namespace == self._namespace)

    def __len__(self) -> int:
        return sum(1 for namespace, _ in self._store if namespace == self._namespace)


def _with_hash(consumer: Consumer, value: str) -> Consumer:
    return Consumer(
        key=consumer.key,
        uid=consumer.uid,
        references=consumer.references,
        stored_hash=value,
        template_path=consumer.template_path,
    )
