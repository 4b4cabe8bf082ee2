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

from collections.abc import Mapping
from typing import Any, Final

from webhook.manifests.secrets import secret_digests
from webhook.policy.model import SecretContent
from webhook.sources.cluster import CachedReader, ObjectGetter
from webhook.sources.watch import CacheReader

SECRET_FIELD_SELECTOR: Final = "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1"
"""Secrets never consumed by pods: not watched, not kept (a consumed one of these types would
be read by a direct GET on a cache miss, as any Secret newer than the cache)."""


class SecretConverter:
    """`convert` for the Secret cache: digests under the hash key, nothing else kept."""

    def __init__(self, *, hash_key: bytes) -> None:
        self._hash_key = hash_key

    def __call__(self, obj: Mapping[str, Any], /) -> SecretContent:
        return secret_digests(obj, hash_key=self._hash_key)[1]


class ClusterSecrets(CachedReader[SecretContent]):
    """The `SecretReader` over the Secret cache, with one direct GET on a miss (as for ConfigMaps)."""

    def __init__(self, *, cache: CacheReader[SecretContent], getter: ObjectGetter, convert: SecretConverter) -> None:
        super().__init__(cache=cache, getter=getter, convert=convert, what="Secret")
