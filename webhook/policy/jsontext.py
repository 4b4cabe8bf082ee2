"""Compact ASCII JSON, fast: the one encoder of the hash, the answers and the audit lines.

The SPEC fixes the hash input as `json.dumps(entries, separators=(",", ":"), ensure_ascii=True)`.
`orjson` writes the same bytes for strings of printable ASCII, integers, booleans, null, lists
and dicts with string keys, 30 times faster; it differs only where `json` escapes (any
character above U+007E, DEL included) and where it cannot encode at all (integers over 64
bits, keys that are not strings). Those cases are rare, recognisable in its output or raised
as `TypeError`, and then the standard library writes the value, so every caller gets exactly
the bytes `json.dumps` would give (floats aside: orjson writes `1e16` where `json` writes
`1e+16`; nothing hashed holds a float).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_DEL = b"\x7f"


def compact_json(value: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=default)`, as bytes."""
    try:
        encoded = orjson.dumps(value, default=default)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        encoded = None
    if encoded is not None and encoded.isascii() and _DEL not in encoded:
        return encoded
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=default).encode("ascii")
