"""Tolerant readers for objects that may be malformed.

Admission objects arrive from JSON and YAML written by people. The policy judges an object
"as far as it can be read": a field of the wrong type counts as absent instead of raising, so
no input can turn an evaluation into a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    if type(value) is dict:  # decoded JSON: skips the slow ABC check on the hot path
        return value
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> Sequence[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list | tuple) else ()


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def annotation_value(value: object) -> str | None:
    """An annotation value as SPEC compares it: trimmed; YAML booleans read as "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip()
    return None
