"""The CRDs fetched from their projects' pinned Go modules install into the real API server,
and their resources can be created: what the Argo Rollouts and Reports tests build on."""

from __future__ import annotations

from kubernetes import client

from tests.envtest import ControlPlane, new_namespace
from tests.envtest.crds import ARGO_ROLLOUTS, OPENREPORTS, WGPOLICYK8S, install_crds


def test_rollout_report_and_policyreport_crds_are_served(control_plane: ControlPlane) -> None:
    api_client = control_plane.api_client()
    names = {name for group in (ARGO_ROLLOUTS, OPENREPORTS, WGPOLICYK8S) for name in install_crds(api_client, group)}
    assert {
        "rollouts.argoproj.io",
        "reports.openreports.io",
        "clusterreports.openreports.io",
        "policyreports.wgpolicyk8s.io",
        "clusterpolicyreports.wgpolicyk8s.io",
    } <= names
    namespace = new_namespace(api_client, prefix="crds")
    custom = client.CustomObjectsApi(api_client)
    rollout = custom.create_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        namespace,
        "rollouts",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "r"},
            "spec": {
                "selector": {"matchLabels": {"app": "r"}},
                "template": {
                    "metadata": {"labels": {"app": "r"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
                "strategy": {"canary": {}},
            },
        },
    )
    assert rollout["spec"]["template"]["spec"]["containers"][0]["name"] == "c"
    report = custom.create_namespaced_custom_object(
        "openreports.io",
        "v1alpha1",
        namespace,
        "reports",
        {
            "apiVersion": "openreports.io/v1alpha1",
            "kind": "Report",
            "metadata": {"name": "reload-safe"},
            "results": [{"source": "reload-safe", "policy": "reload-safe", "rule": "config-state", "result": "pass"}],
            "summary": {"pass": 1},
        },
    )
    assert report["results"][0]["result"] == "pass"
    policy_report = custom.create_namespaced_custom_object(
        "wgpolicyk8s.io",
        "v1alpha2",
        namespace,
        "policyreports",
        {
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": "PolicyReport",
            "metadata": {"name": "reload-safe"},
            "results": [{"source": "reload-safe", "policy": "reload-safe", "rule": "config-state", "result": "pass"}],
        },
    )
    assert policy_report["results"][0]["policy"] == "reload-safe"
