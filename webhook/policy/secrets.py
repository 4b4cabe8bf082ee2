"""Secret content as the policy keeps it: keyed digests, never values (SPEC v2 "Secrets").

A plain hash of a Secret value on a pod template would let anyone who may read the workload
test guesses of a low-entropy password offline. The digest is therefore an HMAC-SHA256 under
the installation's hash key: without the key a digest says nothing about the value, and
rotating the key changes every digest once.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from webhook.policy.model import SecretContent
from webhook.policy.shapes import mapping

MIN_KEY_BYTES: Final = 32
"""SPEC: the hash key is at least 32 bytes."""


class SecretDataError(ValueError):
    """A Secret's `data` holds a value that is not base64; the message names the key, never the value."""


def secret_digest(value: bytes, *, hash_key: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of one value's bytes under `hash_key`."""
    return hmac.new(hash_key, value, hashlib.sha256).hexdigest()


def secret_content(
    *, name: str, data: Mapping[str, bytes], immutable: bool, reloader_match: bool, hash_key: bytes
) -> SecretContent:
    """The digests of `data` (decoded bytes), which the caller drops right after this call."""
    return SecretContent(
        name=name,
        digests={key: secret_digest(value, hash_key=hash_key) for key, value in data.items()},
        immutable=immutable,
        reloader_match=reloader_match,
    )


def decoded_secret_data(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's values as bytes: base64-decoded `data`, overridden key by key by `stringData`
    (as the API server merges them when it stores a manifest).

    Raises `SecretDataError` for a `data` value that is not valid base64 or not a string.
    """
    name = mapping(obj.get("metadata")).get("name")
    values: dict[str, bytes] = {}
    for key, value in mapping(obj.get("data")).items():
        if value is None:
            values[str(key)] = b""
            continue
        if not isinstance(value, str):
            raise SecretDataError(f'Secret "{name}": the value of data key "{key}" is not a base64 string')
        try:
            values[str(key)] = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise SecretDataError(f'Secret "{name}": the value of data key "{key}" is not valid base64') from None
    for key, value in mapping(obj.get("stringData")).items():
        values[str(key)] = ("" if value is None else str(value)).encode("utf-8")
    return values
