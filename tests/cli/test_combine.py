"""`combine_webhooks`: the patch of the mutating webhook, the verdict of the validating one on the
patched object, exactly as the API server chains them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.cli.helpers import configmap, container, env_from, workload
from tests.support.spec import V1_HASH as SEED_HASH
from webhook.admission import AdmissionRequest, WebhookKind
from webhook.cli.combine import apply_patch, combine_webhooks
from webhook.manifests.configmaps import configmap_content
from webhook.policy import HASH_ANNOTATION, Mode
from webhook.sources.static import StaticConfigMaps, StaticNamespaceModes

CONFIGMAPS = StaticConfigMaps([configmap_content(configmap("env-config", data={"log_level": "INFO"}))])


def request(obj: Any, *, operation: str = "CREATE", old: Any = None) -> AdmissionRequest:
    return AdmissionRequest(
        uid="uid-1",
        kind=obj.get("kind") if isinstance(obj, dict) else None,
        operation=operation,
        namespace="team",
        name="web",
        sub_resource=None,
        user="alice",
        dry_run=False,
        object=obj,
        old_object=old,
    )


def combine(obj: Any, mode: Mode = Mode.ENFORCE) -> Any:
    return combine_webhooks(request(obj), configmaps=CONFIGMAPS, namespaces=StaticNamespaceModes(mode))


def test_validating_webhook_sees_the_patched_object() -> None:
    obj = workload(containers=[container(**env_from("env-config"))])
    before = copy.deepcopy(obj)
    combined = combine(obj)
    seen = combined.validating.request.object
    assert seen["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] == SEED_HASH
    assert obj == before  # the caller's object is not patched in place
    assert combined.mutating.webhook is WebhookKind.MUTATING
    assert combined.validating.webhook is WebhookKind.VALIDATING


@pytest.mark.parametrize(
    ("mode", "allowed", "patched"),
    [
        pytest.param(Mode.ENFORCE, False, True, id="enforce"),
        pytest.param(Mode.WARN, True, True, id="warn"),
        pytest.param(Mode.AUDIT, True, False, id="audit"),
        pytest.param(Mode.OFF, True, False, id="off"),
    ],
)
def test_response_takes_patch_from_one_and_verdict_from_the_other(mode: Mode, allowed: bool, patched: bool) -> None:
    combined = combine(workload(containers=[container(**env_from("env-config"))]), mode)
    response = combined.response
    assert response.patch == combined.mutating.response.patch
    assert bool(response.patch) is patched
    assert response.allowed is combined.validating.response.allowed is allowed
    assert response.status == combined.validating.response.status
    assert response.warnings == combined.validating.response.warnings
    assert response.audit_annotations == combined.validating.response.audit_annotations


def test_no_patch_leaves_the_object_as_sent() -> None:
    obj = workload(containers=[container()])  # no reference: nothing to hash
    combined = combine(obj)
    assert combined.response.patch is None
    assert combined.validating.request.object is obj


def test_apply_patch_refuses_a_non_object() -> None:
    import jsonpatch

    with pytest.raises(jsonpatch.JsonPatchException):
        apply_patch(["not", "an", "object"], patch=[{"op": "add", "path": "/a", "value": 1}])
