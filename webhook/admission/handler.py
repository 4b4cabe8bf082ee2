"""decode → **handle** → encode: turn one AdmissionRequest into a response and a decision.

Handlers never see HTTP. They gather the ConfigMaps the policy asks for through the ports,
call the pure policy, and build the response with the small constructors. The audit record is
built from the returned `Outcome` after the answer is decided, so auditing can't change it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.admission import responses
from webhook.admission.ports import ConfigMapReader, NamespaceModes, SecretReader
from webhook.admission.review import AdmissionRequest, AdmissionResponse
from webhook.policy import (
    Decision,
    Mode,
    ObjectKind,
    Operation,
    Verdict,
    evaluate,
    names_of,
    references_of,
)
from webhook.policy.model import ConfigMapState, SecretState
from webhook.policy.namespaces import NamespaceMode


class WebhookKind(enum.StrEnum):
    MUTATING = "mutating"
    VALIDATING = "validating"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one webhook answered and why; everything an audit line or a metric needs."""

    request: AdmissionRequest
    webhook: WebhookKind
    mode: Mode
    verdict: Verdict
    """What this webhook answered (the audit log's `decision`)."""
    response: AdmissionResponse
    decision: Decision | None
    namespace_problem: str | None = None

    @property
    def patched(self) -> bool:
        return bool(self.response.patch)


def handle(
    request: AdmissionRequest,
    *,
    webhook: WebhookKind,
    configmaps: ConfigMapReader,
    namespaces: NamespaceModes,
    secrets: SecretReader | None = None,
) -> Outcome:
    """Answer one admission request as the mutating or the validating webhook.

    `secrets`: None when the installation has no hash key (Secrets are then never read)."""
    namespace_mode = namespaces.mode(namespace=request.namespace)
    skip = _untouched(request, namespace_mode)
    if skip is not None:
        return Outcome(
            request=request,
            webhook=webhook,
            mode=namespace_mode.mode,
            verdict=Verdict.SKIPPED,
            response=_annotated(responses.allowed(request.uid), Verdict.SKIPPED, 0),
            decision=skip,
            namespace_problem=namespace_mode.problem,
        )
    decision = decide(request, mode=namespace_mode.mode, configmaps=configmaps, secrets=secrets)
    if webhook is WebhookKind.MUTATING:
        response = responses.patched(request.uid, decision.patch)
        if decision.hash_warning:
            response = response.with_warnings(decision.hash_warning)
        verdict = Verdict.SKIPPED if decision.verdict is Verdict.SKIPPED else Verdict.ALLOWED
        if response.warnings:
            verdict = Verdict.WARNED
    else:
        if decision.verdict is Verdict.DENIED:
            response = responses.denied(request.uid, decision.denial_message or "denied")
        else:
            response = responses.allowed(request.uid)
        response = response.with_warnings(*decision.warnings)
        verdict = decision.verdict
    return Outcome(
        request=request,
        webhook=webhook,
        mode=namespace_mode.mode,
        verdict=verdict,
        response=_annotated(response, verdict, len(decision.violations)),
        decision=decision,
        namespace_problem=namespace_mode.problem,
    )


def decide(
    request: AdmissionRequest, *, mode: Mode, configmaps: ConfigMapReader, secrets: SecretReader | None = None
) -> Decision:
    """Look up what the policy needs, then ask it."""
    obj = _as_object(request.object)
    old = _as_object(request.old_object) if request.operation == Operation.UPDATE else None
    references = references_of(obj, kind=request.kind)
    # Only the new object's ConfigMaps and Secrets are read. On UPDATE in enforce the old
    # object's violations are compared by identity, which names the ConfigMap or Secret, so one
    # that only the old object uses can never match a new violation.
    namespace = request.namespace or _namespace_of(obj)
    found: dict[str, ConfigMapState] = {
        name: configmaps.get(namespace=namespace, name=name)
        for name in sorted(names_of(references, ObjectKind.CONFIGMAP))
    }
    found_secrets: dict[str, SecretState] | None = None
    if secrets is not None:
        found_secrets = {
            name: secrets.get(namespace=namespace, name=name)
            for name in sorted(names_of(references, ObjectKind.SECRET))
        }
    return evaluate(
        obj=obj,
        kind=request.kind,
        operation=Operation(request.operation),
        mode=mode,
        configmaps=found,
        secrets=found_secrets,
        old_obj=old,
        references=references,
    )


def _untouched(request: AdmissionRequest, namespace_mode: NamespaceMode) -> Decision | None:
    """Requests allowed without evaluation: subresources, other operations, `off` namespaces."""
    reason = None
    if request.sub_resource:
        reason = f"subresource {request.sub_resource} is not evaluated"
    elif request.operation not in (Operation.CREATE, Operation.UPDATE):
        reason = f"operation {request.operation or '(none)'} is not evaluated"
    elif namespace_mode.mode is Mode.OFF:
        reason = "namespace policy is off"
    if reason is None:
        return None
    return Decision(verdict=Verdict.SKIPPED, mode=namespace_mode.mode, kind=request.kind, skip_reason=reason)


def _annotated(response: AdmissionResponse, verdict: Verdict, violations: int) -> AdmissionResponse:
    """The decision in the API server's own audit log (SPEC `auditAnnotations`)."""
    return response.with_audit_annotations(decision=str(verdict), violations=str(violations))


def _as_object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _namespace_of(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    return namespace if isinstance(namespace, str) and namespace else "default"
