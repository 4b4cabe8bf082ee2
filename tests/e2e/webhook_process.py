"""A real `reload-safe serve` process on loopback, registered the real way: through the Mutating
and Validating WebhookConfigurations that `helm template` renders from the chart."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.process import REPO, TlsServer
from tests.envtest import free_port
from webhook.certs.dev import ensure_dev_certificates

CHART = REPO / "charts" / "reload-safe"
RELEASE = "reload-safe"
RELEASE_NAMESPACE = "reload-safe"


class WebhookServer(TlsServer):
    """`reload-safe serve --source cluster` against the given kubeconfig."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        work_dir: Path,
        default_policy: str = "warn",
        extra_args: tuple[str, ...] = (),
        port: int | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        ca_file: Path | None = None,
        own_namespace: str = RELEASE_NAMESPACE,
        tls_name: str = "127.0.0.1",
    ) -> None:
        """Development certificates for 127.0.0.1 unless a certificate is given."""
        if not (cert_file and key_file and ca_file):
            dev = ensure_dev_certificates(work_dir / "certs")
            cert_file, key_file, ca_file = dev.cert_file, dev.key_file, dev.ca_file
        super().__init__(
            name="reload-safe serve",
            log_file=work_dir / "serve.log",
            port=port or free_port(),
            ca_file=ca_file,
            tls_name=tls_name,
        )
        self.kubeconfig = kubeconfig
        self.work_dir = work_dir
        self.cert_file, self.key_file = cert_file, key_file
        self.audit_file = work_dir / "audit.jsonl"
        self.default_policy = default_policy
        self.own_namespace = own_namespace
        self.extra_args = extra_args

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca_file.read_bytes()).decode()

    def start(self, *, timeout: float = 60.0) -> WebhookServer:
        argv = [
            sys.executable,
            "-m",
            "webhook",
            "serve",
            "--port",
            str(self.port),
            "--cert-file",
            str(self.cert_file),
            "--key-file",
            str(self.key_file),
            "--source",
            "cluster",
            "--kubeconfig",
            str(self.kubeconfig),
            "--default-policy",
            self.default_policy,
            "--own-namespace",
            self.own_namespace,
            "--audit-file",
            str(self.audit_file),
            *self.extra_args,
        ]
        self.serve(argv, timeout=timeout)
        return self

    def get(self, path: str) -> tuple[int, str]:
        """GET over TLS, verifying the certificate against the CA for `tls_name`."""
        status, body = self.fetch(path)
        return status, body.decode()

    def audit_records(self) -> list[dict[str, Any]]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines() if line.strip()]


def render_webhook_configurations(
    *, helm: Path, url: str, ca_bundle: str, values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The chart's Mutating/ValidatingWebhookConfigurations, pointed at `url` with `ca_bundle`."""
    overrides = {
        "webhook": {"url": url},
        "certificates": {"mode": "provided", "provided": {"caBundle": ca_bundle}},
    }
    merged = _merge(overrides, values or {})
    values_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"reload-safe-e2e-values-{os.getpid()}.yaml"
    values_file.write_text(yaml.safe_dump(merged))
    try:
        result = subprocess.run(
            [str(helm), "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "-f", str(values_file)],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"helm template failed: {result.stderr.strip()}")
        rendered = result.stdout
    finally:
        values_file.unlink(missing_ok=True)
    kinds = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    return [doc for doc in yaml.safe_load_all(rendered) if isinstance(doc, dict) and doc.get("kind") in kinds]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def register(api_client: Any, configurations: list[dict[str, Any]]) -> None:
    """Create or replace the webhook configurations in the cluster."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    admission = client.AdmissionregistrationV1Api(api_client)
    for doc in configurations:
        name = doc["metadata"]["name"]
        if doc["kind"] == "MutatingWebhookConfiguration":
            create, replace, read = (
                admission.create_mutating_webhook_configuration,
                admission.replace_mutating_webhook_configuration,
                admission.read_mutating_webhook_configuration,
            )
        else:
            create, replace, read = (
                admission.create_validating_webhook_configuration,
                admission.replace_validating_webhook_configuration,
                admission.read_validating_webhook_configuration,
            )
        try:
            current = read(name)
        except ApiException as error:
            if error.status != 404:
                raise
            create(doc)
            continue
        replace(name, {**doc, "metadata": {**doc["metadata"], "resourceVersion": current.metadata.resource_version}})


def unregister(api_client: Any, configurations: list[dict[str, Any]]) -> None:
    from kubernetes import client

    admission = client.AdmissionregistrationV1Api(api_client)
    for doc in configurations:
        name = doc["metadata"]["name"]
        if doc["kind"] == "MutatingWebhookConfiguration":
            admission.delete_mutating_webhook_configuration(name)
        else:
            admission.delete_validating_webhook_configuration(name)
