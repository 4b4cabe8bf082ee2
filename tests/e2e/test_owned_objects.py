"""The chart's matchConditions through the real API server: objects with a controller
ownerReference never reach the webhook (no audit line), and are still admitted; everything else
(a bare Pod, a Pod whose ownerReference is not a controller's) is sent as before."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import assert_no_records, records_for
from tests.e2e.kube import Kube
from tests.e2e.webhook_process import WebhookServer, render_webhook_configurations
from tests.envtest import ControlPlane
from tests.support.builders import container, env_from, pod_spec, workload
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION

pytestmark = pytest.mark.e2e

WEBHOOKS = ("mutate.reload-safe.io", "validate.reload-safe.io")
DENIAL = 'envFrom reference to ConfigMap "env-config"'


def apiserver_counters(kube: Kube, metric: str) -> dict[str, float]:
    """`metric`'s samples for reload-safe's two webhooks, by webhook name and operation."""
    method, url, headers, _, _ = kube.api.param_serialize("GET", "/metrics", header_params={"Accept": "text/plain"})
    text = kube.api.call_api(method, url, header_params=headers).read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if labels.get("name") in WEBHOOKS:
            key = f"{labels['name']} {labels.get('operation', '')}"
            found[key] = found.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def unsafe_pod(name: str, owner_references: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pod = workload("Pod", pod_spec(container(envFrom=[env_from("env-config")])), name=name, namespace=None)
    if owner_references is not None:
        pod["metadata"]["ownerReferences"] = owner_references
    return pod


def test_controller_owned_pods_are_not_sent_but_admitted(
    kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    ns = namespace("enforce")
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env-config"},
                "data": {"log_level": "INFO"}}, namespace=ns)  # fmt: skip
    # A real owner that no controller manages: a ReplicaSet would release (un-own) a Pod its
    # selector does not match, and the garbage collector deletes what a missing owner owned.
    owner = kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace=ns)
    assert owner.ok, owner.body
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.body["metadata"]["uid"]}
    exclusions_before = apiserver_counters(kube, "apiserver_admission_match_condition_exclusions_total")

    # Owned: in enforce, with a reference that would be denied on a bare Pod. Created, then updated.
    owned = kube.create(unsafe_pod("owned", [{**reference, "controller": True}]), namespace=ns)
    assert owned.ok, owned.body
    assert owned.warnings == []
    assert HASH_ANNOTATION not in owned.annotations()
    updated = kube.patch_merge("Pod", "owned", {"metadata": {"labels": {"touched": "yes"}}}, namespace=ns)
    assert updated.ok, updated.body
    assert updated.warnings == []

    # Sent: an ownerReference that is not a controller's (controller false, or not set), and a bare Pod.
    not_controller = kube.create(unsafe_pod("not-controller", [{**reference, "controller": False}]), namespace=ns)
    unset = kube.create(unsafe_pod("controller-unset", [reference]), namespace=ns)
    bare = kube.create(unsafe_pod("bare"), namespace=ns)
    for name, denied in (("not-controller", not_controller), ("controller-unset", unset), ("bare", bare)):
        assert denied.status == 403, (name, denied.body)
        assert DENIAL in denied.message, name
        decisions = {r["webhook"]: r["decision"] for r in records_for(webhook, namespace=ns, name=name)}
        assert decisions == {"mutating": "allowed", "validating": "denied"}, name
        assert not any(r["owned"] for r in records_for(webhook, namespace=ns, name=name))

    # The owned Pod's requests were answered before the bare Pod's were sent, so their lines,
    # if any had been written, would be there by now.
    assert_no_records(webhook, namespace=ns, name="owned")

    # Excluded by the condition (counted per webhook and operation), not skipped on an
    # evaluation error (which failurePolicy Ignore would also have turned into "not sent").
    def added_exclusions() -> dict[str, float]:
        exclusions = apiserver_counters(kube, "apiserver_admission_match_condition_exclusions_total")
        return {key: exclusions.get(key, 0.0) - exclusions_before.get(key, 0.0) for key in exclusions}

    eventually(
        added_exclusions,
        until=lambda added: all(
            added.get(f"{hook} {op}", 0.0) >= 1 for hook in WEBHOOKS for op in ("CREATE", "UPDATE")
        ),
        timeout=5,
        interval=0.2,
        what="match-condition exclusions counted for both webhooks, CREATE and UPDATE",
    )
    assert apiserver_counters(kube, "apiserver_admission_match_condition_evaluation_errors_total") == {}


def test_the_condition_judges_delete_by_the_old_object(
    control_plane: ControlPlane, kube: Kube, namespace: Callable[..., str], webhook: WebhookServer
) -> None:
    """The chart registers no DELETE, so the condition's DELETE branch (`object` is null there) is
    evaluated here by the API server's CEL as a ValidatingAdmissionPolicy that denies whatever
    the condition would not send, for every operation on Pods in one namespace."""
    rendered = render_webhook_configurations(
        helm=control_plane.binary("helm"), url=webhook.url, ca_bundle=webhook.ca_bundle
    )
    (expression,) = {c["expression"] for doc in rendered for c in doc["webhooks"][0]["matchConditions"]}
    ns = namespace("off")  # the webhook is not involved: only the policy judges
    owner = kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace=ns)
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.body["metadata"]["uid"]}
    for pod in (unsafe_pod("owned", [{**reference, "controller": True}]), unsafe_pod("bare")):
        assert kube.create(pod, namespace=ns).ok

    admission = client.AdmissionregistrationV1Api(kube.api)
    name = f"not-sent-{ns}"
    admission.create_validating_admission_policy({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                                                    "operations": ["CREATE", "UPDATE", "DELETE"]}]},
            "validations": [{"expression": expression, "message": "the webhook would not be called"}],
        },
    })  # fmt: skip
    admission.create_validating_admission_policy_binding({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}},
    })  # fmt: skip
    core = client.CoreV1Api(kube.api)

    def dry_run_delete(pod: str) -> tuple[int, str]:
        try:
            core.delete_namespaced_pod(pod, ns, dry_run="All")
        except ApiException as error:
            return int(error.status), str(error.body)
        return 200, ""

    not_sent = (422, "the webhook would not be called")  # a policy's denial is 422 Invalid
    try:
        probe = unsafe_pod("probe", [{**reference, "controller": True}])
        eventually(  # policies are loaded asynchronously
            lambda: kube.create(probe, namespace=ns, dry_run=True),
            until=lambda created: not created.ok,
            timeout=30,
            interval=0.3,
            what="the policy taking effect",
        )
        status, body = dry_run_delete("owned")
        assert (status, not_sent[1] in body) == (not_sent[0], True), body
        assert dry_run_delete("bare") == (200, "")
        labelled = kube.patch_merge("Pod", "owned", {"metadata": {"labels": {"a": "b"}}}, namespace=ns)
        assert (labelled.status, not_sent[1] in labelled.message) == (not_sent[0], True), labelled.body
        assert kube.patch_merge("Pod", "bare", {"metadata": {"labels": {"a": "b"}}}, namespace=ns).ok
        assert kube.create(unsafe_pod("owned-2", [{**reference, "controller": True}]), namespace=ns).status == 422
        orphaned = kube.patch_merge("Pod", "owned", {"metadata": {"ownerReferences": None}}, namespace=ns)
        assert orphaned.ok, "an UPDATE is judged by the new object: released by its owner, it is sent"
    finally:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)
