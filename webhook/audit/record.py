"""Build one audit line's fields from what a webhook answered.

The record is built from the `Outcome` after the response is decided, so auditing can never
change an answer. It names ConfigMaps, keys and mount paths, never a ConfigMap value: the
policy's `Decision` carries no values, and nothing else is read here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from webhook.admission import AdmissionRequest, Outcome, WebhookKind
from webhook.policy import INVALID_ANNOTATION, Verdict, Violation


def rfc3339(moment: datetime) -> str:
    """UTC with milliseconds and a `Z`, e.g. 2024-05-01T12:00:00.123Z (SPEC `ts`)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_record(outcome: Outcome, *, ts: datetime, latency_ms: float) -> dict[str, Any]:
    """Every SPEC field, plus `webhook` to tell the mutating and validating lines apart."""
    decision = outcome.decision
    record = _request_fields(outcome.request, webhook=outcome.webhook, ts=ts)
    if decision is not None:
        # A CREATE with generateName has no request.name; the object may still name itself.
        record["name"] = record["name"] or decision.name
        record["namespace"] = record["namespace"] or decision.namespace
    record.update(
        mode=str(outcome.mode),
        decision=str(outcome.verdict),
        owned=bool(decision and decision.owned),
        violations=[violation_fields(v) for v in decision.violations] if decision else [],
        acknowledged=bool(decision and decision.acknowledged),
        strategies=[str(s) for s in decision.strategies] if decision else [],
        config_hash=decision.config_hash if decision else None,
        patched=outcome.patched,
        latency_ms=round(latency_ms, 3),
    )
    if decision and decision.skip_reason:
        record["skip_reason"] = decision.skip_reason
    if decision and decision.unreadable:
        record["unreadable"] = list(decision.unreadable)
    return record


def error_record(
    request: AdmissionRequest,
    *,
    webhook: WebhookKind,
    ts: datetime,
    latency_ms: float,
    error: str,
) -> dict[str, Any]:
    """The line for a request that failed inside the server (HTTP 500, decision `error`).

    `error` should be the exception's type, not its message: a message could quote input.
    """
    record = _request_fields(request, webhook=webhook, ts=ts)
    record.update(
        mode=None,
        decision=str(Verdict.ERROR),
        owned=False,
        violations=[],
        acknowledged=False,
        strategies=[],
        config_hash=None,
        patched=False,
        latency_ms=round(latency_ms, 3),
        error=error,
    )
    return record


def violation_fields(violation: Violation) -> dict[str, Any]:
    """`{container, type, configmap, key?, mount_path?}`; an invalid annotation has no container
    or ConfigMap (both null, as in `scan`'s findings) and adds its level and value."""
    if violation.type == INVALID_ANNOTATION:
        return {
            "container": None,
            "type": violation.type,
            "configmap": None,
            "level": violation.level,
            "value": violation.value,
        }
    fields: dict[str, Any] = {"container": violation.container, "type": violation.type}
    # SPEC v2: a Secret violation names `secret` instead of `configmap`.
    if violation.secret is not None:
        fields["secret"] = violation.secret
    else:
        fields["configmap"] = violation.configmap
    if violation.key is not None:
        fields["key"] = violation.key
    if violation.mount_path is not None:
        fields["mount_path"] = violation.mount_path
    return fields


def _request_fields(request: AdmissionRequest, *, webhook: WebhookKind, ts: datetime) -> dict[str, Any]:
    return {
        "ts": rfc3339(ts),
        "webhook": str(webhook),
        "uid": request.uid,
        "operation": request.operation or None,
        "kind": request.kind,
        "namespace": request.namespace,
        "name": request.name,
        "user": request.user,
        "dry_run": request.dry_run,
    }
