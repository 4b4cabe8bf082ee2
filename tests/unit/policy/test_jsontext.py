"""`compact_json` writes exactly the bytes `json.dumps(..., separators=(",", ":"), ensure_ascii=True)`
writes: the hash (SPEC "Hash algorithm (exact)") depends on it, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.policy.jsontext import compact_json


def _reference(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")


_SCALARS = st.none() | st.booleans() | st.integers() | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(_VALUES)
@settings(max_examples=400, deadline=None)
def test_same_bytes_as_the_standard_library(value: Any) -> None:
    assert compact_json(value) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([["cm", "data", "k", "SU5GTw=="]], id="hash-entries"),
        pytest.param("caf\u00e9", id="non-ascii-escaped"),
        pytest.param("a\x7fb", id="del-escaped"),
        pytest.param("\U0001f600", id="astral-surrogate-pair"),
        pytest.param("line\nbreak\ttab\x01", id="control-characters"),
        pytest.param(2**70, id="integer-over-64-bits"),
        pytest.param({1: "non-string key"}, id="integer-key"),
    ],
)
def test_cases_orjson_writes_differently_or_refuses(value: Any) -> None:
    assert compact_json(value) == _reference(value)


def test_default_is_applied_to_what_json_cannot_encode() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert compact_json({"x": Opaque()}, default=str) == b'{"x":"opaque"}'
