"""The installation's hash key: made once, kept in a Secret, never replaced by an upgrade.

The key is 32 random bytes written as 64 lowercase hex characters: text survives every way a
key file is handled (kubectl, editors, `--from-file`), and the HMAC takes the file's bytes
after trimming surrounding white space (SPEC), so those 64 characters are the key itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Final

from webhook.certs.ensure import Cluster, ConflictError
from webhook.policy.secrets import MIN_KEY_BYTES

HASH_KEY_FIELD: Final = "hash-key"
"""The Secret's data key (also the file name where the chart mounts it)."""


class HashKeySecretError(Exception):
    """The key Secret exists but holds no usable key: it is never overwritten automatically."""


def new_hash_key() -> bytes:
    """A fresh key: 64 hex characters (256 random bits)."""
    return secrets.token_hex(32).encode("ascii")


def ensure_hash_key(cluster: Cluster, *, namespace: str, name: str, labels: Mapping[str, str]) -> bool:
    """Create the key Secret if it does not exist; True when this call created it.

    An existing Secret is never changed, so `helm upgrade` (which runs this again) keeps the key:
    changing it would roll every workload that consumes a Secret."""
    existing = cluster.read_secret(namespace=namespace, name=name)
    if existing is not None:
        key = existing.data.get(HASH_KEY_FIELD, b"").strip()
        if len(key) < MIN_KEY_BYTES:
            raise HashKeySecretError(
                f"Secret {namespace}/{name} exists but its {HASH_KEY_FIELD!r} entry is missing or shorter than"
                f" {MIN_KEY_BYTES} bytes; it is left as it is (delete it to have a new key made, or fix it)"
            )
        return False
    try:
        cluster.write_secret(
            namespace=namespace,
            name=name,
            secret_type="Opaque",
            data={HASH_KEY_FIELD: new_hash_key()},
            labels=labels,
            previous=None,
        )
    except ConflictError:
        return False  # another run created it first: that key stands
    return True
