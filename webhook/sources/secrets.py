"""Secrets from the cluster, kept as keyed digests (SPEC v2 "Secrets": values never leave).

Only with the installation's hash key: the server and the controller then list and watch
Secrets and keep, per Secret, its per-key HMAC digests, `immutable` and Reloader's `match`,
never a value. A Secret's bytes exist only inside `SecretConverter.__call__`, while their
digests are computed; the raw object is dropped with its list page or watch event.

The watch leaves out, by field selector, the Secret types that pods never consume and that
are large or numerous: service-account tokens and Helm release records (one per revision of
every release, each a compressed copy of the chart).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from webhook.manifests.secrets import secret_digests
from webhook.policy.model import ABSENT, UNREADABLE, SecretContent, SecretState
from webhook.sources.cluster import ObjectGetter
from webhook.sources.watch import CacheReader

log = logging.getLogger(__name__)

SECRET_FIELD_SELECTOR: Final = "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1"
"""Secrets never consumed by pods: not watched, not kept (a consumed one of these types would
be read by a direct GET on a cache miss, as any Secret newer than the cache)."""


class SecretConverter:
    """`convert` for the Secret cache: digests under the hash key, nothing else kept."""

    def __init__(self, *, hash_key: bytes) -> None:
        self._hash_key = hash_key

    def __call__(self, obj: Mapping[str, Any], /) -> SecretContent:
        return secret_digests(obj, hash_key=self._hash_key)[1]


class ClusterSecrets:
    """A `SecretReader` over the Secret cache, with one direct GET on a miss (as for ConfigMaps)."""

    def __init__(self, *, cache: CacheReader[SecretContent], getter: ObjectGetter, convert: SecretConverter) -> None:
        self._cache = cache
        self._getter = getter
        self._convert = convert

    @property
    def synced(self) -> bool:
        return self._cache.synced

    def get(self, *, namespace: str, name: str) -> SecretState:
        key = (namespace, name)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if self._cache.known_absent(key):
            return ABSENT
        state = self._read(namespace=namespace, name=name)
        if state is ABSENT:
            self._cache.remember_absent(key)
        return state

    def _read(self, *, namespace: str, name: str) -> SecretState:
        try:
            obj = self._getter.get(namespace=namespace, name=name)
            return ABSENT if obj is None else self._convert(obj)
        except Exception as error:
            # The type only: an exception's text could quote what it failed on.
            log.warning(
                "Secret %s/%s not in cache and not readable (%s): treated as unreadable",
                namespace,
                name,
                type(error).__name__,
            )
            return UNREADABLE
