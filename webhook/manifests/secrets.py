"""Turn a Secret (a manifest, or an object from the API) into what the policy keeps of it.

Only digests leave this module: the decoded values live in one local mapping while their
HMACs are computed, and every error names the Secret and the key, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.policy.model import SecretContent
from webhook.policy.secrets import SecretDataError, decoded_secret_data, secret_content
from webhook.policy.shapes import annotation_value
from webhook.policy.strategies import RELOADER_MATCH


def is_secret(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and str(obj.get("apiVersion", "v1")) == "v1"


def secret_metadata(obj: Mapping[str, Any]) -> tuple[str, str | None, bool, bool]:
    """(name, namespace as written, immutable, Reloader match) — everything but the values.

    Raises `SecretDataError` for a Secret without a name."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise SecretDataError("Secret without metadata.name")
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None
    annotations = metadata.get("annotations")
    match = isinstance(annotations, Mapping) and annotation_value(annotations.get(RELOADER_MATCH)) == "true"
    return metadata["name"], namespace, obj.get("immutable") is True, match


def secret_digests(obj: Mapping[str, Any], *, hash_key: bytes) -> tuple[str | None, SecretContent]:
    """(namespace as written, digests and flags). Raises `SecretDataError` (never quoting a value)."""
    name, namespace, immutable, match = secret_metadata(obj)
    return namespace, secret_content(
        name=name, data=decoded_secret_data(obj), immutable=immutable, reloader_match=match, hash_key=hash_key
    )


def secret_flags(obj: Mapping[str, Any]) -> tuple[str | None, SecretContent]:
    """(namespace, flags only): for `scan`, which never hashes, and reads `immutable` and `match`."""
    name, namespace, immutable, match = secret_metadata(obj)
    return namespace, SecretContent(name=name, immutable=immutable, reloader_match=match)
