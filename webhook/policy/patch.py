"""The JSONPatch that sets the config hash on a workload's pod template.

Operations are built directly rather than by diffing two documents: the change is one
annotation, and diffing whole objects would cost more than the rest of the evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.policy.model import HASH_ANNOTATION, JSONPatch
from webhook.policy.shapes import mapping


def escape_pointer(token: str) -> str:
    """RFC 6901 escaping of one JSON-pointer token (`~` first, then `/`)."""
    return token.replace("~", "~0").replace("/", "~1")


def hash_patch(obj: Mapping[str, Any], *, template_path: tuple[str, ...], value: str) -> JSONPatch | None:
    """Operations that make the template's hash annotation `value`; None when it already is."""
    template: object = obj
    for step in template_path:
        template = mapping(template).get(step)
    base = "".join(f"/{escape_pointer(step)}" for step in template_path)
    metadata = mapping(template).get("metadata")
    if not isinstance(metadata, Mapping):
        return [{"op": "add", "path": f"{base}/metadata", "value": {"annotations": {HASH_ANNOTATION: value}}}]
    annotations = metadata.get("annotations")
    if not isinstance(annotations, Mapping):
        return [{"op": "add", "path": f"{base}/metadata/annotations", "value": {HASH_ANNOTATION: value}}]
    if annotations.get(HASH_ANNOTATION) == value:
        return None
    path = f"{base}/metadata/annotations/{escape_pointer(HASH_ANNOTATION)}"
    return [{"op": "replace" if HASH_ANNOTATION in annotations else "add", "path": path, "value": value}]
