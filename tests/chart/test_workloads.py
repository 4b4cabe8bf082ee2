"""The webhook Deployment and its companions: availability, probes, TLS, controller, hooks."""

from __future__ import annotations

import pytest

from tests.chart.conftest import NAMESPACE, Manifest, Render, find, one, scenario


def webhook_deployment(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "Deployment", "rs-reload-safe")


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def test_defaults(render: Render) -> None:
    deployment = webhook_deployment(render())
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_selectors_match(render: Render) -> None:
    manifests = render(values=(scenario("networkpolicy-servicemonitor"),))
    deployment = webhook_deployment(manifests)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert one(manifests, "Service")["spec"]["selector"] == selector
    assert one(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert one(manifests, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == selector
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= one(manifests, "Service")["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_probes_and_ports(render: Render) -> None:
    webhook = container(webhook_deployment(render()))
    assert webhook["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    assert webhook["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert webhook["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}


def test_server_args_and_tls_mount(render: Render) -> None:
    manifests = render(sets=("server.workers=2", "server.threads=8", "server.defaultPolicy=audit"))
    deployment = webhook_deployment(manifests)
    webhook = container(deployment)
    assert webhook["args"][0] == "serve"
    assert set(webhook["args"][1:]) == {
        "--port=8443",
        "--cert-file=/etc/reload-safe/tls/tls.crt",
        "--key-file=/etc/reload-safe/tls/tls.key",
        "--default-policy=audit",
        "--log-level=info",
        "--workers=2",
        "--threads=8",
        "--hash-key-file=/etc/reload-safe/hash-key/hash-key",
    }
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in webhook["env"]
    mount = next(m for m in webhook["volumeMounts"] if m["name"] == "tls")
    assert mount == {"name": "tls", "mountPath": "/etc/reload-safe/tls", "readOnly": True}
    assert "subPath" not in mount  # a subPath mount would never see the renewed certificate
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "rs-reload-safe-tls"
    assert "emptyDir" in volumes["tmp"]


@pytest.mark.parametrize(
    ("values", "secret"),
    [
        pytest.param("default", "rs-reload-safe-tls", id="self-managed"),
        pytest.param("cert-manager", "rs-reload-safe-tls", id="cert-manager"),
        pytest.param("provided", "my-webhook-tls", id="provided"),
    ],
)
def test_tls_secret_per_mode(render: Render, values: str, secret: str) -> None:
    manifests = render(values=(scenario(values),))
    volumes = {v["name"]: v for v in webhook_deployment(manifests)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == secret
    certificates = [c for c in find(manifests, "Certificate") if not c["spec"].get("isCA")]
    if values == "cert-manager":
        assert certificates[0]["spec"]["secretName"] == secret
        assert f"rs-reload-safe.{NAMESPACE}.svc" in certificates[0]["spec"]["dnsNames"]


def test_client_ca(render: Render) -> None:
    manifests = render(sets=("server.clientCA.configMap=apiserver-client-ca",))
    deployment = webhook_deployment(manifests)
    assert "--client-ca-file=/etc/reload-safe/client-ca/ca.crt" in container(deployment)["args"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["client-ca"]["configMap"]["name"] == "apiserver-client-ca"


def test_resources_memory_limit_no_cpu_limit(render: Render) -> None:
    resources = container(webhook_deployment(render()))["resources"]
    assert "memory" in resources["limits"]
    assert "cpu" not in resources["limits"]
    assert "cpu" in resources["requests"]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        pytest.param((), {"minAvailable": 1}, id="default"),
        pytest.param(("replicaCount=1",), None, id="single-replica-no-pdb"),
        pytest.param(("podDisruptionBudget.enabled=false",), None, id="disabled"),
        pytest.param(("podDisruptionBudget.maxUnavailable=1",), {"maxUnavailable": 1}, id="max-unavailable"),
    ],
)
def test_pod_disruption_budget(render: Render, sets: tuple[str, ...], expected: dict[str, int] | None) -> None:
    budgets = find(render(sets=sets), "PodDisruptionBudget")
    if expected is None:
        assert budgets == []
    else:
        spec = budgets[0]["spec"]
        assert {k: v for k, v in spec.items() if k in {"minAvailable", "maxUnavailable"}} == expected


def test_ha_scenario(render: Render) -> None:
    manifests = render(values=(scenario("ha"),))
    spec = webhook_deployment(manifests)["spec"]
    assert spec["replicas"] == 3
    assert spec["template"]["spec"]["priorityClassName"] == "system-cluster-critical"
    assert "requiredDuringSchedulingIgnoredDuringExecution" in spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert one(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 2


def test_controller_disabled_by_default(render: Render) -> None:
    assert not find(render(), "Deployment", "rs-reload-safe-controller")


def test_controller_enabled(render: Render) -> None:
    manifests = render(values=(scenario("controller-enabled"),))
    deployment = one(manifests, "Deployment", "rs-reload-safe-controller")
    controller = container(deployment)
    assert controller["args"][:3] == ["controller", "--leader-election-namespace", NAMESPACE]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
    webhook_selector = webhook_deployment(manifests)["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["selector"]["matchLabels"] != webhook_selector


def test_self_managed_hook_jobs(render: Render) -> None:
    manifests = render()
    jobs = {j["metadata"]["name"]: j for j in find(manifests, "Job")}
    assert set(jobs) == {"rs-reload-safe-certs-pre", "rs-reload-safe-certs-post", "rs-reload-safe-hash-key-hook"}
    pre, post = jobs["rs-reload-safe-certs-pre"], jobs["rs-reload-safe-certs-post"]
    assert pre["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert post["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    pre_args = pre["spec"]["template"]["spec"]["containers"][0]["args"]
    post_args = post["spec"]["template"]["spec"]["containers"][0]["args"]
    assert pre_args[:2] == ["certs", "ensure"]
    assert "--allow-missing-webhooks" in pre_args
    assert "--allow-missing-webhooks" not in post_args
    for expected in (
        "--secret=rs-reload-safe-tls",
        "--ca-secret=rs-reload-safe-ca",
        f"--namespace={NAMESPACE}",
        "--service=rs-reload-safe",
        "--mutating=rs-reload-safe",
        "--validating=rs-reload-safe",
    ):
        assert expected in pre_args
        assert expected in post_args
    cron = one(manifests, "CronJob")
    cron_args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert cron_args == post_args
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("values", ["cert-manager", "provided", "url"])
def test_no_certs_jobs_outside_self_managed(render: Render, values: str) -> None:
    manifests = render(values=(scenario(values),))
    assert not [j for j in find(manifests, "Job") if "-certs" in j["metadata"]["name"]]
    assert not find(manifests, "CronJob")


def test_renewal_cronjob_optional(render: Render) -> None:
    manifests = render(sets=("certificates.selfManaged.renewal.enabled=false",))
    assert not find(manifests, "CronJob")
    assert not [m for m in manifests if m["metadata"]["name"] == "rs-reload-safe-certs"]


@pytest.mark.parametrize(
    ("values", "source"),
    [
        pytest.param("default", "secret", id="self-managed"),
        pytest.param("provided", "configMap", id="provided"),
    ],
)
def test_helm_test_pod_checks_tls(render: Render, values: str, source: str) -> None:
    pod = one(render(values=(scenario(values),)), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    test_container = pod["spec"]["containers"][0]
    assert test_container["command"] == ["python", "-c"]
    script = test_container["args"][0]
    assert f"https://rs-reload-safe.{NAMESPACE}.svc:443" in script
    assert "/healthz" in script
    assert 'cafile="/etc/reload-safe/ca/ca.crt"' in script
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "ca")
    assert source in volume
    compile(script, "helm-test", "exec")


def test_image(render: Render) -> None:
    assert container(webhook_deployment(render()))["image"] == "reload-safe:0.1.0"
    digest = "sha256:" + "a" * 64
    pinned = render(sets=("image.repository=registry.example/reload-safe", f"image.digest={digest}"))
    assert container(webhook_deployment(pinned))["image"] == f"registry.example/reload-safe@{digest}"
