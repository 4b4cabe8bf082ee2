"""The installation's hash key, read from a file (SPEC v2 "Secrets": "Hash key").

The key keys the HMAC of every Secret value in the config hash. The server and the rollout
controller read the same file (the chart mounts one Secret into both), so a Secret change and a
re-apply of the workload give the same hash. Errors name the file and the problem, never the
key's bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from webhook.policy.secrets import MIN_KEY_BYTES

_ASCII_WHITESPACE: Final = b" \t\n\r\x0b\x0c"


class HashKeyError(ValueError):
    """The hash key file cannot be used; the message says why in plain words."""


def read_hash_key(path: str | Path) -> bytes:
    """The key: the file's bytes with surrounding ASCII white space trimmed, at least 32 bytes."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise HashKeyError(f"hash key file {path} does not exist") from None
    except IsADirectoryError:
        raise HashKeyError(f"hash key file {path} is a directory, not a file") from None
    except PermissionError:
        raise HashKeyError(f"hash key file {path} cannot be read (permission denied)") from None
    except OSError as error:
        raise HashKeyError(f"hash key file {path} cannot be read ({error.strerror or 'I/O error'})") from None
    key = raw.strip(_ASCII_WHITESPACE)
    if len(key) < MIN_KEY_BYTES:
        raise HashKeyError(
            f"hash key file {path} holds {len(key)} bytes after trimming white space; at least"
            f" {MIN_KEY_BYTES} are needed (`reload-safe hash-key generate` makes one)"
        )
    return key
