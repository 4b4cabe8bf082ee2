"""`secrets.enabled=false` through the real API server (SPEC v2 "Without a hash key"): the
webhook, running as its own identity with the RBAC the chart renders for that setting, still
warns about and denies Secret references, hashes without Secret entries, and never asks the
API server for a Secret: its identity appears in the API server's audit log for ConfigMaps and
Namespaces, and never for Secrets."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from kubernetes import client

from tests.e2e.webhook_process import CHART, WebhookServer
from tests.envtest import ControlPlane
from tests.envtest.certs import issue_cert
from tests.reliability.reviews import review
from tests.support.builders import container, pod_spec, secret_env_from, workload
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

USER = "reload-safe-webhook-no-secrets"


def _identity(control_plane: ControlPlane, directory: Path) -> Path:
    """A kubeconfig for USER, whose client certificate the control plane's CA signs."""
    certs = control_plane.certs
    ca_key = load_pem_private_key(certs.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    pair = issue_cert(ca_key, ca_cert, USER, client=True)  # type: ignore[arg-type]

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": control_plane.url, "certificate-authority-data": b64(certs.ca_cert.read_bytes())},
            }
        ],
        "users": [
            {
                "name": USER,
                "user": {"client-certificate-data": b64(pair.cert_pem), "client-key-data": b64(pair.key_pem)},
            }
        ],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": USER}}],
        "current-context": "c",
    }
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _grant_the_charts_rules(control_plane: ControlPlane) -> list[dict[str, Any]]:
    """The server's ClusterRole as the chart renders it with secrets.enabled=false, bound to USER."""
    rendered = subprocess.run(
        [str(control_plane.binary("helm")), "template", "rs", str(CHART), "--set", "secrets.enabled=false"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    role = next(
        doc
        for doc in yaml.safe_load_all(rendered.stdout)
        if doc and doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == "rs-reload-safe"
    )
    rbac = client.RbacAuthorizationV1Api(control_plane.api_client())
    rbac.create_cluster_role({"metadata": {"name": USER}, "rules": role["rules"]})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": USER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": USER},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        }
    )
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def _post(server: WebhookServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    request = urllib.request.Request(
        f"https://127.0.0.1:{server.port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def test_without_the_key_secrets_are_judged_unhashed_and_never_read(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    rules = _grant_the_charts_rules(control_plane)
    assert not [r for r in rules if "secrets" in r["resources"]], "the chart grants nothing on Secrets"
    server = WebhookServer(
        kubeconfig=_identity(control_plane, tmp_path), work_dir=tmp_path / "serve", default_policy="enforce"
    ).start()
    try:
        obj = workload(
            "Deployment", pod_spec(container(envFrom=[secret_env_from("db-creds")])), name="app", namespace="team"
        )
        validated = _post(server, "/validate", review(obj, uid="v", namespace="team"))["response"]
        assert validated["allowed"] is False
        assert validated["status"]["code"] == 403
        assert 'Secret "db-creds"' in validated["status"]["message"]
        mutated = _post(server, "/mutate", review(obj, uid="m", namespace="team"))["response"]
        assert "patch" not in mutated, "only Secret references and no key: nothing to hash"
    finally:
        server.stop()

    def by_user() -> list[dict[str, Any]]:
        return [e for e in control_plane.read_audit_events() if e.get("user", {}).get("username") == USER]

    events = eventually(
        by_user, until=lambda found: any(e["objectRef"].get("resource") == "configmaps" for e in found), timeout=15.0
    )
    touched = {(e.get("verb"), e["objectRef"].get("resource")) for e in events if e.get("objectRef")}
    assert ("list", "configmaps") in touched
    assert [pair for pair in touched if pair[1] == "secrets"] == []
