"""The report for machines (`{"workloads": [...], "summary": {...}}`) and for people (a table).

JSON field names are fixed by SPEC "The cluster report"; a finding is shaped as in `scan` JSON,
without `source` (a live object has no file).
"""

from __future__ import annotations

from typing import TypedDict

from webhook.clusterreport.model import STATES, ClusterReport, WorkloadState
from webhook.policy import RefType, Violation


class FindingJSON(TypedDict):
    kind: str
    namespace: str | None
    name: str | None
    container: str | None
    type: str
    configmap: str | None
    secret: str | None
    key: str | None
    mount_path: str | None
    message: str


class WorkloadJSON(TypedDict):
    kind: str
    namespace: str
    name: str
    owned: bool
    state: str
    config_hash: str | None
    current_hash: str | None
    stale_pods: int
    pods: int
    findings: list[FindingJSON]


class SummaryJSON(TypedDict):
    workloads: int
    by_state: dict[str, int]
    pods: int
    stale_pods: int
    findings: int


class ReportJSON(TypedDict):
    workloads: list[WorkloadJSON]
    summary: SummaryJSON


def report_json(report: ClusterReport) -> ReportJSON:
    return {
        "workloads": [workload_json(workload) for workload in report.workloads],
        "summary": {
            "workloads": len(report.workloads),
            "by_state": report.by_state(),
            "pods": report.pods,
            "stale_pods": report.stale_pods,
            "findings": report.finding_count,
        },
    }


def workload_json(workload: WorkloadState) -> WorkloadJSON:
    return {
        "kind": workload.kind,
        "namespace": workload.namespace,
        "name": workload.name,
        "owned": workload.owned,
        "state": str(workload.state),
        "config_hash": workload.config_hash,
        "current_hash": workload.current_hash,
        "stale_pods": workload.stale_pods,
        "pods": workload.pods,
        "findings": [finding_json(workload, violation=violation) for violation in workload.findings],
    }


def finding_json(workload: WorkloadState, *, violation: Violation) -> FindingJSON:
    """As `scan` JSON: `key` only on `env`, `mount_path` only on `subPath` (else null)."""
    return {
        "kind": workload.kind,
        "namespace": workload.namespace,
        "name": workload.name,
        "container": violation.container,
        "type": violation.type,
        "configmap": violation.configmap,
        "secret": violation.secret,
        "key": violation.key if violation.type == RefType.ENV else None,
        "mount_path": violation.mount_path if violation.type == RefType.SUB_PATH else None,
        "message": violation.message,
    }


HEADERS = ("KIND", "NAMESPACE/NAME", "STATE", "STALE/PODS", "FINDINGS")


def render_text(report: ClusterReport) -> str:
    """A table (one row per workload), each finding's short form under its row, and a summary."""
    rows = [
        (w.kind, f"{w.namespace}/{w.name}", str(w.state), f"{w.stale_pods}/{w.pods}", str(len(w.findings)))
        for w in report.workloads
    ]
    widths = [max(len(cell) for cell in column) for column in zip(HEADERS, *rows, strict=False)]
    lines = [_line(HEADERS, widths)]
    for workload, row in zip(report.workloads, rows, strict=True):
        lines.append(_line(row, widths) + (" (owned)" if workload.owned else ""))
        if workload.unknown_reason:
            lines.append(f"    unknown: {workload.unknown_reason} (--hash-key-file)")
        lines.extend(f"    {violation.warning}" for violation in workload.findings)
    lines.append(summary_line(report))
    return "\n".join(lines)


def summary_line(report: ClusterReport) -> str:
    counts = report.by_state()
    states = ", ".join(f"{counts[str(state)]} {state}" for state in STATES)
    return (
        f"{_plural(len(report.workloads), 'workload')}: {states}; "
        f"{report.stale_pods} of {_plural(report.pods, 'pod')} stale; {_plural(report.finding_count, 'finding')}"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
