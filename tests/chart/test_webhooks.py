"""The two webhook configurations: what is sent, where, and what happens when it fails."""

from __future__ import annotations

import base64

import pytest
import yaml

from tests.chart.conftest import CHART, NAMESPACE, RELEASE, Manifest, Render, find, one, run_helm, scenario

KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
EXPECTED_RESOURCES = {
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("argoproj.io", "rollouts"),
}

API_VERSIONS = {"": ["v1"], "apps": ["v1"], "batch": ["v1"], "argoproj.io": ["v1alpha1"]}


def webhook(manifests: list[Manifest], kind: str) -> Manifest:
    configuration = one(manifests, kind)
    assert len(configuration["webhooks"]) == 1
    hook: Manifest = configuration["webhooks"][0]
    return hook


@pytest.mark.parametrize("kind", KINDS)
def test_common_settings(render: Render, kind: str) -> None:
    hook = webhook(render(), kind)
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "None"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["timeoutSeconds"] == 5


@pytest.mark.parametrize("kind", KINDS)
def test_rules_cover_every_workload_kind_on_create_and_update(render: Render, kind: str) -> None:
    rules = webhook(render(), kind)["rules"]
    covered = set()
    for rule in rules:
        assert rule["operations"] == ["CREATE", "UPDATE"]
        assert rule["scope"] == "Namespaced"
        assert rule["apiVersions"] == API_VERSIONS[rule["apiGroups"][0]]
        assert all("/" not in resource for resource in rule["resources"]), "no subresources"
        covered |= {(group, resource) for group in rule["apiGroups"] for resource in rule["resources"]}
    assert covered == EXPECTED_RESOURCES


@pytest.mark.parametrize("kind", KINDS)
def test_namespace_selector_excludes_system_release_and_off(render: Render, kind: str) -> None:
    expressions = webhook(render(sets=("webhook.excludedNamespaces={team-x}",)), kind)["namespaceSelector"][
        "matchExpressions"
    ]
    by_key = {e["key"]: e for e in expressions}
    names = by_key["kubernetes.io/metadata.name"]
    assert names["operator"] == "NotIn"
    assert set(names["values"]) == {"kube-system", "kube-node-lease", NAMESPACE, "team-x"}
    policy = by_key["reload-safe.io/policy"]
    assert policy["operator"] == "NotIn"
    assert policy["values"] == ["off"]


def test_release_namespace_listed_once_even_if_repeated(render: Render) -> None:
    hook = webhook(render(sets=(f"webhook.excludedNamespaces={{{NAMESPACE},kube-system}}",)), KINDS[0])
    values = hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert len(values) == len(set(values))


@pytest.mark.parametrize(
    ("values", "validating"),
    [
        pytest.param("default", "Ignore", id="default"),
        pytest.param("ha", "Fail", id="ha"),
    ],
)
def test_failure_policies(render: Render, values: str, validating: str) -> None:
    manifests = render(values=(scenario(values),))
    mutating = webhook(manifests, "MutatingWebhookConfiguration")
    assert mutating["failurePolicy"] == "Ignore"
    assert mutating["reinvocationPolicy"] == "IfNeeded"
    assert webhook(manifests, "ValidatingWebhookConfiguration")["failurePolicy"] == validating
    assert "reinvocationPolicy" not in webhook(manifests, "ValidatingWebhookConfiguration")


def test_mutating_failure_policy_is_not_configurable(render: Render) -> None:
    manifests = render(sets=("webhook.failurePolicy=Fail",))
    assert webhook(manifests, "MutatingWebhookConfiguration")["failurePolicy"] == "Ignore"


def test_timeout_configurable(render: Render) -> None:
    manifests = render(sets=("webhook.timeoutSeconds=2",))
    assert {webhook(manifests, kind)["timeoutSeconds"] for kind in KINDS} == {2}


@pytest.mark.parametrize(
    ("kind", "path"), [("MutatingWebhookConfiguration", "/mutate"), ("ValidatingWebhookConfiguration", "/validate")]
)
def test_service_client_config(render: Render, kind: str, path: str) -> None:
    manifests = render()
    client = webhook(manifests, kind)["clientConfig"]
    service = one(manifests, "Service")
    assert client["service"] == {"name": service["metadata"]["name"], "namespace": NAMESPACE, "path": path, "port": 443}
    assert service["spec"]["ports"][0]["port"] == 443
    assert "caBundle" not in client  # self-managed: injected by the certs hook


@pytest.mark.parametrize(
    ("kind", "path"), [("MutatingWebhookConfiguration", "/mutate"), ("ValidatingWebhookConfiguration", "/validate")]
)
def test_url_client_config(render: Render, kind: str, path: str) -> None:
    manifests = render(values=(scenario("url"),))
    client = webhook(manifests, kind)["clientConfig"]
    assert client["url"] == f"https://127.0.0.1:8443{path}"
    assert "service" not in client
    assert base64.b64decode(client["caBundle"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert {m["kind"] for m in manifests} == set(KINDS), "no in-cluster server in url mode"


def test_url_trailing_slash_and_pem_ca_bundle(render: Render) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----"
    manifests = render(
        sets=(
            "webhook.url=https://localhost:9443/",
            "certificates.mode=provided",
            f"certificates.provided.caBundle={pem}",
        )
    )
    client = webhook(manifests, "ValidatingWebhookConfiguration")["clientConfig"]
    assert client["url"] == "https://localhost:9443/validate"
    assert base64.b64decode(client["caBundle"]).decode() == pem


def test_cert_manager_injects_ca_into_both(render: Render) -> None:
    manifests = render(values=(scenario("cert-manager"),))
    serving = [c for c in find(manifests, "Certificate") if not c["spec"].get("isCA")]
    assert len(serving) == 1
    reference = f"{NAMESPACE}/{serving[0]['metadata']['name']}"
    for kind in KINDS:
        configuration = one(manifests, kind)
        assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == reference
        assert "caBundle" not in configuration["webhooks"][0]["clientConfig"]


def test_provided_ca_bundle_in_both(render: Render) -> None:
    manifests = render(values=(scenario("provided"),))
    bundles = {webhook(manifests, kind)["clientConfig"]["caBundle"] for kind in KINDS}
    assert len(bundles) == 1
    ca_file = one(manifests, "ConfigMap")["data"]["ca.crt"]
    assert base64.b64decode(bundles.pop()).decode().strip() == ca_file.strip()


def test_object_selector_and_extra_expressions(render: Render) -> None:
    manifests = render(
        sets=(
            "webhook.objectSelector.matchLabels.reload-safe\\.io/webhook=opted-out",
            "webhook.namespaceSelectorExpressions[0].key=team",
            "webhook.namespaceSelectorExpressions[0].operator=Exists",
        )
    )
    for kind in KINDS:
        hook = webhook(manifests, kind)
        assert hook["objectSelector"] == {"matchLabels": {"reload-safe.io/webhook": "opted-out"}}
        assert {"key": "team", "operator": "Exists"} in hook["namespaceSelector"]["matchExpressions"]


def rendered_webhooks(helm: str, *args: str) -> dict[str, Manifest]:
    """Both webhooks from `helm template` with `args` (e.g. --kube-version), by configuration kind."""
    result = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    manifests = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return {kind: webhook(manifests, kind) for kind in KINDS}


def test_owned_objects_are_not_sent_where_the_cluster_supports_match_conditions(helm: str) -> None:
    # Without --kube-version helm assumes its own Kubernetes version (1.37 for the pinned helm).
    for args in ((), ("--kube-version", "1.28.0"), ("--kube-version", "1.30.4"), ("--kube-version", "v1.29.3-gke.1")):
        for kind, hook in rendered_webhooks(helm, *args).items():
            assert [c["name"] for c in hook["matchConditions"]] == ["not-controller-owned"], (args, kind)
            expression = hook["matchConditions"][0]["expression"]
            assert "object.metadata.ownerReferences.exists(r, has(r.controller) && r.controller == true)" in expression
            assert "oldObject.metadata.ownerReferences" in expression, "DELETE has only oldObject"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--kube-version", "1.27.0"), id="kubernetes-1.27"),
        pytest.param(("--kube-version", "1.27.16"), id="kubernetes-1.27.16"),
        pytest.param(("--set", "webhook.skipOwnedObjects=false"), id="turned-off"),
    ],
)
def test_no_match_conditions_before_1_28_or_when_turned_off(helm: str, args: tuple[str, ...]) -> None:
    hooks = rendered_webhooks(helm, *args)
    assert set(hooks) == set(KINDS)
    for hook in hooks.values():
        assert "matchConditions" not in hook
        assert hook["rules"], "the rest of the webhook is rendered as before"


def test_skip_owned_objects_must_be_a_boolean(helm: str) -> None:
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set-string", "webhook.skipOwnedObjects=no")
    assert result.returncode != 0
    assert "skipOwnedObjects" in result.stderr
