"""Wiring: list+watch caches enqueue workload keys; one worker reconciles them once synced.

The watch threads never decide anything: a workload event queues that workload, a ConfigMap or
Secret event queues its consumers (all debounced, in one queue: a ConfigMap and a Secret
changed together within the debounce window give one reconcile, so one rollout), and a resync
every `resync_period` queues every opted-in workload. The worker starts only once every cache
has synced, so the first reconciles (and the baselines of workloads without a hash) see
complete caches whatever order the lists arrived in. Only the leader runs this (see
`leader.py`); a standby holds no caches at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client

from webhook.controller.configmaps import HashInput, hash_input_from_api
from webhook.controller.consumers import Consumer, ConsumerIndex, WorkloadKey, consumer_of
from webhook.controller.kube import LIST_PATHS, KubePatcher, KubeRecorder, served_kinds
from webhook.controller.metrics import RETRIES, PrometheusCounters
from webhook.controller.ratelimit import TokenBucket
from webhook.controller.rawapi import ListCall, Transport
from webhook.controller.reconciler import Caches, NotLeading, Patcher, Reconciler, Recorder
from webhook.controller.workqueue import WorkQueue
from webhook.policy import Mode, ObjectKind, SecretContent
from webhook.sources.cluster import ClusterNamespaceModes, namespace_from_api
from webhook.sources.kubeapi import KubeGetter, KubeListWatch, core_api
from webhook.sources.secrets import SECRET_FIELD_SELECTOR, SecretConverter
from webhook.sources.watch import Key, ListWatch, WatchCache

log = logging.getLogger(__name__)

SYNC_TIMEOUT: Final = 120.0
POLL: Final = 0.2
MUTATING_MODES: Final = frozenset({Mode.ENFORCE, Mode.WARN})


@dataclass(frozen=True, kw_only=True)
class Tuning:
    debounce: float
    max_wait: float
    rate: float
    burst: int
    resync_period: float = 600.0


class Controller:
    """The caches, the index ConfigMap → consumers, the queue and the worker loop.

    Built from plain `ListWatch` sources so tests drive it with recorded lists and events;
    `kube_controller` wires it to the API server."""

    def __init__(
        self,
        *,
        configmaps: ListWatch,
        workloads: Mapping[str, ListWatch],
        secrets: ListWatch | None = None,
        hash_key: bytes | None = None,
        other_caches: Sequence[WatchCache[Any]] = (),
        patcher: Patcher,
        recorder: Recorder,
        tuning: Tuning,
        may_write: Callable[[], bool],
        skip_namespace: Callable[[str], bool] = lambda namespace: False,
        discovery_changed: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._tuning = tuning
        self._discovery_changed = discovery_changed
        self.restart_needed = False
        """Set when a resync found a workload kind newly served or gone (a CRD installed or
        removed): `run` returns, and the caller builds a controller with the new kinds."""
        self._clock = clock
        self.queue: WorkQueue[WorkloadKey] = WorkQueue(window=tuning.debounce, max_wait=tuning.max_wait, clock=clock)
        self._index = ConsumerIndex()
        self._lock = threading.Lock()
        self._changed: dict[WorkloadKey, set[tuple[ObjectKind, str]]] = {}
        self._counters = PrometheusCounters()
        self._configmaps: WatchCache[HashInput] = WatchCache(
            name="configmaps",
            source=configmaps,
            convert=hash_input_from_api,
            listener=self._config_listener(ObjectKind.CONFIGMAP),
        )
        self._caches: list[WatchCache[Any]] = [*other_caches, self._configmaps]
        self._secrets: WatchCache[SecretContent] | None = None
        if secrets is not None:
            if hash_key is None:
                raise ValueError("a Secret source needs the hash key")
            self._secrets = WatchCache(
                name="secrets",
                source=secrets,
                convert=SecretConverter(hash_key=hash_key),
                listener=self._config_listener(ObjectKind.SECRET),
            )
            self._caches.append(self._secrets)
        for kind, source in workloads.items():
            self._caches.append(
                WatchCache(
                    name=kind,
                    source=source,
                    convert=_consumer_converter(kind),
                    listener=self._workload_listener(kind),
                )
            )
        self._reconciler = Reconciler(
            caches=Caches(
                workload=self._workload,
                configmap=self._configmaps.get,
                secret=self._secrets.get if self._secrets is not None else None,
                wrote_hash=self._wrote_hash,
            ),
            patcher=patcher,
            recorder=recorder,
            bucket=TokenBucket(rate=tuning.rate, burst=tuning.burst, clock=clock, sleep=sleep),
            counters=self._counters,
            may_write=may_write,
            skip_namespace=skip_namespace,
        )

    @property
    def reconciler(self) -> Reconciler:
        return self._reconciler

    @property
    def synced(self) -> bool:
        return all(cache.synced for cache in self._caches)

    def run(self, stop: threading.Event) -> None:
        """Sync every cache, then reconcile queued keys until `stop` (or the fence lapses)."""
        for cache in self._caches:
            cache.start()
        try:
            deadline = time.monotonic() + SYNC_TIMEOUT
            while not self.synced:
                if stop.wait(POLL):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"caches did not sync within {SYNC_TIMEOUT:.0f}s")
            queued = self.resync()
            log.info("caches synced; %d opted-in workloads queued", queued)
            self._work(stop)
        finally:
            for cache in self._caches:
                cache.stop(timeout=2.0)

    def resync(self) -> int:
        """Queue every opted-in workload (the level-triggered safety net)."""
        with self._lock:
            keys = [consumer.key for consumer in self._index.all()]
        for key in keys:
            self.queue.add(key)
        return len(keys)

    def _work(self, stop: threading.Event) -> None:
        next_resync = self._clock() + self._tuning.resync_period
        while not stop.is_set():
            if self._clock() >= next_resync:
                if self._kinds_changed():
                    self.restart_needed = True
                    return
                log.info("resync: %d opted-in workloads queued", self.resync())
                next_resync = self._clock() + self._tuning.resync_period
            self._counters.queue_depth(len(self.queue))
            key = self.queue.get(timeout=POLL)
            if key is not None:
                self.process(key)

    def _kinds_changed(self) -> bool:
        try:
            changed = self._discovery_changed()
        except Exception as error:
            log.warning("API discovery failed (%s); keeping the kinds watched now", _describe(error))
            return False
        if changed:
            log.info("the workload kinds the API serves changed: restarting the caches")
        return changed

    def process(self, key: WorkloadKey) -> None:
        """Reconcile one key: forget its failures on success, back off on failure."""
        with self._lock:
            changed = self._changed.pop(key, set())
        try:
            outcome = self._reconciler.reconcile(key, changed=changed)
        except NotLeading:
            self.queue.add(key)
            log.warning("the Lease was not renewed in time: no more patches")
            raise
        except Exception as error:
            delay = self.queue.retry(key)
            RETRIES.inc()
            with self._lock:
                self._changed.setdefault(key, set()).update(changed)
            log.warning("could not reconcile %s (%s); retrying in %.1fs", key, _describe(error), delay)
            return
        self.queue.forget(key)
        log.debug("%s: %s", key, outcome.value)

    # ---------------------------------------------------------------- events (watch threads)

    def _config_listener(self, source: ObjectKind) -> Callable[[str, Key, object], None]:
        """A ConfigMap or Secret event queues its consumers (debounced), nothing more."""

        def listen(event: str, key: Key, value: object) -> None:
            namespace, name = key
            with self._lock:
                consumers = self._index.consumers_of(namespace=namespace, name=name, source=source)
                for consumer in consumers:
                    self._changed.setdefault(consumer.key, set()).add((source, name))
            for consumer in consumers:
                self.queue.add_debounced(consumer.key)

        return listen

    def namespace_changed(self, event: str, key: Key, value: object) -> None:
        """A namespace's labels (its mode) may have changed: its opted-in workloads are looked
        at again, so one turned from `off` to `warn` gets its baselines before the next edit."""
        namespace = key[1] or key[0]
        with self._lock:
            keys = [consumer.key for consumer in self._index.all() if consumer.key.namespace == namespace]
        for workload in keys:
            self.queue.add_debounced(workload)

    def _workload_listener(self, kind: str) -> Callable[[str, Key, Consumer | None], None]:
        def listen(event: str, key: Key, value: Consumer | None) -> None:
            workload = WorkloadKey(kind=kind, namespace=key[0], name=key[1])
            with self._lock:
                if value is None:
                    self._index.remove(workload)
                else:
                    self._index.upsert(value)
            self.queue.add_debounced(workload)

        return listen

    def _workload(self, key: WorkloadKey) -> Consumer | None:
        with self._lock:
            return self._index.get(key)

    def _wrote_hash(self, consumer: Consumer, value: str) -> None:
        """Keep the index's copy current until the watch event arrives (only if unchanged)."""
        with self._lock:
            if self._index.get(consumer.key) is consumer:
                self._index.upsert(
                    Consumer(
                        key=consumer.key,
                        uid=consumer.uid,
                        references=consumer.references,
                        stored_hash=value,
                        template_path=consumer.template_path,
                    )
                )


def kube_controller(
    *,
    configuration: client.Configuration,
    tuning: Tuning,
    default_mode: Mode,
    own_namespace: str | None,
    identity: str,
    may_write: Callable[[], bool],
    hash_key: bytes | None = None,
) -> Controller:
    """The controller on the API server: list+watch sources, raw-call patcher and Events.

    Argo Rollouts are watched only when discovery finds them served; each resync checks again.
    Secrets are listed and watched only with the hash key (without: never read)."""
    core = core_api(configuration)
    listeners: list[Controller] = []

    def namespace_changed(event: str, key: Key, value: object) -> None:
        for listener in listeners:
            listener.namespace_changed(event, key, value)

    namespaces: WatchCache[Any] = WatchCache(
        name="namespaces",
        source=KubeListWatch(call=core.list_namespace),
        convert=namespace_from_api,
        listener=namespace_changed,
    )
    modes = ClusterNamespaceModes(
        cache=namespaces,
        getter=KubeGetter(call=core_api(configuration, retries=False).read_namespace, namespaced=False),
        default=default_mode,
        exempt=(own_namespace,) if own_namespace else (),
    )
    reads = Transport(client.ApiClient(configuration))
    writes = Transport(client.ApiClient(configuration))
    kinds = served_kinds(reads)
    log.info("watching %s", ", ".join(sorted(kinds)))
    controller = Controller(
        configmaps=KubeListWatch(call=core.list_config_map_for_all_namespaces),
        workloads={
            kind: KubeListWatch(call=ListCall(reads, path)) for kind, path in LIST_PATHS.items() if kind in kinds
        },
        secrets=(
            KubeListWatch(call=core.list_secret_for_all_namespaces, field_selector=SECRET_FIELD_SELECTOR)
            if hash_key is not None
            else None
        ),
        hash_key=hash_key,
        discovery_changed=lambda: served_kinds(reads) != kinds,
        other_caches=(namespaces,),
        patcher=KubePatcher(writes),
        recorder=KubeRecorder(writes, instance=identity),
        tuning=tuning,
        may_write=may_write,
        skip_namespace=lambda namespace: modes.mode(namespace=namespace).mode not in MUTATING_MODES,
    )
    listeners.append(controller)  # the namespace cache starts with the controller's run()
    return controller


def _consumer_converter(kind: str) -> Callable[[Mapping[str, Any]], Consumer | None]:
    """List items carry no `kind`; the watch knows which resource it lists."""

    def convert(obj: Mapping[str, Any]) -> Consumer | None:
        return consumer_of({**obj, "kind": kind})

    return convert


def _describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    return f"{type(error).__name__} {status}" if status else type(error).__name__
