"""`helm install` of the chart into the real control plane, self-managed certificates.

There is no kubelet or kube-proxy here, so the parts of the release that need them are played
by local processes: the certificate hook Job's logic is `reload-safe certs ensure` run against
the API server (as the Job would), the webhook Deployment is a local `reload-safe serve` with
the Secret's certificate, and the chart's Service is turned into an ExternalName for
`localhost` — the API server resolves it to the local process and still verifies the serving
certificate for `<service>.<namespace>.svc`, exactly as in a cluster.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.kube import Kube
from tests.e2e.webhook_process import CHART, WebhookServer
from tests.envtest import ControlPlane, free_port
from tests.support.builders import container, env_from, pod_spec, workload
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION

pytestmark = pytest.mark.e2e

RELEASE = "rs"
NAMESPACE = "rs-install"
FULLNAME = "rs-reload-safe"


def test_helm_install_with_self_managed_certificates_warns_and_denies(
    control_plane: ControlPlane, kube: Kube, namespace: Callable[..., str], tmp_path: Path
) -> None:
    port = free_port()
    helm = str(control_plane.binary("helm"))
    env = {"KUBECONFIG": str(control_plane.kubeconfig_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    install = subprocess.run(
        [helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
         "--no-hooks", "--set", f"service.port={port}", "--set", "replicaCount=1"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    core = client.CoreV1Api(kube.api)
    admission = client.AdmissionregistrationV1Api(kube.api)
    assert admission.read_validating_webhook_configuration(FULLNAME).webhooks[0].client_config.ca_bundle is None

    # The hook Job's logic, as a local process against the API server.
    ensure = subprocess.run(
        [sys.executable, "-m", "webhook", "certs", "ensure", "--kubeconfig", str(control_plane.kubeconfig_path),
         "--secret", f"{FULLNAME}-tls", "--namespace", NAMESPACE, "--service", FULLNAME,
         "--mutating", FULLNAME, "--validating", FULLNAME],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ensure.returncode == 0, ensure.stderr + ensure.stdout
    secret = core.read_namespaced_secret(f"{FULLNAME}-tls", NAMESPACE)
    ca_bundle = secret.data["ca.crt"]
    for configuration in (
        admission.read_mutating_webhook_configuration(FULLNAME),
        admission.read_validating_webhook_configuration(FULLNAME),
    ):
        assert [w.client_config.ca_bundle for w in configuration.webhooks] == [ca_bundle]
        assert configuration.webhooks[0].client_config.service.name == FULLNAME

    # The Deployment's pod, played by a local process serving the Secret's certificate.
    certs = tmp_path / "tls"
    certs.mkdir()
    for key in ("tls.crt", "tls.key", "ca.crt"):
        (certs / key).write_bytes(base64.b64decode(secret.data[key]))
    (certs / "tls.key").chmod(0o600)
    server = WebhookServer(
        kubeconfig=control_plane.kubeconfig_path,
        work_dir=tmp_path,
        port=port,
        cert_file=certs / "tls.crt",
        key_file=certs / "tls.key",
        ca_file=certs / "ca.crt",
        own_namespace=NAMESPACE,
        tls_name=f"{FULLNAME}.{NAMESPACE}.svc",
    )
    server.start()
    try:
        # kube-proxy's part: route the chart's Service to the local process.
        core.patch_namespaced_service(
            FULLNAME, NAMESPACE, {"spec": {"type": "ExternalName", "externalName": "localhost", "clusterIP": None,
                                            "clusterIPs": None, "selector": None}},
        )  # fmt: skip
        ns = namespace("warn")
        kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env-config"},
                    "data": {"log_level": "INFO"}}, namespace=ns)  # fmt: skip
        obj = workload("Deployment", pod_spec(container(envFrom=[env_from("env-config")])), namespace=None)
        warned = kube.apply(obj, namespace=ns)
        assert warned.ok, warned.body
        assert any("envFrom ConfigMap env-config never reloads" in w for w in warned.warnings)
        assert HASH_ANNOTATION in warned.body["spec"]["template"]["metadata"]["annotations"]
        eventually(
            lambda: [r for r in server.audit_records() if r.get("namespace") == ns],
            timeout=5,
            interval=0.1,
            what="an audit line from the installed release's webhook",
        )

        denied = kube.apply({**obj, "metadata": {"name": "other"}}, namespace=namespace("enforce"))
        assert denied.status == 403
        assert 'admission webhook "validate.reload-safe.io" denied the request' in denied.message
    finally:
        server.stop()
        subprocess.run([helm, "uninstall", RELEASE, "--namespace", NAMESPACE, "--no-hooks"], env=env, check=False,
                       capture_output=True)  # fmt: skip
