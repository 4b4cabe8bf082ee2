"""SPEC "Hash algorithm (exact)": the test vector and vectors of our own."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tests.support.builders import (
    ENV_CONFIG,
    ENV_FROM_SPEC,
    SEED_HASH,
    cm,
    cm_volume,
    container,
    env_from,
    env_ref,
    mount,
    pod_spec,
    projected_volume,
)
from tests.support.spec import V1_ENTRIES, V1_HASH
from webhook.policy import ConfigMapContent, config_hash, consumed_entries, find_references
from webhook.policy.model import UNREADABLE, ConfigMaps


def entries(spec: dict[str, Any], configmaps: ConfigMaps) -> list[list[Any]]:
    return [list(e) for e in consumed_entries(find_references(spec), configmaps)]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_spec_test_vector() -> None:
    got = consumed_entries(find_references(ENV_FROM_SPEC), ENV_CONFIG)
    assert [list(e) for e in got] == V1_ENTRIES
    assert config_hash(got) == SEED_HASH == V1_HASH


def test_hash_is_sha256_of_compact_ascii_json() -> None:
    got = consumed_entries(find_references(ENV_FROM_SPEC), ENV_CONFIG)
    payload = json.dumps(V1_ENTRIES, separators=(",", ":"), ensure_ascii=True)
    assert payload == '[["env-config","data","log_level","SU5GTw=="]]'
    assert config_hash(got) == "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


BINARY = ConfigMapContent(name="bin", data={"a.txt": "hello"}, binary_data={"blob": b"\x00\xff\x10", "a.bin": b"xyz"})


@pytest.mark.parametrize(
    ("spec", "configmaps", "expected"),
    [
        pytest.param(
            pod_spec(container(env=[env_ref("bin", "blob")])),
            {"bin": BINARY},
            [["bin", "data", "blob", None]],
            id="env-reads-data-only-binaryData-key-counts-as-missing",
        ),
        pytest.param(
            pod_spec(container(envFrom=[env_from("bin")])),
            {"bin": BINARY},
            [["bin", "data", "a.txt", b64("hello")]],
            id="envFrom-never-takes-binaryData",
        ),
        pytest.param(
            pod_spec(container(volumeMounts=[mount("v", "/x")]), volumes=[cm_volume("v", "bin")]),
            {"bin": BINARY},
            [
                ["bin", "binaryData", "a.bin", "eHl6"],
                ["bin", "binaryData", "blob", "AP8Q"],
                ["bin", "data", "a.txt", b64("hello")],
            ],
            id="volume-without-items-takes-data-and-binaryData",
        ),
        pytest.param(
            pod_spec(
                container(volumeMounts=[mount("v", "/x")]),
                volumes=[cm_volume("v", "bin", items=["blob", "a.txt", "gone"])],
            ),
            {"bin": BINARY},
            [
                ["bin", "binaryData", "blob", "AP8Q"],
                ["bin", "data", "a.txt", b64("hello")],
                ["bin", "data", "gone", None],
            ],
            id="items-look-in-data-then-binaryData-missing-is-null",
        ),
        pytest.param(
            pod_spec(container(envFrom=[env_from("nope")], env=[env_ref("nope", "k")])),
            {},
            [["nope", "", "", None]],
            id="missing-configmap-is-one-entry",
        ),
        pytest.param(
            pod_spec(container(env=[env_ref("c", "missing")], envFrom=[env_from("c")])),
            {"c": cm("c", {"present": "1"})},
            [["c", "data", "missing", None], ["c", "data", "present", "MQ=="]],
            id="union-keeps-missing-key-beside-existing-keys",
        ),
        pytest.param(
            pod_spec(
                container("a", env=[env_ref("c", "k")], volumeMounts=[mount("v", "/x", sub_path="k")]),
                container("b", envFrom=[env_from("c")]),
                volumes=[cm_volume("v", "c")],
            ),
            {"c": cm("c", {"k": "v"})},
            [["c", "data", "k", "dg=="]],
            id="overlapping-references-are-distinct-entries-once",
        ),
        pytest.param(
            pod_spec(container(envFrom=[env_from("uni")])),
            {"uni": cm("uni", {"greeting": "grüße ✓"})},
            [["uni", "data", "greeting", base64.b64encode("grüße ✓".encode()).decode()]],
            id="non-ascii-values-are-utf8-then-base64",
        ),
        pytest.param(
            pod_spec(container(volumeMounts=[mount("p", "/x")]), volumes=[projected_volume("p", "z", "a")]),
            {"a": cm("a", {"k": "1"})},
            [["a", "data", "k", "MQ=="], ["z", "", "", None]],
            id="projected-sources-sorted-by-name",
        ),
    ],
)
def test_consumed_entries(spec: dict[str, Any], configmaps: ConfigMaps, expected: list[list[Any]]) -> None:
    assert entries(spec, configmaps) == expected


def test_non_ascii_keys_are_escaped_in_the_json() -> None:
    spec = pod_spec(container(envFrom=[env_from("c")]))
    got = consumed_entries(find_references(spec), {"c": cm("c", {"clé": "v"})})
    payload = json.dumps([list(e) for e in got], separators=(",", ":"), ensure_ascii=True)
    assert "\\u00e9" in payload
    assert config_hash(got) == "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def test_a_changed_value_changes_the_hash_and_an_unconsumed_key_does_not() -> None:
    spec = pod_spec(container(env=[env_ref("c", "used")]))
    base = config_hash(consumed_entries(find_references(spec), {"c": cm("c", {"used": "1", "other": "x"})}))
    changed = config_hash(consumed_entries(find_references(spec), {"c": cm("c", {"used": "2", "other": "x"})}))
    unrelated = config_hash(consumed_entries(find_references(spec), {"c": cm("c", {"used": "1", "other": "y"})}))
    assert base != changed
    assert base == unrelated


def test_unreadable_configmap_is_not_treated_as_content() -> None:
    spec = pod_spec(container(envFrom=[env_from("c")]))
    assert entries(spec, {"c": UNREADABLE}) == [["c", "", "", None]]


def test_each_value_is_encoded_once_per_configmap_object() -> None:
    content = ConfigMapContent(name="mixed", data={"a.conf": "x=1", "é": "ü"}, binary_data={"b.bin": b"\x00\xff"})
    assert content.data_base64 == {"a.conf": b64("x=1"), "é": b64("ü")}
    assert content.binary_data_base64 == {"b.bin": base64.b64encode(b"\x00\xff").decode()}
    assert content.data_base64 is content.data_base64  # worked out on first use, then kept
    with pytest.raises(TypeError):
        content.data_base64["a.conf"] = "changed"  # type: ignore[index]  # shared: read-only


def test_a_configmaps_values_cannot_change_under_its_readers() -> None:
    data = {"log_level": "INFO"}
    content = ConfigMapContent(name="env-config", data=data, binary_data={"b": b"\x01"})
    data["log_level"] = "DEBUG"  # the builder's own dict: the content kept a copy
    assert content.data == {"log_level": "INFO"}
    with pytest.raises(TypeError):
        content.data["log_level"] = "DEBUG"  # type: ignore[index]
    with pytest.raises(TypeError):
        content.binary_data["b"] = b""  # type: ignore[index]
