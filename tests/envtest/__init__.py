"""Loopback Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager) for
reload-safe's tests.

``python -m tests.envtest`` runs one until Ctrl-C (``make cluster``); tests use
:class:`ControlPlane` directly. See docs/envtest.md.
"""

from .certs import ADMIN_GROUP, ADMIN_USER, CONTROLLER_MANAGER_USER
from .controlplane import (
    BUILD_SCRIPT,
    DEFAULT_AUDIT_POLICY,
    DEFAULT_CLI_KUBECONFIG,
    DEFAULT_CONTROLLERS,
    ControlPlane,
    ControlPlaneError,
    ensure_tools,
    free_port,
    new_namespace,
    pinned_versions,
)

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "BUILD_SCRIPT",
    "CONTROLLER_MANAGER_USER",
    "DEFAULT_AUDIT_POLICY",
    "DEFAULT_CLI_KUBECONFIG",
    "DEFAULT_CONTROLLERS",
    "ControlPlane",
    "ControlPlaneError",
    "ensure_tools",
    "free_port",
    "new_namespace",
    "pinned_versions",
]
