"""AdmissionReview v1 as typed structures: decode the envelope once, encode the answer once.

The envelope is checked strictly (a bad one is the caller's bug: HTTP 400); the object inside
is not (a malformed object is still judged as far as it can be read, and answered with its uid).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from webhook.policy.jsontext import compact_json
from webhook.policy.model import JSONPatch

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"


class BadReview(ValueError):
    """The body is not an AdmissionReview v1 this server can answer (HTTP 400)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionRequest:
    uid: str
    kind: str | None
    operation: str
    namespace: str | None
    name: str | None
    sub_resource: str | None
    user: str | None
    dry_run: bool
    object: Any
    old_object: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    code: int
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionResponse:
    uid: str
    allowed: bool
    status: Status | None = None
    patch: JSONPatch | None = None
    warnings: tuple[str, ...] = ()
    audit_annotations: Mapping[str, str] = field(default_factory=dict)

    def with_warnings(self, *warnings: str) -> AdmissionResponse:
        return replace(self, warnings=self.warnings + tuple(w for w in warnings if w))

    def with_audit_annotations(self, **annotations: str) -> AdmissionResponse:
        return replace(self, audit_annotations={**self.audit_annotations, **annotations})


def decode_review(body: object) -> AdmissionRequest:
    """The request inside a parsed AdmissionReview body; `BadReview` names what is wrong."""
    if not isinstance(body, Mapping):
        raise BadReview("body is not a JSON object")
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        raise BadReview(
            f"not an {API_VERSION} {KIND} (apiVersion={body.get('apiVersion')!r}, kind={body.get('kind')!r})"
        )
    request = body.get("request")
    if not isinstance(request, Mapping):
        raise BadReview("request is missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("request.uid is missing or not a string")
    kind = request.get("kind")
    user = request.get("userInfo")
    return AdmissionRequest(
        uid=uid,
        kind=_text(kind.get("kind")) if isinstance(kind, Mapping) else None,
        operation=_text(request.get("operation")) or "",
        namespace=_text(request.get("namespace")),
        name=_text(request.get("name")),
        sub_resource=_text(request.get("subResource")),
        user=_text(user.get("username")) if isinstance(user, Mapping) else None,
        dry_run=request.get("dryRun") is True,
        object=request.get("object"),
        old_object=request.get("oldObject"),
    )


def encode_response(response: AdmissionResponse) -> dict[str, Any]:
    """The AdmissionReview v1 body that answers `response` (it echoes apiVersion, kind, uid)."""
    body: dict[str, Any] = {"uid": response.uid, "allowed": response.allowed}
    if response.status is not None:
        body["status"] = {
            "code": response.status.code,
            "reason": response.status.reason,
            "message": response.status.message,
        }
    if response.patch:
        body["patchType"] = "JSONPatch"
        body["patch"] = base64.b64encode(compact_json(response.patch)).decode("ascii")
    if response.warnings:
        body["warnings"] = list(response.warnings)
    if response.audit_annotations:
        body["auditAnnotations"] = dict(response.audit_annotations)
    return {"apiVersion": API_VERSION, "kind": KIND, "response": body}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
