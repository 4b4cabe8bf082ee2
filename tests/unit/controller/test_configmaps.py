"""The stored form of a ConfigMap gives back exactly what the hash reads."""

from __future__ import annotations

import base64

from webhook.controller.configmaps import content_of, hash_input_from_api


def test_data_and_binary_data_round_trip_and_nothing_else_is_kept() -> None:
    raw = bytes(range(256))
    obj = {
        "metadata": {"name": "c", "namespace": "ns", "labels": {"a": "b"}, "annotations": {"x": "y" * 1000}},
        "data": {"b": "ünïcode", "a": "1"},
        "binaryData": {"blob": base64.b64encode(raw).decode()},
    }
    stored = hash_input_from_api(obj)
    content = content_of("c", stored)
    assert dict(content.data) == {"a": "1", "b": "ünïcode"}
    assert dict(content.binary_data) == {"blob": raw}
    assert b"y" * 100 not in stored.packed
    assert hash_input_from_api({**obj, "metadata": {"name": "c"}}) == stored, "metadata is not kept"


def test_equal_content_packs_equal_so_a_relist_sees_no_change() -> None:
    one = hash_input_from_api({"data": {"a": "1", "b": "2"}})
    other = hash_input_from_api({"data": {"b": "2", "a": "1"}})
    assert one == other
    assert one != hash_input_from_api({"data": {"a": "1", "b": "3"}})
