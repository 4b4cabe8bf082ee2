"""SPEC "Policy per namespace" and "HTTP endpoints", at the admission layer (webhook/admission/).

Each test feeds an AdmissionReview body through decode → handle → encode, the path the server
takes, with two small doubles for the ports, and reads the answer on the wire. Expected values
are the SPEC's literals (403, "Forbidden", "JSONPatch", the v1 hash), never the code's constants.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.builders import ENV_FROM_SPEC, container, env_from, env_ref, pod_spec, workload
from tests.support.spec import (
    DENIED_CODE,
    DENIED_REASON,
    HASH_ANNOTATION,
    RELOAD_ANNOTATION,
    V1_CONFIGMAP,
    V1_DATA,
    V1_HASH,
)
from webhook.admission import WebhookKind, decode_review, encode_response, handle
from webhook.policy.model import ABSENT, UNREADABLE, ConfigMapContent, ConfigMapState, Mode
from webhook.policy.namespaces import NamespaceMode

UID = "5f1c7a2e-0000-4000-8000-000000000001"


@dataclass
class ConfigMaps:
    """A ConfigMapReader over a dict, recording every lookup."""

    by_name: dict[str, ConfigMapState] = field(
        default_factory=lambda: {V1_CONFIGMAP: ConfigMapContent(name=V1_CONFIGMAP, data=dict(V1_DATA))}
    )
    lookups: list[tuple[str, str]] = field(default_factory=list)

    def get(self, *, namespace: str, name: str) -> ConfigMapState:
        self.lookups.append((namespace, name))
        return self.by_name.get(name, ABSENT)


@dataclass
class Namespaces:
    """Every namespace in one mode."""

    mode_of_all: Mode

    def mode(self, *, namespace: str | None) -> NamespaceMode:
        return NamespaceMode(self.mode_of_all)


def review(
    obj: Any,
    *,
    operation: str = "CREATE",
    namespace: str | None = "team-a",
    old: Any = None,
    sub_resource: str | None = None,
    dry_run: bool | None = None,
) -> dict[str, Any]:
    """An AdmissionReview v1 request as the API server sends it."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    request: dict[str, Any] = {
        "uid": UID,
        "kind": {"group": "apps", "version": "v1", "kind": kind or "Deployment"},
        "operation": operation,
        "userInfo": {"username": "alice"},
        "object": obj,
    }
    if namespace is not None:
        request["namespace"] = namespace
    if old is not None:
        request["oldObject"] = old
    if sub_resource is not None:
        request["subResource"] = sub_resource
    if dry_run is not None:
        request["dryRun"] = dry_run
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def answer(
    body: dict[str, Any],
    *,
    webhook: str,
    mode: Mode = Mode.ENFORCE,
    configmaps: ConfigMaps | None = None,
) -> dict[str, Any]:
    """The AdmissionReview response body one webhook sends back."""
    outcome = handle(
        decode_review(body),
        webhook=WebhookKind(webhook),
        configmaps=configmaps or ConfigMaps(),
        namespaces=Namespaces(mode),
    )
    return encode_response(outcome.response)


def patch_of(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    response = body["response"]
    if "patch" not in response:
        assert "patchType" not in response
        return None
    assert response["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return patch


SEED = workload("Deployment", ENV_FROM_SPEC)
PATCH = [{"op": "add", "path": "/spec/template/metadata/annotations", "value": {HASH_ANNOTATION: V1_HASH}}]
UNTOUCHED_OPERATIONS = ("DELETE", "CONNECT")


def untouched(body: dict[str, Any]) -> None:
    """Allowed as is: nothing patched, warned or denied (SPEC: "allowed untouched")."""
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    response = body["response"]
    assert response["uid"] == UID
    assert response["allowed"] is True
    assert "patch" not in response
    assert "patchType" not in response
    assert "warnings" not in response
    assert "status" not in response
    assert response["auditAnnotations"] == {"decision": "skipped", "violations": "0"}


# --- which requests are evaluated --------------------------------------------------------------


@pytest.mark.parametrize("sub_resource", ["status", "scale", "ephemeralcontainers"])
@pytest.mark.parametrize("webhook", ["mutating", "validating"])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_subresources_are_allowed_untouched(sub_resource: str, webhook: str, operation: str) -> None:
    """A violating Deployment in enforce would be denied and patched; on a subresource it is not."""
    body = review(SEED, operation=operation, old=SEED if operation == "UPDATE" else None, sub_resource=sub_resource)
    untouched(answer(body, webhook=webhook))


@pytest.mark.parametrize("operation", UNTOUCHED_OPERATIONS)
@pytest.mark.parametrize("webhook", ["mutating", "validating"])
def test_delete_and_connect_are_allowed_untouched(operation: str, webhook: str) -> None:
    configmaps = ConfigMaps()
    untouched(answer(review(SEED, operation=operation, old=SEED), webhook=webhook, configmaps=configmaps))
    assert configmaps.lookups == [], "not evaluated, so nothing is read"


@pytest.mark.parametrize("webhook", ["mutating", "validating"])
def test_off_namespaces_are_allowed_untouched(webhook: str) -> None:
    configmaps = ConfigMaps()
    untouched(answer(review(SEED), webhook=webhook, mode=Mode.OFF, configmaps=configmaps))
    assert configmaps.lookups == [], "off: not evaluated, so nothing is read"


def test_the_same_request_without_the_subresource_is_denied() -> None:
    """The control for the subresource test: the object itself is one enforce denies."""
    body = answer(
        review(SEED, operation="UPDATE", old=workload("Deployment", pod_spec(container()))), webhook="validating"
    )
    assert body["response"]["allowed"] is False


# --- what each mode answers --------------------------------------------------------------------


def test_enforce_denies_with_403_forbidden_naming_every_violation() -> None:
    spec = pod_spec(container(envFrom=[env_from(V1_CONFIGMAP)], env=[env_ref(V1_CONFIGMAP, "log_level")]))
    body = answer(review(workload("Deployment", spec, name="my-nginx")), webhook="validating")
    response = body["response"]
    assert response["uid"] == UID
    assert response["allowed"] is False
    assert response["status"]["code"] == DENIED_CODE == 403
    assert response["status"]["reason"] == DENIED_REASON == "Forbidden"
    message = response["status"]["message"]
    assert "my-nginx" in message
    assert f'envFrom reference to ConfigMap "{V1_CONFIGMAP}"' in message
    assert 'env reference to ConfigMap "env-config" (key "log_level")' in message
    assert f"{RELOAD_ANNOTATION}: rollout" in message
    assert f"{RELOAD_ANNOTATION}: none" in message
    assert "warnings" not in response
    assert response["auditAnnotations"] == {"decision": "denied", "violations": "2"}


def test_an_enforce_denial_still_carries_the_patch() -> None:
    """SPEC: the mutating webhook ran first; its answer is the patch, whatever the validating one says."""
    body = answer(review(SEED), webhook="mutating")
    assert body["response"]["allowed"] is True
    assert "status" not in body["response"]
    assert patch_of(body) == PATCH
    assert "warnings" not in body["response"]
    assert body["response"]["auditAnnotations"] == {"decision": "allowed", "violations": "1"}


def test_warn_allows_with_one_warning_per_violation() -> None:
    spec = pod_spec(container(envFrom=[env_from(V1_CONFIGMAP)], env=[env_ref(V1_CONFIGMAP, "log_level")]))
    body = answer(review(workload("Deployment", spec)), webhook="validating", mode=Mode.WARN)
    response = body["response"]
    assert response["allowed"] is True
    assert "status" not in response
    assert len(response["warnings"]) == 2
    assert [("envFrom" in w, " key log_level" in w) for w in response["warnings"]] == [(False, True), (True, False)]
    assert response["auditAnnotations"] == {"decision": "warned", "violations": "2"}
    mutating = answer(review(workload("Deployment", spec)), webhook="mutating", mode=Mode.WARN)
    assert patch_of(mutating) is not None
    assert "warnings" not in mutating["response"]


def test_audit_allows_silently_and_never_mutates() -> None:
    for webhook in ("mutating", "validating"):
        response = answer(review(SEED), webhook=webhook, mode=Mode.AUDIT)["response"]
        assert response["allowed"] is True
        assert "warnings" not in response
        assert "patch" not in response
        assert "status" not in response
        assert response["auditAnnotations"]["violations"] == "1"


def test_a_clean_workload_is_allowed_and_hashed() -> None:
    spec = pod_spec(container(volumeMounts=[{"name": "v", "mountPath": "/etc/app"}]))
    spec["volumes"] = [{"name": "v", "configMap": {"name": V1_CONFIGMAP}}]
    obj = workload("Deployment", spec)
    validating = answer(review(obj), webhook="validating")["response"]
    assert validating["allowed"] is True
    assert validating["auditAnnotations"] == {"decision": "allowed", "violations": "0"}
    assert patch_of(answer(review(obj), webhook="mutating")) is not None


def test_dry_run_requests_are_evaluated_like_any_other() -> None:
    body = review(SEED, dry_run=True)
    assert decode_review(body).dry_run is True
    assert answer(body, webhook="validating")["response"]["allowed"] is False
    assert patch_of(answer(body, webhook="mutating")) == PATCH


# --- UPDATE in enforce: only new violations deny ------------------------------------------------


def test_update_keeping_an_existing_violation_is_warned_not_denied() -> None:
    new = copy.deepcopy(SEED)
    new["metadata"]["labels"] = {"edited": "yes"}
    response = answer(review(new, operation="UPDATE", old=SEED), webhook="validating")["response"]
    assert response["allowed"] is True
    assert len(response["warnings"]) == 1
    assert response["auditAnnotations"] == {"decision": "warned", "violations": "1"}


def test_update_adding_a_violation_is_denied_and_the_old_one_warned() -> None:
    new = copy.deepcopy(SEED)
    new["spec"]["template"]["spec"]["containers"][0]["env"] = [env_ref(V1_CONFIGMAP, "log_level")]
    response = answer(review(new, operation="UPDATE", old=SEED), webhook="validating")["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert 'env reference to ConfigMap "env-config" (key "log_level")' in response["status"]["message"]
    assert "envFrom" not in response["status"]["message"]
    (warning,) = response["warnings"]
    assert "envFrom" in warning


def test_the_old_object_counts_only_on_update() -> None:
    """A CREATE carrying an oldObject (never sent by the API server) is judged on its own."""
    response = answer(review(SEED, operation="CREATE", old=SEED), webhook="validating")["response"]
    assert response["allowed"] is False


# --- what the handler reads ---------------------------------------------------------------------


def test_configmaps_are_read_in_the_request_namespace() -> None:
    configmaps = ConfigMaps()
    answer(
        review(workload("Deployment", ENV_FROM_SPEC, namespace="obj-ns"), namespace="req-ns"),
        webhook="mutating",
        configmaps=configmaps,
    )
    assert configmaps.lookups == [("req-ns", V1_CONFIGMAP)]


@pytest.mark.parametrize(
    ("object_namespace", "expected"),
    [
        pytest.param("obj-ns", "obj-ns", id="object-namespace"),
        pytest.param(None, "default", id="default"),
        pytest.param("", "default", id="empty-is-default"),
        pytest.param(5, "default", id="not-a-string-is-default"),
    ],
)
def test_without_a_request_namespace_the_objects_then_default(object_namespace: Any, expected: str) -> None:
    configmaps = ConfigMaps()
    obj = workload("Deployment", ENV_FROM_SPEC, namespace=None)
    if object_namespace is not None:
        obj["metadata"]["namespace"] = object_namespace
    answer(review(obj, namespace=None), webhook="mutating", configmaps=configmaps)
    assert configmaps.lookups == [(expected, V1_CONFIGMAP)]


def test_an_unreadable_configmap_leaves_the_hash_and_the_mutating_answer_says_so() -> None:
    configmaps = ConfigMaps(by_name={V1_CONFIGMAP: UNREADABLE})
    response = answer(review(SEED), webhook="mutating", configmaps=configmaps)["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    (warning,) = response["warnings"]
    assert V1_CONFIGMAP in warning
    assert len(warning) <= 256
    assert response["auditAnnotations"]["decision"] == "warned"


def test_the_hash_the_patch_sets_is_the_spec_vector() -> None:
    (operation,) = patch_of(answer(review(SEED), webhook="mutating", mode=Mode.WARN)) or []
    assert operation["value"] == {HASH_ANNOTATION: V1_HASH}


@pytest.mark.parametrize(
    ("obj", "allowed"),
    [
        pytest.param(None, True, id="null"),
        pytest.param([], True, id="list"),
        pytest.param("text", True, id="string"),
        pytest.param({"kind": "Deployment", "spec": [1]}, True, id="spec-a-list"),
        pytest.param(
            {"kind": "Deployment", "metadata": ["x"], "spec": {"template": {"spec": ENV_FROM_SPEC}}},
            False,
            id="metadata-a-list-judged-as-far-as-it-can-be-read",
        ),
    ],
)
@pytest.mark.parametrize("namespace", ["team-a", None])
@pytest.mark.parametrize("webhook", ["mutating", "validating"])
def test_a_malformed_object_is_answered_with_its_uid(
    obj: Any, allowed: bool, namespace: str | None, webhook: str
) -> None:
    response = answer(review(obj, namespace=namespace), webhook=webhook)["response"]
    assert response["uid"] == UID
    assert response["allowed"] is (allowed or webhook == "mutating")


# --- the Outcome: what the audit log and the metrics are written from -----------------------------


@dataclass
class ProblemNamespaces:
    """A namespace whose label has an unknown value: the default mode, and a problem to log."""

    def mode(self, *, namespace: str | None) -> NamespaceMode:
        return NamespaceMode(Mode.WARN, problem=f"unknown label on {namespace}")


@pytest.mark.parametrize(
    ("body", "verdict", "skip_reason"),
    [
        pytest.param(review(SEED, sub_resource="status"), "skipped", "status", id="subresource"),
        pytest.param(review(SEED, operation="DELETE"), "skipped", "DELETE", id="delete"),
        pytest.param(review(SEED), "warned", None, id="evaluated"),
    ],
)
@pytest.mark.parametrize("webhook", ["mutating", "validating"])
def test_the_outcome_names_request_webhook_mode_verdict_and_problem(
    body: dict[str, Any], verdict: str, skip_reason: str | None, webhook: str
) -> None:
    request = decode_review(body)
    outcome = handle(request, webhook=WebhookKind(webhook), configmaps=ConfigMaps(), namespaces=ProblemNamespaces())
    assert outcome.request is request
    assert outcome.webhook is WebhookKind(webhook)
    assert outcome.mode is Mode.WARN
    assert outcome.namespace_problem == "unknown label on team-a"
    assert outcome.decision is not None
    expected = verdict if webhook == "validating" or verdict == "skipped" else "allowed"
    assert str(outcome.verdict) == expected
    assert outcome.patched is (webhook == "mutating" and verdict != "skipped")
    if skip_reason:
        assert outcome.decision.verdict == "skipped"
        assert outcome.decision.mode is Mode.WARN
        assert outcome.decision.kind == "Deployment"
        assert skip_reason in (outcome.decision.skip_reason or "")
    else:
        assert outcome.decision.skip_reason is None


@pytest.mark.parametrize("webhook", ["mutating", "validating"])
def test_an_object_being_deleted_is_skipped_by_both_webhooks(webhook: str) -> None:
    """SPEC: allowed untouched, audit decision `skipped`."""
    obj = copy.deepcopy(SEED)
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    outcome = handle(
        decode_review(review(obj, operation="UPDATE", old=SEED)),
        webhook=WebhookKind(webhook),
        configmaps=ConfigMaps(),
        namespaces=Namespaces(Mode.ENFORCE),
    )
    assert str(outcome.verdict) == "skipped"
    assert encode_response(outcome.response)["response"]["allowed"] is True
    assert outcome.patched is False


@pytest.mark.parametrize("webhook", ["mutating", "validating"])
def test_the_request_kind_is_used_when_the_object_names_none(webhook: str) -> None:
    obj = {k: v for k, v in SEED.items() if k != "kind"}
    body = review(obj, operation="UPDATE", old={k: v for k, v in SEED.items() if k != "kind"})
    body["request"]["kind"]["kind"] = "Deployment"
    response = answer(body, webhook=webhook, mode=Mode.ENFORCE)["response"]
    assert response["auditAnnotations"]["violations"] == "1"
    if webhook == "validating":
        assert response["allowed"] is True, "the old object had the same violation: warned"
        assert len(response["warnings"]) == 1
    else:
        assert patch_of({"response": response}) == PATCH


def test_the_mode_of_the_request_namespace_is_asked_for() -> None:
    asked: list[str | None] = []

    class Recording:
        def mode(self, *, namespace: str | None) -> NamespaceMode:
            asked.append(namespace)
            return NamespaceMode(Mode.OFF)

    handle(
        decode_review(review(SEED, namespace="ns-1")),
        webhook=WebhookKind.MUTATING,
        configmaps=ConfigMaps(),
        namespaces=Recording(),
    )
    assert asked == ["ns-1"]
