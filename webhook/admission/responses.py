"""Small constructors for admission responses, as controller-runtime's `admission` package has."""

from __future__ import annotations

from webhook.admission.review import AdmissionResponse, Status
from webhook.policy.model import JSONPatch


def allowed(uid: str) -> AdmissionResponse:
    return AdmissionResponse(uid=uid, allowed=True)


def denied(uid: str, message: str) -> AdmissionResponse:
    return AdmissionResponse(uid=uid, allowed=False, status=Status(code=403, reason="Forbidden", message=message))


def patched(uid: str, patch: JSONPatch | None) -> AdmissionResponse:
    """Allowed, with the patch when there is one (an empty patch is no patch)."""
    return AdmissionResponse(uid=uid, allowed=True, patch=patch or None)


def errored(uid: str, *, code: int, message: str) -> AdmissionResponse:
    return AdmissionResponse(uid=uid, allowed=False, status=Status(code=code, reason="InternalError", message=message))
