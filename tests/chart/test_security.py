"""Pod Security "restricted" for every pod the chart creates, and least-privilege RBAC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import SCENARIOS, Manifest, Render, find, one, pod_specs, scenario

SCENARIO_PARAMS = [pytest.param(path, id=path.name.removesuffix("-values.yaml")) for path in SCENARIOS]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*", "escalate", "bind", "impersonate"}


@pytest.mark.parametrize("values", SCENARIO_PARAMS)
def test_every_pod_is_restricted(render: Render, values: Path) -> None:
    for label, spec in pod_specs(render(values=(values,))):
        pod_context = spec.get("securityContext", {})
        assert pod_context.get("runAsNonRoot") is True, label
        assert pod_context.get("seccompProfile", {}).get("type") == "RuntimeDefault", label
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host_namespace), label
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, label
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            where = f"{label} container {container['name']}"
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert not context["capabilities"].get("add"), where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            assert context.get("runAsNonRoot", True) is True, where
            assert not context.get("privileged"), where
            assert {"name": "tmp", "mountPath": "/tmp"} in container.get("volumeMounts", []), where
            assert "memory" in container["resources"]["limits"], where
            assert "cpu" not in container["resources"].get("limits", {}), where


def test_default_user_is_65532(render: Render) -> None:
    deployment = one(render(), "Deployment")
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert context["runAsUser"] == 65532
    assert context["runAsGroup"] == 65532


def rules_of(manifests: list[Manifest], kind: str, name: str) -> list[Manifest]:
    rules: list[Manifest] = one(manifests, kind, name)["rules"]
    return rules


def bound_roles(manifests: list[Manifest], service_account: str) -> list[tuple[str, str]]:
    roles = []
    for binding in find(manifests, "ClusterRoleBinding") + find(manifests, "RoleBinding"):
        if any(s["kind"] == "ServiceAccount" and s["name"] == service_account for s in binding["subjects"]):
            roles.append((binding["roleRef"]["kind"], binding["roleRef"]["name"]))
    return roles


READS = ["get", "list", "watch"]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        pytest.param(
            (),
            [
                {"apiGroups": [""], "resources": ["configmaps", "namespaces"], "verbs": READS},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": READS},
            ],
            id="secrets-enabled",
        ),
        pytest.param(
            ("secrets.enabled=false",),
            [{"apiGroups": [""], "resources": ["configmaps", "namespaces"], "verbs": READS}],
            id="secrets-disabled",
        ),
    ],
)
def test_server_role_only_reads(render: Render, sets: tuple[str, ...], expected: list[dict[str, Any]]) -> None:
    manifests = render(sets=sets)
    deployment = one(manifests, "Deployment")
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    roles = bound_roles(manifests, service_account)
    assert roles == [("ClusterRole", deployment["metadata"]["name"])]
    rules = rules_of(manifests, *roles[0])
    assert rules == expected
    assert not {verb for rule in rules for verb in rule["verbs"]} & WRITE_VERBS


@pytest.mark.parametrize("values", SCENARIO_PARAMS)
def test_no_wildcards_anywhere(render: Render, values: Path) -> None:
    for role in find(render(values=(values,)), "ClusterRole") + find(render(values=(values,)), "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role['metadata']['name']} {field}"


def test_certs_hook_rbac_is_scoped_to_named_objects(render: Render) -> None:
    manifests = render()
    job = next(j for j in find(manifests, "Job") if j["metadata"]["name"].endswith("-certs-pre"))
    service_account = job["spec"]["template"]["spec"]["serviceAccountName"]
    roles = dict(bound_roles(manifests, service_account))
    namespaced = rules_of(manifests, "Role", roles["Role"])
    secret_names = {"rs-reload-safe-tls", "rs-reload-safe-ca"}
    assert {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": sorted(secret_names, reverse=True),
        "verbs": ["get", "update"],
    } in namespaced
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]} in namespaced
    assert len(namespaced) == 2
    cluster = rules_of(manifests, "ClusterRole", roles["ClusterRole"])
    assert cluster == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            "resourceNames": [one(manifests, "MutatingWebhookConfiguration")["metadata"]["name"]],
            "verbs": ["get", "patch"],
        }
    ]
    assert (
        one(manifests, "MutatingWebhookConfiguration")["metadata"]["name"]
        == one(manifests, "ValidatingWebhookConfiguration")["metadata"]["name"]
    )


def test_certs_hook_objects_are_hooks_deleted_after_success(render: Render) -> None:
    for manifest in render():
        if manifest["metadata"]["name"] == "rs-reload-safe-certs-hook":
            annotations = manifest["metadata"]["annotations"]
            assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade,post-install,post-upgrade"
            assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
            assert int(annotations["helm.sh/hook-weight"]) < 0


def test_controller_rbac(render: Render) -> None:
    manifests = render(values=(scenario("controller-enabled"),))
    deployment = one(manifests, "Deployment", "rs-reload-safe-controller")
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    roles = dict(bound_roles(manifests, service_account))
    cluster = {
        (group, resource): set(rule["verbs"])
        for rule in rules_of(manifests, "ClusterRole", roles["ClusterRole"])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert cluster == {
        ("", "configmaps"): {"get", "list", "watch"},
        ("", "namespaces"): {"get", "list", "watch"},
        ("apps", "deployments"): {"get", "list", "watch", "patch"},
        ("apps", "statefulsets"): {"get", "list", "watch", "patch"},
        ("apps", "daemonsets"): {"get", "list", "watch", "patch"},
        ("batch", "cronjobs"): {"get", "list", "watch", "patch"},
        ("argoproj.io", "rollouts"): {"get", "list", "watch", "patch"},
        # the report pass (reload_safe_workloads, reload_safe_stale_pods): lists only
        ("", "pods"): {"list"},
        ("", "replicationcontrollers"): {"list"},
        ("apps", "replicasets"): {"list"},
        ("batch", "jobs"): {"list"},
        ("", "secrets"): {"get", "list", "watch"},
        ("", "events"): {"create", "patch"},
        ("events.k8s.io", "events"): {"create", "patch"},
    }
    role = one(manifests, "Role", roles["Role"])
    assert role["metadata"]["namespace"] == "rs-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]


def test_rbac_create_false_renders_no_roles(render: Render) -> None:
    manifests = render(sets=("rbac.create=false", "controller.enabled=true", "certificates.mode=cert-manager"))
    assert not find(manifests, "ClusterRole")
    assert not find(manifests, "Role")
