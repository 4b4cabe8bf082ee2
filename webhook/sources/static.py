"""ConfigMaps, Secrets and namespace modes from manifests: for `review`, demos and benchmarks.

A ConfigMap written without a namespace matches any request's namespace; one with a namespace
matches only that namespace. A ConfigMap not given counts as not existing.
"""

from __future__ import annotations

from collections.abc import Iterable

from webhook.manifests.configmaps import configmap_content, is_configmap
from webhook.manifests.loader import Located
from webhook.manifests.secrets import is_secret, secret_digests
from webhook.policy.model import ABSENT, ConfigMapContent, ConfigMapState, Mode, SecretContent, SecretState
from webhook.policy.namespaces import NamespaceMode, resolve_mode


class StaticConfigMaps:
    """A `ConfigMapReader` over ConfigMaps read from manifests."""

    def __init__(self, configmaps: Iterable[tuple[str | None, ConfigMapContent]]) -> None:
        self._by_key = {(namespace, content.name): content for namespace, content in configmaps}

    @classmethod
    def from_objects(cls, objects: Iterable[Located]) -> StaticConfigMaps:
        return cls(configmap_content(o.obj) for o in objects if is_configmap(o.obj))

    def get(self, *, namespace: str, name: str) -> ConfigMapState:
        return self._by_key.get((namespace, name)) or self._by_key.get((None, name)) or ABSENT

    def __len__(self) -> int:
        return len(self._by_key)


class StaticSecrets:
    """A `SecretReader` over Secrets read from manifests, kept as digests under the hash key.

    Namespaces match as for `StaticConfigMaps`. Raises `SecretDataError` for a Secret whose
    `data` is not base64 (the message names the Secret and the key, never the value)."""

    def __init__(self, secrets: Iterable[tuple[str | None, SecretContent]]) -> None:
        self._by_key = {(namespace, content.name): content for namespace, content in secrets}

    @classmethod
    def from_objects(cls, objects: Iterable[Located], *, hash_key: bytes) -> StaticSecrets:
        return cls(secret_digests(o.obj, hash_key=hash_key) for o in objects if is_secret(o.obj))

    def get(self, *, namespace: str, name: str) -> SecretState:
        return self._by_key.get((namespace, name)) or self._by_key.get((None, name)) or ABSENT

    def __len__(self) -> int:
        return len(self._by_key)


class StaticNamespaceModes:
    """Every namespace in one mode, except those the spec never evaluates."""

    def __init__(self, mode: Mode, *, exempt: Iterable[str] = ()) -> None:
        self._mode = mode
        self._exempt = frozenset(exempt)

    def mode(self, *, namespace: str | None) -> NamespaceMode:
        return resolve_mode(namespace=namespace, label=None, default=self._mode, exempt=self._exempt)
