"""The chart's report and monitoring options (issue 19): the controller's report pass and its
RBAC, OpenReports or wgpolicyk8s reports, the PodMonitor, the PrometheusRule and the dashboard."""

from __future__ import annotations

import json

import pytest

from tests.chart.conftest import Manifest, Render, find, one

CONTROLLER = "rs-reload-safe-controller"


def _args(manifests: list[Manifest]) -> list[str]:
    deployment = one(manifests, "Deployment", CONTROLLER)
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def _rules(manifests: list[Manifest]) -> dict[tuple[str, str], set[str]]:
    role = one(manifests, "ClusterRole", CONTROLLER)
    return {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_the_report_pass_runs_by_default_and_may_only_list_what_it_reads(render: Render) -> None:
    manifests = render(sets=("controller.enabled=true",))
    assert "--report-interval=60" in _args(manifests)
    assert not [a for a in _args(manifests) if a.startswith("--reports")]
    rules = _rules(manifests)
    for resource in (("", "pods"), ("", "replicationcontrollers"), ("apps", "replicasets"), ("batch", "jobs")):
        assert rules[resource] == {"list"}
    assert ("openreports.io", "reports") not in rules


@pytest.mark.parametrize(
    ("api", "resource"),
    [("openreports", ("openreports.io", "reports")), ("wgpolicyk8s", ("wgpolicyk8s.io", "policyreports"))],
)
def test_reports_enabled_passes_the_api_and_grants_only_its_resource(
    render: Render, api: str, resource: tuple[str, str]
) -> None:
    manifests = render(
        sets=("controller.enabled=true", "controller.reports.enabled=true", f"controller.reports.api={api}")
    )
    assert f"--reports={api}" in _args(manifests)
    rules = _rules(manifests)
    assert rules[resource] == {"get", "create", "update"}
    other = {("openreports.io", "reports"), ("wgpolicyk8s.io", "policyreports")} - {resource}
    assert not other & set(rules)


def test_report_interval_zero_turns_the_pass_and_its_rbac_off(render: Render) -> None:
    manifests = render(sets=("controller.enabled=true", "controller.reportIntervalSeconds=0"))
    assert "--report-interval=0" in _args(manifests)
    assert ("", "pods") not in _rules(manifests)


def test_monitoring_objects_are_opt_in(render: Render) -> None:
    assert not find(render(sets=("controller.enabled=true",)), "PrometheusRule")
    manifests = render(
        sets=(
            "controller.enabled=true",
            "controller.podMonitor.enabled=true",
            "controller.prometheusRule.enabled=true",
            "controller.prometheusRule.staleFor=1h",
            "controller.grafanaDashboard.enabled=true",
        )
    )
    monitor = one(manifests, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics"}]
    (alert, *_) = one(manifests, "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert alert["alert"] == "ReloadSafeStaleWorkloads"
    assert 'reload_safe_workloads{state="stale"}' in alert["expr"]
    assert alert["for"] == "1h"
    assert "{{ $labels.namespace }}" in alert["annotations"]["summary"]
    dashboard = one(manifests, "ConfigMap", "rs-reload-safe-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    exprs = [t["expr"] for p in json.loads(dashboard["data"]["reload-safe.json"])["panels"] for t in p["targets"]]
    assert any("reload_safe_stale_pods" in e for e in exprs)
    assert any("reload_safe_workloads" in e for e in exprs)
