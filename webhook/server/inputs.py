"""Where the two inputs of a decision come from: the cluster, or manifests given at start-up.

`static_inputs` reads the manifests in the gunicorn master (a bad file stops the command
before anything listens) and returns a factory; `cluster_inputs` returns a factory only. Each
worker calls its factory after fork: the cluster caches start threads and open connections,
and neither may exist before fork.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from webhook.admission import ConfigMapReader, NamespaceModes
from webhook.manifests.loader import load_all
from webhook.policy import Mode
from webhook.server import metrics
from webhook.sources.static import StaticConfigMaps, StaticNamespaceModes

CONFIGMAPS = "configmaps"
NAMESPACES = "namespaces"
STOP_TIMEOUT = 2.0


@dataclass(frozen=True, kw_only=True)
class Inputs:
    configmaps: ConfigMapReader
    namespaces: NamespaceModes
    ready: dict[str, Callable[[], bool]]
    """Readiness checks: `configmaps` and `namespaces` caches synced."""
    stop: Callable[[], None] = field(default=lambda: None)
    state: dict[str, Callable[[], str]] = field(default_factory=dict)
    """What /readyz shows of each cache: `watching`, or `reconnecting` while the API server
    cannot be reached (the cache then answers from memory)."""

    def synced(self) -> bool:
        return all(check() for check in self.ready.values())


InputsFactory = Callable[[], Inputs]


def static_inputs(*, configmap_files: tuple[str, ...], mode: Mode, own_namespace: str | None) -> InputsFactory:
    """ConfigMaps from manifests, every namespace in `mode` (kube-system and our own: off).

    Raises `ValueError` (ManifestError, ConfigMapError) for a file that cannot be read.
    """
    configmaps = StaticConfigMaps.from_objects(load_all(configmap_files))
    namespaces = StaticNamespaceModes(mode, exempt=(own_namespace,) if own_namespace else ())

    def build() -> Inputs:
        observer = metrics.CacheMetrics()
        observer.size(cache=CONFIGMAPS, objects=len(configmaps))
        for cache in (CONFIGMAPS, NAMESPACES):
            observer.synced(cache=cache, synced=True)
        return Inputs(
            configmaps=configmaps,
            namespaces=namespaces,
            ready={CONFIGMAPS: lambda: True, NAMESPACES: lambda: True},
        )

    return build


def cluster_inputs(*, kubeconfig: str | None, default: Mode, own_namespace: str | None) -> InputsFactory:
    """ConfigMaps and Namespaces from list+watch caches of the API server, in the memory of the
    server process (built after fork: the caches start threads and open connections)."""

    def build() -> Inputs:
        # Imported here: the Kubernetes client is heavy, and a static server never needs it.
        from webhook.sources.cluster import (  # noqa: PLC0415
            ClusterConfigMaps,
            ClusterNamespaceModes,
            configmap_from_api,
            namespace_from_api,
        )
        from webhook.sources.kubeapi import (  # noqa: PLC0415
            KubeGetter,
            KubeListWatch,
            core_api,
            load_configuration,
        )
        from webhook.sources.watch import WatchCache  # noqa: PLC0415

        configuration = load_configuration(kubeconfig)
        observer = metrics.CacheMetrics()
        for cache_name in (CONFIGMAPS, NAMESPACES):
            observer.synced(cache=cache_name, synced=False)
        reader = core_api(configuration, retries=False)
        configmap_cache = WatchCache(
            name=CONFIGMAPS,
            source=KubeListWatch(call=core_api(configuration).list_config_map_for_all_namespaces),
            convert=configmap_from_api,
            observer=observer,
        )
        namespace_cache = WatchCache(
            name=NAMESPACES,
            source=KubeListWatch(call=core_api(configuration).list_namespace),
            convert=namespace_from_api,
            observer=observer,
        )
        configmaps = ClusterConfigMaps(
            cache=configmap_cache,
            getter=KubeGetter(call=reader.read_namespaced_config_map, namespaced=True),
            observer=observer,
        )
        namespaces = ClusterNamespaceModes(
            cache=namespace_cache,
            getter=KubeGetter(call=reader.read_namespace, namespaced=False),
            default=default,
            exempt=(own_namespace,) if own_namespace else (),
        )
        configmap_cache.start()
        namespace_cache.start()

        def stop() -> None:
            configmap_cache.stop()
            namespace_cache.stop()
            configmap_cache.stop(timeout=STOP_TIMEOUT)
            namespace_cache.stop(timeout=STOP_TIMEOUT)

        return Inputs(
            configmaps=configmaps,
            namespaces=namespaces,
            ready={CONFIGMAPS: lambda: configmap_cache.synced, NAMESPACES: lambda: namespace_cache.synced},
            stop=stop,
            state={
                CONFIGMAPS: lambda: "watching" if configmap_cache.connected else "reconnecting",
                NAMESPACES: lambda: "watching" if namespace_cache.connected else "reconnecting",
            },
        )

    return build
