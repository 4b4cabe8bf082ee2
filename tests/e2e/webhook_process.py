"""A real `reload-safe serve` process on loopback, registered the real way: through the Mutating
and Validating WebhookConfigurations that `helm template` renders from the chart."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.process import REPO, ProcessGroup
from tests.envtest import free_port
from webhook.certs.dev import ensure_dev_certificates

CHART = REPO / "charts" / "reload-safe"
RELEASE = "reload-safe"
RELEASE_NAMESPACE = "reload-safe"


class WebhookServer(ProcessGroup):
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
        super().__init__(name="reload-safe serve", log_file=work_dir / "serve.log")
        self.kubeconfig = kubeconfig
        self.work_dir = work_dir
        self.port = port or free_port()
        if cert_file and key_file and ca_file:
            self.cert_file, self.key_file, self.ca_file = cert_file, key_file, ca_file
        else:
            dev = ensure_dev_certificates(work_dir / "certs")
            self.cert_file, self.key_file, self.ca_file = dev.cert_file, dev.key_file, dev.ca_file
        self.audit_file = work_dir / "audit.jsonl"
        self.default_policy = default_policy
        self.own_namespace = own_namespace
        self.tls_name = tls_name
        """The name the client verifies the serving certificate for (SNI and hostname check)."""
        self.extra_args = extra_args

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

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
        self.spawn(argv)
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        return self

    def get(self, path: str) -> tuple[int, str]:
        """GET over TLS, verifying the certificate against the CA for `tls_name`."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        connection = _NamedHTTPSConnection("127.0.0.1", self.port, tls_name=self.tls_name, context=context, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                status, body = self.get("/readyz")
                if status == 200:
                    return
                last = f"{status} {body}"
            except (OSError, ssl.SSLError) as error:
                last = str(error)
            time.sleep(0.2)
        raise RuntimeError(f"reload-safe serve not ready after {timeout}s ({last}):\n{self.log_tail()}")

    def audit_records(self) -> list[dict[str, Any]]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines() if line.strip()]


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to an address but verifies the certificate for another name, as the API
    server does when it calls a webhook Service."""

    def __init__(self, host: str, port: int, *, tls_name: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._tls_name = tls_name
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self._tls_name)


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
