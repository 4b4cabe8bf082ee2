"""The controller's one copy of each ConfigMap: only what the config hash reads, compressed.

The watch cache stores a `HashInput` per ConfigMap: its `data` and `binaryData` (canonical
base64) as compact JSON, zlib-compressed into one immutable `bytes` (no metadata, no labels, no
per-key objects for the garbage collector to scan). `content_of` unpacks one for a reconcile
into the policy core's `ConfigMapContent`, which is dropped afterwards: there is never a second,
unpacked copy resident beside the stored one. With 10,000 ConfigMaps of 4 KiB this is what
keeps the controller's memory within the chart's limit (docs/controller.md has the figures).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from webhook.policy import ConfigMapContent, ConfigMapState

LEVEL: Final = 6
"""zlib level: a ConfigMap is packed once per change and unpacked once per reconcile."""


@dataclass(frozen=True, slots=True)
class HashInput:
    packed: bytes

    def unpack(self) -> tuple[dict[str, str], dict[str, bytes]]:
        """(`data`, decoded `binaryData`), fresh on each call."""
        data, binary = json.loads(zlib.decompress(self.packed))
        return dict(data), {key: base64.b64decode(value) for key, value in binary.items()}


def hash_input_from_api(obj: Mapping[str, Any]) -> HashInput:
    """A ConfigMap as listed or watched (JSON) → what the hash needs of it."""
    data = {str(k): str(v) for k, v in sorted((obj.get("data") or {}).items())}
    binary = {
        str(k): base64.b64encode(base64.b64decode(str(v), validate=True)).decode("ascii")
        for k, v in sorted((obj.get("binaryData") or {}).items())
    }
    text = json.dumps([data, binary], separators=(",", ":"), ensure_ascii=False)
    return HashInput(packed=zlib.compress(text.encode("utf-8"), LEVEL))


def content_of(name: str, stored: HashInput) -> ConfigMapContent:
    """A short-lived `ConfigMapContent` for the policy core."""
    data, binary = stored.unpack()
    return ConfigMapContent(name=name, data=data, binary_data=binary)


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
