"""The cluster report as policy-report objects: one per namespace, for the dashboards that read them.

OpenReports `Report` (`openreports.io/v1alpha1`) by default, or the older wgpolicyk8s
`PolicyReport` (`wgpolicyk8s.io/v1alpha2`) that Policy Reporter and many dashboards still read;
both have the same result schema. Per workload, one `config-state` result (SPEC: `fail` for
`stale`, `warn` for `changed`, `pass` otherwise) and, when it has findings under `enforce`
rules, one `unsafe-reference` result (`fail`). No timestamp: the object is rewritten only when
its content changes, which a clock would defeat.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from webhook.clusterreport.model import State, WorkloadState

SOURCE: Final = "reload-safe"
POLICY: Final = "reload-safe"
REPORT_NAME: Final = "reload-safe"
CONFIG_STATE: Final = "config-state"
UNSAFE_REFERENCE: Final = "unsafe-reference"

API_VERSIONS: Final[Mapping[str, str]] = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "ReplicationController": "v1",
    "Pod": "v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Rollout": "argoproj.io/v1alpha1",
}

_RESULT: Final = {State.STALE: ("fail", "high"), State.CHANGED: ("warn", "low")}
_MESSAGES: Final = {
    State.CURRENT: "runs the configuration it consumes now",
    State.STALE: "its pods started with configuration that has since changed and will not see the change",
    State.CHANGED: "configuration changed in live-updated volumes only: the files changed in place",
    State.UNKNOWN: "no config hash on its pod template: created before reload-safe, or in an off namespace",
    State.NONE: "consumes no ConfigMap or Secret",
}


class ReportApi(enum.Enum):
    """Which report resource to write (chart `controller.reports.api`)."""

    OPENREPORTS = ("openreports.io", "v1alpha1", "reports", "Report")
    WGPOLICYK8S = ("wgpolicyk8s.io", "v1alpha2", "policyreports", "PolicyReport")

    @property
    def group(self) -> str:
        return self.value[0]

    @property
    def version(self) -> str:
        return self.value[1]

    @property
    def plural(self) -> str:
        return self.value[2]

    @property
    def kind(self) -> str:
        return self.value[3]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


def policy_report(workloads: list[WorkloadState], *, namespace: str, api: ReportApi) -> dict[str, Any]:
    """The report object of one namespace: results, summary, labels; no status, no timestamp."""
    results = [result for workload in workloads for result in _results(workload)]
    summary = dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)
    for result in results:
        summary[result["result"]] += 1
    body: dict[str, Any] = {
        "apiVersion": api.api_version,
        "kind": api.kind,
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": SOURCE},
        },
        "results": results,
        "summary": summary,
    }
    if api is ReportApi.OPENREPORTS:
        body["source"] = SOURCE
    return body


def content_of(report: Mapping[str, Any]) -> tuple[Any, Any]:
    """What decides whether a stored report must be rewritten: its results and summary."""
    return report.get("results") or [], report.get("summary") or {}


def _results(workload: WorkloadState) -> list[dict[str, Any]]:
    resource = {
        "apiVersion": API_VERSIONS.get(workload.kind, "v1"),
        "kind": workload.kind,
        "name": workload.name,
        "namespace": workload.namespace,
        **({"uid": workload.uid} if workload.uid else {}),
    }
    outcome, severity = _RESULT.get(workload.state, ("pass", "info"))
    message = workload.unknown_reason if workload.unknown_reason else _MESSAGES[workload.state]
    results = [
        {
            "source": SOURCE,
            "policy": POLICY,
            "rule": CONFIG_STATE,
            "result": outcome,
            "severity": severity,
            "message": message,
            "resources": [resource],
            "properties": {
                "state": str(workload.state),
                "pods": str(workload.pods),
                "stalePods": str(workload.stale_pods),
            },
        }
    ]
    if workload.findings:
        count = len(workload.findings)
        results.append(
            {
                "source": SOURCE,
                "policy": POLICY,
                "rule": UNSAFE_REFERENCE,
                "result": "fail",
                "severity": "medium",
                "message": f"{count} unsafe reference{'s' if count > 1 else ''}: {workload.findings[0].warning}",
                "resources": [resource],
            }
        )
    return results
