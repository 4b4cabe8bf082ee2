"""SPEC "HTTP endpoints": the AdmissionReview v1 envelope, read strictly and answered exactly.

A bad envelope (not an AdmissionReview v1, no string `request.uid`) is the caller's error (the
server answers 400 with the message); everything inside a good envelope is read tolerantly.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from webhook.admission import BadReview, decode_review, encode_response
from webhook.admission.responses import allowed, denied, errored, patched

GOOD: dict[str, Any] = {
    "apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview",
    "request": {
        "uid": "uid-1",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "operation": "UPDATE",
        "namespace": "team-a",
        "name": "web",
        "subResource": "scale",
        "userInfo": {"username": "alice", "groups": ["dev"]},
        "dryRun": True,
        "object": {"kind": "Deployment"},
        "oldObject": {"kind": "Deployment", "old": True},
    },
}


def with_request(**fields: Any) -> dict[str, Any]:
    request = {**GOOD["request"], **fields}
    return {**GOOD, "request": {k: v for k, v in request.items() if v is not ...}}


def test_every_field_the_audit_log_needs_is_read() -> None:
    request = decode_review(GOOD)
    assert (request.uid, request.kind, request.operation) == ("uid-1", "Deployment", "UPDATE")
    assert (request.namespace, request.name, request.sub_resource) == ("team-a", "web", "scale")
    assert (request.user, request.dry_run) == ("alice", True)
    assert request.object == {"kind": "Deployment"}
    assert request.old_object == {"kind": "Deployment", "old": True}


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        pytest.param({"kind": "Deployment"}, "kind", None, id="kind-not-an-object"),
        pytest.param({"kind": {"kind": ""}}, "kind", None, id="kind-empty"),
        pytest.param({"userInfo": "alice"}, "user", None, id="userInfo-not-an-object"),
        pytest.param({"userInfo": {"username": 7}}, "user", None, id="username-not-a-string"),
        pytest.param({"operation": ...}, "operation", "", id="no-operation"),
        pytest.param({"operation": 5}, "operation", "", id="operation-not-a-string"),
        pytest.param({"namespace": ""}, "namespace", None, id="empty-namespace"),
        pytest.param({"name": ...}, "name", None, id="no-name"),
        pytest.param({"subResource": ""}, "sub_resource", None, id="empty-subresource"),
        pytest.param({"dryRun": "true"}, "dry_run", False, id="dryRun-only-when-true"),
        pytest.param({"dryRun": ...}, "dry_run", False, id="no-dryRun"),
    ],
)
def test_fields_inside_the_request_are_read_tolerantly(fields: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(decode_review(with_request(**fields)), attribute) == expected


@pytest.mark.parametrize(
    ("body", "names"),
    [
        pytest.param([], "JSON object", id="not-an-object"),
        pytest.param({**GOOD, "apiVersion": "admission.k8s.io/v1beta1"}, "apiVersion", id="v1beta1"),
        pytest.param({**GOOD, "kind": "AdmissionReviewList"}, "kind", id="wrong-kind-right-version"),
        pytest.param({k: v for k, v in GOOD.items() if k != "apiVersion"}, "apiVersion", id="no-apiVersion"),
        pytest.param({k: v for k, v in GOOD.items() if k != "request"}, "request", id="no-request"),
        pytest.param({**GOOD, "request": "x"}, "request", id="request-not-an-object"),
        pytest.param(with_request(uid=...), "request.uid", id="no-uid"),
        pytest.param(with_request(uid=""), "request.uid", id="empty-uid"),
        pytest.param(with_request(uid=123), "request.uid", id="uid-not-a-string"),
    ],
)
def test_a_bad_envelope_is_refused_naming_what_is_wrong(body: Any, names: str) -> None:
    with pytest.raises(BadReview) as raised:
        decode_review(body)
    assert names in str(raised.value)


def test_the_answer_echoes_apiversion_kind_and_uid() -> None:
    assert encode_response(allowed("uid-1")) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "uid-1", "allowed": True},
    }


def test_a_denial_is_403_forbidden_with_the_message() -> None:
    assert encode_response(denied("uid-2", "no")) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "uid-2",
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": "no"},
        },
    }


def test_an_internal_error_answer_carries_its_code() -> None:
    assert encode_response(errored("uid-3", code=500, message="boom")) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "uid-3",
            "allowed": False,
            "status": {"code": 500, "reason": "InternalError", "message": "boom"},
        },
    }


def test_a_patch_is_base64_of_compact_json_with_patch_type_jsonpatch() -> None:
    operations = [{"op": "add", "path": "/metadata/annotations", "value": {"k": "é"}}]
    response = encode_response(patched("uid-4", operations).with_warnings("w1", "", "w2"))["response"]
    assert response["patchType"] == "JSONPatch"
    raw = base64.b64decode(response["patch"], validate=True)
    assert raw == json.dumps(operations, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    assert response["warnings"] == ["w1", "w2"], "empty warnings are dropped"


def test_an_empty_patch_is_no_patch() -> None:
    assert encode_response(patched("uid-5", [])) == encode_response(allowed("uid-5"))
    assert encode_response(patched("uid-5", None)) == encode_response(allowed("uid-5"))


def test_audit_annotations_are_sent_as_given() -> None:
    response = allowed("uid-6").with_audit_annotations(decision="allowed").with_audit_annotations(violations="0")
    assert encode_response(response)["response"]["auditAnnotations"] == {"decision": "allowed", "violations": "0"}
