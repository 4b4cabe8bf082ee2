"""ConfigMaps and namespace modes from the cluster, through list+watch caches.

Two caches (`watch.WatchCache`, in the server process's memory): ConfigMaps, reduced to the
`ConfigMapContent` the policy reads, and Namespaces, reduced to their `reload-safe.io/policy`
label.
Requests read the caches and never wait on the API server, except on a cache miss:

- a ConfigMap missing from the cache may simply be newer than the last watch event
  (`kubectl apply` of a ConfigMap and its Deployment in one go), so the reader makes ONE
  direct GET with a short timeout before concluding ABSENT; if that GET fails (API server
  unreachable, no permission) the answer is UNREADABLE, never a guess. A 404 is remembered
  in the cache (`WatchCache.remember_absent`) until the watch adds the ConfigMap, so a
  workload that refers to a ConfigMap that does not exist (an `optional` one, or one not
  created yet) costs one GET, not two per admission (mutate and validate) for as long as it
  lives: those GETs were the slowest tenth of the end-to-end creates in the benchmark;
- a namespace missing from the cache gets the same single GET; if it fails, the default mode.

Objects a direct read finds are not put into the cache: the watch stays the only writer of
the store, so a GET answered just before a DELETE event can never leave a ghost entry behind
(a remembered 404 is no entry: a key the store holds is always answered from the store).

The ConfigMap cache holds tens of thousands of values, so `configmap_from_api` is a
`watch.Packer`: each cached ConfigMap is kept as ONE `bytes` blob (`marshal` of its
fields: values as UTF-8, binaryData as raw bytes) rather than a dataclass, two dicts and a
string object per key. A blob costs its length plus 33 bytes, is immutable and is never scanned
by the garbage collector. A blob of `COMPRESS_FROM` bytes or more is kept zstd-compressed when
that makes it smaller: configuration text shrinks to a third or less, and even the benchmark's
random words to 63 %. Measured with 10,000 ConfigMaps of 4 KiB through a real API server, the
pod's resident set is 116 MiB packed and 132 MiB unpacked (the target is 130 MiB;
docs/performance.md). Unpacking a `ConfigMapContent` takes about 2 µs for 4 KiB in four keys,
plus about 6 µs to decompress it, per lookup. The first byte of a blob says which form follows.
The blobs never leave the server process, which made them, so marshal's version-specific
format is no concern, and only blobs this module made are ever unpacked.
"""

from __future__ import annotations

import logging
import marshal
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

import zstandard

from webhook.manifests.configmaps import configmap_content
from webhook.policy.model import ABSENT, POLICY_LABEL, UNREADABLE, ConfigMapAbsence, ConfigMapContent, Mode
from webhook.policy.namespaces import ALWAYS_EXEMPT, NamespaceMode, resolve_mode
from webhook.sources.watch import CacheReader, WatchCache

log = logging.getLogger(__name__)

V = TypeVar("V")


class ObjectGetter(Protocol):
    def get(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The object as JSON; None when it does not exist (404); raises when it cannot tell."""
        ...


class DirectReadObserver(Protocol):
    def direct_read(self, *, result: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NamespaceLabel:
    """All the webhook keeps of a Namespace."""

    policy: str | None


COMPRESS_FROM: Final = 512
"""Packed size (bytes) from which a blob is compressed; below it zstd's frame costs what it saves."""
_MARSHAL: Final = ord("m")
_ZSTD: Final = ord("z")


class ConfigMapConverter:
    """`configmap_from_api`: a `watch.Packer` of `ConfigMapContent` into one `bytes` blob.

    zstd contexts are not to be shared by threads working at once (each watch thread packs,
    each request thread unpacks), so every thread gets its own pair, made on first use.
    """

    def __init__(self) -> None:
        self._contexts = threading.local()

    def __call__(self, obj: Mapping[str, Any], /) -> ConfigMapContent:
        """What the policy needs of a ConfigMap, decoded once (binaryData to bytes)."""
        return configmap_content(obj)[1]

    def pack(self, value: ConfigMapContent, /) -> bytes:
        fields = marshal.dumps(
            (value.name, dict(value.data), dict(value.binary_data), value.immutable, value.reloader_match)
        )
        if len(fields) >= COMPRESS_FROM:
            compressed = self._compressor().compress(fields)
            if len(compressed) < len(fields):
                return bytes((_ZSTD,)) + compressed
        return bytes((_MARSHAL,)) + fields

    def unpack(self, stored: bytes, /) -> ConfigMapContent:
        body = memoryview(stored)[1:]
        if stored[0] == _ZSTD:
            body = memoryview(self._decompressor().decompress(body))
        elif stored[0] != _MARSHAL:
            raise ValueError(f"not a packed ConfigMap (tag {stored[:1]!r})")
        name, data, binary_data, immutable, reloader_match = marshal.loads(body)
        return ConfigMapContent(
            name=name, data=data, binary_data=binary_data, immutable=immutable, reloader_match=reloader_match
        )

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._contexts, "compressor", None)
        if compressor is None:
            compressor = self._contexts.compressor = zstandard.ZstdCompressor()
        return compressor

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        decompressor: zstandard.ZstdDecompressor | None = getattr(self._contexts, "decompressor", None)
        if decompressor is None:
            decompressor = self._contexts.decompressor = zstandard.ZstdDecompressor()
        return decompressor


configmap_from_api: Final = ConfigMapConverter()


def namespace_from_api(obj: Mapping[str, Any]) -> NamespaceLabel:
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    value = labels.get(POLICY_LABEL) if isinstance(labels, Mapping) else None
    return NamespaceLabel(value if isinstance(value, str) else None)


class CachedReader(Generic[V]):
    """A reader over one watch cache, with one direct GET on a miss: a ConfigMap or Secret
    missing from the cache may be newer than the last watch event; a 404 is remembered until
    the watch adds the object; a failed GET is UNREADABLE, logged with the object's name and the
    error's type only (an error's text could quote what it failed on)."""

    def __init__(
        self,
        *,
        cache: CacheReader[V],
        getter: ObjectGetter,
        convert: Callable[[Mapping[str, Any]], V],
        what: str,
        observer: DirectReadObserver | None = None,
    ) -> None:
        self._cache = cache
        self._getter = getter
        self._convert = convert
        self._what = what
        self._observer = observer

    @property
    def synced(self) -> bool:
        return self._cache.synced

    def get(self, *, namespace: str, name: str) -> V | ConfigMapAbsence:
        key = (namespace, name)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if self._cache.known_absent(key):
            return ABSENT
        state = self._read(namespace=namespace, name=name)
        if state is ABSENT:
            self._cache.remember_absent(key)
        if self._observer is not None:
            self._observer.direct_read(result=str(state.value) if isinstance(state, ConfigMapAbsence) else "found")
        return state

    def _read(self, *, namespace: str, name: str) -> V | ConfigMapAbsence:
        try:
            obj = self._getter.get(namespace=namespace, name=name)
            return ABSENT if obj is None else self._convert(obj)
        except Exception as error:
            log.warning(
                "%s %s/%s not in cache and not readable (%s): treated as unreadable",
                self._what,
                namespace,
                name,
                type(error).__name__,
            )
            return UNREADABLE


class ClusterConfigMaps(CachedReader[ConfigMapContent]):
    """The `ConfigMapReader` over the ConfigMap cache."""

    def __init__(
        self,
        *,
        cache: CacheReader[ConfigMapContent],
        getter: ObjectGetter,
        observer: DirectReadObserver | None = None,
    ) -> None:
        super().__init__(cache=cache, getter=getter, convert=configmap_from_api, what="ConfigMap", observer=observer)


class ClusterNamespaceModes:
    """A `NamespaceModes` over the Namespace cache (label `reload-safe.io/policy`)."""

    def __init__(
        self,
        *,
        cache: WatchCache[NamespaceLabel],
        getter: ObjectGetter,
        default: Mode,
        exempt: Iterable[str] = (),
    ) -> None:
        self._cache = cache
        self._getter = getter
        self._default = default
        self._exempt = frozenset(exempt) | ALWAYS_EXEMPT

    @property
    def synced(self) -> bool:
        return self._cache.synced

    def mode(self, *, namespace: str | None) -> NamespaceMode:
        label = None
        if namespace is not None and namespace not in self._exempt:
            label = self._label(namespace)
        return resolve_mode(namespace=namespace, label=label, default=self._default, exempt=self._exempt)

    def _label(self, namespace: str) -> str | None:
        cached = self._cache.get(("", namespace))
        if cached is not None:
            return cached.policy
        try:
            obj = self._getter.get(namespace="", name=namespace)
        except Exception as error:
            log.warning(
                "Namespace %s not in cache and not readable (%s): default mode", namespace, type(error).__name__
            )
            return None
        return namespace_from_api(obj).policy if obj is not None else None
