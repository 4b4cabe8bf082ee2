"""SPEC Contract v2 "Secrets": the keyed test vector, and the same workload without a key."""

from __future__ import annotations

import base64
import json

from tests.support.builders import cm, container, pod_spec, workload
from tests.support.spec import V1_DATA, V1_HASH, V2_ENTRIES, V2_HASH, V2_HASH_KEY, V2_SECRET, V2_SECRET_DATA
from webhook.policy import Mode, Operation, SecretContent, consumed_entries, evaluate, references_of
from webhook.policy.secrets import decoded_secret_data, secret_content

SPEC = pod_spec(container(envFrom=[{"configMapRef": {"name": "env-config"}}, {"secretRef": {"name": V2_SECRET}}]))


def _secret() -> SecretContent:
    manifest = {"kind": "Secret", "metadata": {"name": V2_SECRET}, "data": V2_SECRET_DATA}
    return secret_content(
        name=V2_SECRET, data=decoded_secret_data(manifest), immutable=False, reloader_match=False, hash_key=V2_HASH_KEY
    )


def test_the_v2_vector_entries_and_hash() -> None:
    obj = workload("Deployment", SPEC)
    configmaps = {"env-config": cm("env-config", V1_DATA)}
    secrets = {V2_SECRET: _secret()}
    entries = consumed_entries(references_of(obj), configmaps, secrets)
    assert json.loads(json.dumps(entries)) == V2_ENTRIES
    decision = evaluate(obj=obj, operation=Operation.CREATE, mode=Mode.WARN, configmaps=configmaps, secrets=secrets)
    assert decision.config_hash == V2_HASH


def test_without_a_hash_key_the_same_workload_hashes_to_the_v1_vector() -> None:
    obj = workload("Deployment", SPEC)
    decision = evaluate(
        obj=obj, operation=Operation.CREATE, mode=Mode.WARN, configmaps={"env-config": cm("env-config", V1_DATA)}
    )
    assert decision.config_hash == V1_HASH


def test_string_data_overrides_data_key_by_key() -> None:
    manifest = {
        "metadata": {"name": "s"},
        "data": {"a": base64.b64encode(b"old").decode(), "b": base64.b64encode(b"kept").decode()},
        "stringData": {"a": "new"},
    }
    assert decoded_secret_data(manifest) == {"a": b"new", "b": b"kept"}
