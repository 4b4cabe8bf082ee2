"""Wiring: list+watch caches feed the reconciler through one queue; one thread acts.

The watch threads only enqueue; the main loop drains the queue into the `Reconciler` and
processes due ConfigMaps, so the reconciler's state has a single writer and needs no locks.
Only the leader runs this (see `leader.py`); a standby holds no caches at all.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client

from webhook.controller.consumers import Consumer, WorkloadKey, consumer_of
from webhook.controller.debounce import Debouncer
from webhook.controller.kube import KubePatcher, KubeRecorder
from webhook.controller.metrics import PrometheusCounters
from webhook.controller.ratelimit import TokenBucket
from webhook.controller.reconciler import Reconciler
from webhook.policy import ConfigMapContent, Mode
from webhook.sources.cluster import ClusterNamespaceModes, configmap_from_api, namespace_from_api
from webhook.sources.kubeapi import KubeGetter, KubeListWatch, core_api
from webhook.sources.watch import Key, WatchCache

log = logging.getLogger(__name__)

SYNC_TIMEOUT: Final = 60.0
POLL: Final = 0.2
MUTATING_MODES: Final = frozenset({Mode.ENFORCE, Mode.WARN})


@dataclass(frozen=True, kw_only=True)
class Tuning:
    debounce: float
    max_wait: float
    rate: float
    burst: int


class Controller:
    def __init__(
        self,
        *,
        configuration: client.Configuration,
        tuning: Tuning,
        default_mode: Mode,
        own_namespace: str | None,
        identity: str,
    ) -> None:
        self._events: queue.SimpleQueue[Callable[[Reconciler], None]] = queue.SimpleQueue()
        api = client.ApiClient(configuration)
        core, apps, batch = core_api(configuration), client.AppsV1Api(api), client.BatchV1Api(api)
        self._namespace_cache: WatchCache[Any] = WatchCache(
            name="namespaces", source=KubeListWatch(call=core.list_namespace), convert=namespace_from_api
        )
        self._modes = ClusterNamespaceModes(
            cache=self._namespace_cache,
            getter=KubeGetter(call=core_api(configuration, retries=False).read_namespace, namespaced=False),
            default=default_mode,
            exempt=(own_namespace,) if own_namespace else (),
        )
        self._caches: list[WatchCache[Any]] = [
            self._namespace_cache,
            WatchCache(
                name="configmaps",
                source=KubeListWatch(call=core.list_config_map_for_all_namespaces),
                convert=configmap_from_api,
                listener=self._on_configmap,
            ),
        ]
        for kind, call in (
            ("Deployment", apps.list_deployment_for_all_namespaces),
            ("StatefulSet", apps.list_stateful_set_for_all_namespaces),
            ("DaemonSet", apps.list_daemon_set_for_all_namespaces),
            ("CronJob", batch.list_cron_job_for_all_namespaces),
        ):
            self._caches.append(
                WatchCache(
                    name=kind,
                    source=KubeListWatch(call=call),
                    convert=_consumer_converter(kind),
                    listener=_workload_listener(self._events, kind),
                )
            )
        clock = time.monotonic
        self._reconciler = Reconciler(
            patcher=KubePatcher(api),
            recorder=KubeRecorder(api, instance=identity),
            debouncer=Debouncer(window=tuning.debounce, max_wait=tuning.max_wait, clock=clock),
            bucket=TokenBucket(rate=tuning.rate, burst=tuning.burst, clock=clock, sleep=time.sleep),
            counters=PrometheusCounters(),
            skip_namespace=lambda namespace: self._modes.mode(namespace=namespace).mode not in MUTATING_MODES,
        )

    @property
    def synced(self) -> bool:
        return all(cache.synced for cache in self._caches)

    def run(self, stop: threading.Event) -> None:
        """Sync the caches, patch what changed while nobody watched, then follow events."""
        for cache in self._caches:
            cache.start()
        deadline = time.monotonic() + SYNC_TIMEOUT
        while not self.synced and not stop.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError(f"caches did not sync within {SYNC_TIMEOUT:.0f}s")
            time.sleep(POLL)
        self._drain()
        patched = self._reconciler.resync()
        log.info("caches synced; %d opted-in workloads; %d patched at start", len(self._reconciler.index), patched)
        try:
            while not stop.is_set():
                self._drain()
                self._reconciler.process_due(timeout=POLL)
        finally:
            for cache in self._caches:
                cache.stop(timeout=2.0)

    def _drain(self) -> None:
        while True:
            try:
                apply = self._events.get_nowait()
            except queue.Empty:
                return
            apply(self._reconciler)

    def _on_configmap(self, event: str, key: Key, value: ConfigMapContent | None) -> None:
        namespace, name = key
        self._events.put(lambda r: r.configmap_changed(namespace, name, value))


def _consumer_converter(kind: str) -> Callable[[Mapping[str, Any]], Consumer | None]:
    """List items carry no `kind`; the watch knows which resource it lists."""

    def convert(obj: Mapping[str, Any]) -> Consumer | None:
        return consumer_of({**obj, "kind": kind})

    return convert


def _workload_listener(
    events: queue.SimpleQueue[Callable[[Reconciler], None]], kind: str
) -> Callable[[str, Key, Consumer | None], None]:
    def listen(event: str, key: Key, value: Consumer | None) -> None:
        workload = WorkloadKey(kind=kind, namespace=key[0], name=key[1])
        events.put(lambda r: r.workload_changed(workload, value))

    return listen
