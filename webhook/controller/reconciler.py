"""The rollout controller's brain: `reconcile(key)`, level-triggered, with no I/O of its own.

It never acts on what an event said: it reads the workload and the ConfigMaps it consumes as
the caches hold them now, computes the hash the workload should carry (the webhook's own
algorithm, so a workload re-applied with its ConfigMap gets the same value from the webhook and
the controller finds nothing to do), compares it with the hash on the stored template, and
patches when they differ. So a failed patch is simply reconciled again (the queue's backoff), an
old hash written back is restored, and a change made while nobody watched is rolled at start.

A workload without a hash (admitted before reload-safe) has nothing to compare with: its first
reconcile records the current hash as its baseline and patches nothing. Reconciles only run
once every cache has synced (`runner.py`), so a baseline is never taken from half a list.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from webhook.controller.configmaps import HashInput, consumed_configmaps
from webhook.controller.consumers import Consumer, WorkloadKey
from webhook.controller.decide import desired_hash
from webhook.controller.ratelimit import TokenBucket
from webhook.policy import ObjectKind, SecretContent, SecretState

log = logging.getLogger(__name__)


class Patcher(Protocol):
    def patch_hash(self, consumer: Consumer, *, value: str) -> None:
        """Write `value` as the pod template's config hash (raises on failure)."""
        ...


class Recorder(Protocol):
    def config_changed(self, consumer: Consumer, *, what: str, old: str | None, new: str) -> None:
        """Record a `ConfigChanged` Kubernetes Event on the workload (`what`: "ConfigMap a, Secret b")."""
        ...


class Counters(Protocol):
    def rollout(self, kind: str) -> None: ...
    def unchanged(self) -> None: ...
    def error(self) -> None: ...
    def queue_depth(self, depth: int) -> None: ...


class Outcome(enum.Enum):
    PATCHED = "patched"
    UNCHANGED = "unchanged"
    BASELINE = "baseline"
    SKIPPED = "skipped"
    GONE = "gone"


class NotLeading(Exception):
    """The leader's last renew is older than the renew deadline: no write may happen now."""


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


@dataclass(frozen=True, kw_only=True)
class Caches:
    """Read access to the synced caches."""

    workload: Callable[[WorkloadKey], Consumer | None]
    configmap: Callable[[tuple[str, str]], HashInput | None]
    wrote_hash: Callable[[Consumer, str], None]
    secret: Callable[[tuple[str, str]], SecretContent | None] | None = None
    """None without a hash key: Secrets are not read, and add nothing to the hash."""
    """Tell the workload cache the hash just written, so a reconcile before the watch event
    arrives does not write it again."""


class Reconciler:
    def __init__(
        self,
        *,
        caches: Caches,
        patcher: Patcher,
        recorder: Recorder,
        bucket: TokenBucket,
        counters: Counters,
        may_write: Callable[[], bool],
        skip_namespace: Callable[[str], bool] = lambda namespace: False,
    ) -> None:
        self._caches = caches
        self._patcher = patcher
        self._recorder = recorder
        self._bucket = bucket
        self._counters = counters
        self._may_write = may_write
        self._skip_namespace = skip_namespace
        self._baselines: dict[WorkloadKey, str] = {}
        """Hash of what a workload without a stored hash consumed when first reconciled."""

    def reconcile(self, key: WorkloadKey, *, changed: Iterable[tuple[ObjectKind, str]] = ()) -> Outcome:
        """Bring `key`'s stored hash to the hash of what it consumes now.

        Raises when the patch fails (the caller retries with backoff) and `NotLeading` when
        this process may not write. `changed` names the objects whose events queued the key
        (as (kind, name)), for the Event's message only."""
        consumer = self._caches.workload(key)
        if consumer is None:
            self._baselines.pop(key, None)
            return Outcome.GONE
        if self._skip_namespace(key.namespace):
            return Outcome.SKIPPED
        configmaps = consumed_configmaps(
            namespace=key.namespace, names=sorted(consumer.configmaps), lookup=self._caches.configmap
        )
        desired = desired_hash(consumer, configmaps, self._consumed_secrets(consumer))
        if desired is None:
            return Outcome.SKIPPED
        current = consumer.stored_hash or self._baselines.get(key)
        if current is None:
            self._baselines[key] = desired
            log.debug("%s has no hash: baseline %s", key, desired)
            return Outcome.BASELINE
        if desired == current:
            self._counters.unchanged()
            return Outcome.UNCHANGED
        self._bucket.acquire()
        if not self._may_write():
            raise NotLeading(f"not patching {key}: the Lease was not renewed in time")
        try:
            self._patcher.patch_hash(consumer, value=desired)
        except Exception:
            self._counters.error()
            raise
        self._counters.rollout(key.kind)
        self._baselines.pop(key, None)
        self._caches.wrote_hash(consumer, desired)
        consumed = {(r.source, r.name) for r in consumer.references}
        named = sorted(set(changed) & consumed) or sorted(consumed)
        what = ", ".join(f"{source.label} {name}" for source, name in named)
        log.info("rolled %s: %s changed (%s -> %s)", key, what, current, desired)
        try:
            self._recorder.config_changed(consumer, what=what, old=current, new=desired)
        except Exception:
            log.warning("could not record an Event on %s", key, exc_info=True)
        return Outcome.PATCHED

    def _consumed_secrets(self, consumer: Consumer) -> dict[str, SecretState] | None:
        """The Secrets it consumes, as digests (a missing one is left out: ABSENT); None without a key."""
        lookup = self._caches.secret
        if lookup is None:
            return None
        found: dict[str, SecretState] = {}
        for name in sorted(consumer.secrets):
            content = lookup((consumer.key.namespace, name))
            if content is not None:
                found[name] = content
        return found

    @property
    def baselines(self) -> int:
        return len(self._baselines)
