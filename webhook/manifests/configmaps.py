"""Turn a ConfigMap manifest into what the policy needs of it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from webhook.policy.model import ConfigMapContent
from webhook.policy.shapes import annotation_value
from webhook.policy.strategies import RELOADER_MATCH


class ConfigMapError(ValueError):
    """A ConfigMap manifest whose fields cannot be read (the message never quotes a value)."""


def is_configmap(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "ConfigMap" and str(obj.get("apiVersion", "v1")) == "v1"


def configmap_content(obj: Mapping[str, Any]) -> tuple[str | None, ConfigMapContent]:
    """(namespace as written, content). YAML scalars in `data` read as the strings kubectl sends."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise ConfigMapError("ConfigMap without metadata.name")
    name: str = metadata["name"]
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None
    data = _section(obj, "data", name)
    binary: dict[str, bytes] = {}
    for key, value in _section(obj, "binaryData", name).items():
        try:
            binary[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ConfigMapError(f'ConfigMap "{name}": binaryData key "{key}" is not valid base64') from error
    annotations = metadata.get("annotations")
    match = isinstance(annotations, Mapping) and annotation_value(annotations.get(RELOADER_MATCH)) == "true"
    return namespace, ConfigMapContent(
        name=name,
        data=data,
        binary_data=binary,
        immutable=obj.get("immutable") is True,
        reloader_match=match,
    )


def _section(obj: Mapping[str, Any], field: str, name: str) -> dict[str, str]:
    raw = obj.get(field)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigMapError(f'ConfigMap "{name}": {field} is not a map')
    return {str(key): _scalar(value) for key, value in raw.items()}


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
