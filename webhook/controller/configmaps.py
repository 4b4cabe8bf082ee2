"""The controller's one copy of each ConfigMap: only what the config hash reads.

The watch cache stores a `HashInput` per ConfigMap (its `data` and decoded `binaryData`, as
tuples: no metadata, no labels, no per-object dicts). `content_of` builds the policy core's
`ConfigMapContent` for one reconcile and drops it afterwards, so the base64 forms the hash
memoises on that object never stay resident beside the stored values.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.policy import ConfigMapContent, ConfigMapState


@dataclass(frozen=True, slots=True)
class HashInput:
    data: tuple[tuple[str, str], ...]
    binary_data: tuple[tuple[str, bytes], ...]


def hash_input_from_api(obj: Mapping[str, Any]) -> HashInput:
    """A ConfigMap as listed or watched (JSON) → what the hash needs of it."""
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    return HashInput(
        data=tuple(sorted((str(k), str(v)) for k, v in data.items())),
        binary_data=tuple(sorted((str(k), base64.b64decode(str(v), validate=True)) for k, v in binary.items())),
    )


def content_of(name: str, stored: HashInput) -> ConfigMapContent:
    """A short-lived `ConfigMapContent` for the policy core (shares the stored strings)."""
    return ConfigMapContent(name=name, data=dict(stored.data), binary_data=dict(stored.binary_data))


def consumed_configmaps(
    *, namespace: str, names: Iterable[str], lookup: Callable[[tuple[str, str]], HashInput | None]
) -> dict[str, ConfigMapState]:
    """The ConfigMaps a workload consumes, by name; a missing one is left out (ABSENT)."""
    found: dict[str, ConfigMapState] = {}
    for name in names:
        stored = lookup((namespace, name))
        if stored is not None:
            found[name] = content_of(name, stored)
    return found
