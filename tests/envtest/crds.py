"""CustomResourceDefinitions from their projects' pinned Go modules, installed into a test cluster.

``tests/tools/crds.sh`` copies the manifests out of the modules pinned in
``tests/tools/crds/go.mod`` (Argo Rollouts, OpenReports, Kyverno's wgpolicyk8s PolicyReport);
``install_crds`` creates them through the API server and waits until each is ``Established``,
so a test can create its custom resources right after.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml
from kubernetes import client

from tests.envtest.controlplane import TOOLS_DIR, ControlPlaneError

CRDS_SCRIPT = TOOLS_DIR / "crds.sh"

#: The CRD sets crds.sh provides, by folder name.
ARGO_ROLLOUTS = "argo-rollouts"
OPENREPORTS = "openreports"
WGPOLICYK8S = "wgpolicyk8s"


def ensure_crds() -> Path:
    """The folder holding the CRD manifests: ``$RELOAD_SAFE_CRDS`` if set (``make test`` exports it), else crds.sh's."""
    override = os.environ.get("RELOAD_SAFE_CRDS")
    if override:
        return Path(override)
    proc = subprocess.run(["bash", str(CRDS_SCRIPT)], capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise ControlPlaneError(f"{CRDS_SCRIPT} failed with exit status {proc.returncode}: {proc.stderr[-2000:]}")
    return Path(lines[-1].strip())


def crd_manifests(group: str) -> list[dict[str, object]]:
    """The CRD documents of one set (``ARGO_ROLLOUTS``, ``OPENREPORTS`` or ``WGPOLICYK8S``)."""
    folder = ensure_crds() / group
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ControlPlaneError(f"no CRD manifests in {folder}")
    documents: list[dict[str, object]] = []
    for path in files:
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict))
    return documents


def install_crds(api_client: client.ApiClient, group: str, *, timeout: float = 60.0) -> list[str]:
    """Create (or keep) the CRDs of ``group`` and wait until each is Established; return their names."""
    api = client.ApiextensionsV1Api(api_client)
    names: list[str] = []
    for manifest in crd_manifests(group):
        metadata = manifest.get("metadata")
        assert isinstance(metadata, dict)
        names.append(str(metadata["name"]))
        try:
            api.create_custom_resource_definition(manifest)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            crd = api.read_custom_resource_definition(name)
            conditions = (crd.status.conditions if crd.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending:
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}")
            time.sleep(0.2)
    return names
