"""Where the two inputs of a decision come from: the cluster, or manifests given at start-up.

`static_inputs` reads the manifests in the gunicorn master (a bad file stops the command
before anything listens) and returns a factory; `cluster_inputs` returns a factory only. Each
worker calls its factory after fork: the cluster caches start threads and open connections,
and neither may exist before fork.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webhook.admission import ConfigMapReader, NamespaceModes, SecretReader
from webhook.manifests.loader import load_all
from webhook.policy import Mode
from webhook.server import metrics
from webhook.sources.static import StaticConfigMaps, StaticNamespaceModes, StaticSecrets

CONFIGMAPS = "configmaps"
NAMESPACES = "namespaces"
SECRETS = "secrets"
STOP_TIMEOUT = 2.0


@dataclass(frozen=True, kw_only=True)
class Inputs:
    configmaps: ConfigMapReader
    namespaces: NamespaceModes
    ready: dict[str, Callable[[], bool]]
    secrets: SecretReader | None = None
    """None without a hash key: Secrets are then never read."""
    """Readiness checks: `configmaps` and `namespaces` caches synced."""
    stop: Callable[[], None] = field(default=lambda: None)
    state: dict[str, Callable[[], str]] = field(default_factory=dict)
    """What /readyz shows of each cache: `watching`, or `reconnecting` while the API server
    cannot be reached (the cache then answers from memory)."""

    def synced(self) -> bool:
        return all(check() for check in self.ready.values())


InputsFactory = Callable[[], Inputs]


def static_inputs(
    *, configmap_files: tuple[str, ...], mode: Mode, own_namespace: str | None, hash_key: bytes | None = None
) -> InputsFactory:
    """ConfigMaps (and, with a hash key, Secrets) from manifests, every namespace in `mode`
    (kube-system and our own: off).

    Raises `ValueError` (ManifestError, ConfigMapError, SecretDataError) for a file that cannot be read.
    """
    objects = load_all(configmap_files)
    configmaps = StaticConfigMaps.from_objects(objects)
    secrets = StaticSecrets.from_objects(objects, hash_key=hash_key) if hash_key is not None else None
    namespaces = StaticNamespaceModes(mode, exempt=(own_namespace,) if own_namespace else ())

    def build() -> Inputs:
        observer = metrics.CacheMetrics()
        observer.size(cache=CONFIGMAPS, objects=len(configmaps))
        for cache in (CONFIGMAPS, NAMESPACES):
            observer.synced(cache=cache, synced=True)
        return Inputs(
            configmaps=configmaps,
            namespaces=namespaces,
            secrets=secrets,
            ready={CONFIGMAPS: lambda: True, NAMESPACES: lambda: True},
        )

    return build


def cluster_inputs(
    *, kubeconfig: str | None, default: Mode, own_namespace: str | None, hash_key: bytes | None = None
) -> InputsFactory:
    """ConfigMaps, Namespaces and (with a hash key) Secrets from list+watch caches of the API
    server, in the memory of the server process (built after fork: the caches start threads
    and open connections). Without a hash key no Secret is ever listed, watched or read."""

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
        caches: dict[str, WatchCache[Any]] = {CONFIGMAPS: configmap_cache, NAMESPACES: namespace_cache}
        secrets = None
        if hash_key is not None:
            from webhook.sources.secrets import (  # noqa: PLC0415
                SECRET_FIELD_SELECTOR,
                ClusterSecrets,
                SecretConverter,
            )

            observer.synced(cache=SECRETS, synced=False)
            convert = SecretConverter(hash_key=hash_key)
            secret_cache = WatchCache(
                name=SECRETS,
                source=KubeListWatch(
                    call=core_api(configuration).list_secret_for_all_namespaces, field_selector=SECRET_FIELD_SELECTOR
                ),
                convert=convert,
                observer=observer,
            )
            secrets = ClusterSecrets(
                cache=secret_cache,
                getter=KubeGetter(call=reader.read_namespaced_secret, namespaced=True),
                convert=convert,
            )
            caches[SECRETS] = secret_cache
        for cache in caches.values():
            cache.start()

        def stop() -> None:
            for cache in caches.values():
                cache.stop()
            for cache in caches.values():
                cache.stop(timeout=STOP_TIMEOUT)

        return Inputs(
            configmaps=configmaps,
            namespaces=namespaces,
            secrets=secrets,
            ready={name: _synced(cache) for name, cache in caches.items()},
            stop=stop,
            state={name: _state(cache) for name, cache in caches.items()},
        )

    return build


def _synced(cache: Any) -> Callable[[], bool]:
    return lambda: bool(cache.synced)


def _state(cache: Any) -> Callable[[], str]:
    return lambda: "watching" if cache.connected else "reconnecting"
