"""The report for machines: `{"findings": [...], "summary": {...}}` (SPEC "Command line").

Field names and meanings are fixed by the spec; scripts and dashboards read them.
"""

from __future__ import annotations

from typing import Any

from webhook.cli.report.model import Judged, ScanReport
from webhook.policy import RefType, Violation


def report_dict(report: ScanReport) -> dict[str, Any]:
    summary = report.summary
    return {
        "findings": [finding_dict(judged, violation=violation) for judged, violation in report.findings()],
        "summary": {
            "files": summary.files,
            "documents": summary.documents,
            "objects": summary.objects,
            "configmaps": summary.configmaps,
            "workloads": summary.workloads,
            "workloads_with_findings": len(report.flagged),
            "skipped": {
                "owned": summary.skipped_owned,
                "deleting": summary.skipped_deleting,
                "files": [{"file": s.file, "reason": s.reason, "detail": s.detail} for s in report.skipped],
                "by_reason": {reason: len(skips) for reason, skips in report.skipped_by_reason().items()},
            },
            "findings": report.finding_count,
            "by_type": report.by_type(),
        },
    }


def finding_dict(judged: Judged, *, violation: Violation) -> dict[str, Any]:
    """One finding: `key` only on `env`, `mount_path` only on `subPath` (else null)."""
    return {
        "kind": judged.kind,
        "namespace": judged.namespace,
        "name": judged.name,
        "container": violation.container,
        "type": violation.type,
        "configmap": violation.configmap,
        "secret": violation.secret,
        "key": violation.key if violation.type == RefType.ENV else None,
        "mount_path": violation.mount_path if violation.type == RefType.SUB_PATH else None,
        "message": violation.message,
        "source": {
            "file": judged.source.file,
            "document": judged.source.document,
            "line": judged.source.line,
        },
    }
