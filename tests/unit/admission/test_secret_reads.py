"""What the admission handler reads of Secrets (SPEC v2): only with a Secret source (a hash key),
only the Secrets the new object references (a violation's identity names its Secret, so one only
the old object used cannot matter), in the request's namespace; and the answer's hash is SPEC
v2's vector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.builders import container, pod_spec, secret, secret_env_from, workload
from tests.support.spec import V1_CONFIGMAP, V1_DATA, V1_HASH, V2_HASH, V2_HASH_KEY, V2_SECRET
from tests.unit.admission.test_handler import ConfigMaps, Namespaces, patch_of, review
from webhook.admission import WebhookKind, decode_review, encode_response, handle
from webhook.policy.model import ABSENT, ConfigMapContent, Mode, SecretState

VECTOR = pod_spec(
    container(envFrom=[{"configMapRef": {"name": V1_CONFIGMAP}}, secret_env_from(V2_SECRET)]),
)


@dataclass
class Secrets:
    """A SecretReader over a dict, recording every lookup."""

    by_name: dict[str, SecretState] = field(
        default_factory=lambda: {V2_SECRET: secret(V2_SECRET, {"password": b"hunter2"}, key=V2_HASH_KEY)}
    )
    lookups: list[tuple[str, str]] = field(default_factory=list)

    def get(self, *, namespace: str, name: str) -> SecretState:
        self.lookups.append((namespace, name))
        return self.by_name.get(name, ABSENT)


def run(body: dict[str, Any], *, secrets: Secrets | None, mode: Mode = Mode.WARN, webhook: str = "mutating") -> Any:
    configmaps = ConfigMaps({V1_CONFIGMAP: ConfigMapContent(name=V1_CONFIGMAP, data=dict(V1_DATA))})
    outcome = handle(
        decode_review(body),
        webhook=WebhookKind(webhook),
        configmaps=configmaps,
        namespaces=Namespaces(mode),
        secrets=secrets,
    )
    return encode_response(outcome.response), configmaps


def test_with_a_secret_source_the_referenced_secret_is_read_in_the_request_namespace_and_hashed() -> None:
    secrets = Secrets()
    body, configmaps = run(
        review(workload("Deployment", VECTOR, namespace="obj-ns"), namespace="req-ns"), secrets=secrets
    )
    assert secrets.lookups == [("req-ns", V2_SECRET)]
    assert configmaps.lookups == [("req-ns", V1_CONFIGMAP)], "a Secret is never looked up as a ConfigMap"
    (operation,) = patch_of(body) or []
    assert operation["value"] == {"reload-safe.io/config-hash": V2_HASH}


def test_without_a_secret_source_nothing_is_read_and_the_hash_is_v1() -> None:
    body, configmaps = run(review(workload("Deployment", VECTOR)), secrets=None)
    assert configmaps.lookups == [("team-a", V1_CONFIGMAP)]
    (operation,) = patch_of(body) or []
    assert operation["value"] == {"reload-safe.io/config-hash": V1_HASH}


@pytest.mark.parametrize("mode", [Mode.ENFORCE, Mode.WARN])
def test_on_an_update_only_the_new_objects_secrets_are_read(mode: Mode) -> None:
    old = workload("Deployment", pod_spec(container(envFrom=[secret_env_from("old-secret")])))
    new = workload("Deployment", pod_spec(container(envFrom=[secret_env_from(V2_SECRET)])))
    secrets = Secrets()
    run(review(new, operation="UPDATE", old=old), secrets=secrets, mode=mode, webhook="validating")
    assert secrets.lookups == [("team-a", V2_SECRET)]


def test_secrets_are_read_once_each_in_name_order() -> None:
    spec = pod_spec(
        container(envFrom=[secret_env_from("b"), secret_env_from("a")]),
        container("side", envFrom=[secret_env_from("b")]),
    )
    secrets = Secrets()
    run(review(workload("Deployment", spec)), secrets=secrets)
    assert secrets.lookups == [("team-a", "a"), ("team-a", "b")]
