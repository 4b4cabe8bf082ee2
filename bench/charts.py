"""Rendered Helm charts, as `helm template` prints them, for the scan benchmark.

What real rendered charts hold (measured on the charts of well-known repositories): few
workloads among many other documents (ServiceAccounts, RBAC, Services, monitoring rules,
webhooks), and CustomResourceDefinitions that are most of the bytes: deep openAPIV3Schema trees
with long descriptions and enums (kube-prometheus's include the plain scalar `=`). Each document
follows a `# Source: chart/templates/file.yaml` comment, as helm writes it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, Final

import yaml

_Dumper: Final[Any] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
WORDS: Final = (
    *("the", "field", "of", "the", "resource", "that", "selects", "which", "pods", "are", "matched"),
    *("when", "the", "controller", "reconciles", "its", "status", "and", "reports", "conditions"),
    *("to", "the", "API", "server", "and", "defaults", "apply", "if", "unset"),
)


def rendered(*, charts: int, seed: int) -> tuple[str, int]:
    """(the concatenated output of `charts` rendered charts, the number of workloads in it)."""
    rng = random.Random(seed)
    parts: list[str] = []
    workloads = 0
    for index in range(charts):
        name = f"chart{index}"
        for template, obj in _chart(rng, name=name, with_crds=index % 8 == 0):
            workloads += obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"}
            body = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
            body = body.replace("- '='\n", "- =\n")  # as kube-prometheus has it; PyYAML would quote it
            parts.append(f"---\n# Source: {name}/templates/{template}\n{body}")
    return "".join(parts), workloads


def _chart(rng: random.Random, *, name: str, with_crds: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": "release-name",
        "helm.sh/chart": f"{name}-1.2.3",
        "app.kubernetes.io/managed-by": "Helm",
    }
    meta = {"name": f"release-name-{name}", "labels": labels}
    if with_crds:
        for crd in range(3):
            yield f"crds/crd-{crd}.yaml", _crd(rng, group=f"{name}.example.com", kind=f"Thing{crd}")
    yield "serviceaccount.yaml", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    yield (
        "clusterrole.yaml",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta,
            "rules": [
                {"apiGroups": [""], "resources": [f"res{i}", f"res{i}/status"], "verbs": ["get", "list", "watch"]}
                for i in range(12)
            ],
        },
    )
    yield (
        "clusterrolebinding.yaml",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": meta["name"]},
            "subjects": [{"kind": "ServiceAccount", "name": meta["name"], "namespace": "default"}],
        },
    )
    yield (
        "configmap.yaml",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": f"{meta['name']}-config"},
            "data": {"config.yaml": "\n".join(f"key{i}: {rng.randint(0, 10**6)}" for i in range(40)) + "\n"},
        },
    )
    yield (
        "service.yaml",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "ports": [{"port": 80, "targetPort": "http", "name": "http"}],
                "selector": labels,
            },
        },
    )
    yield "deployment.yaml", _deployment(rng, meta=meta, labels=labels)
    yield (
        "servicemonitor.yaml",
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta,
            "spec": {"endpoints": [{"port": "http", "interval": "30s"}], "selector": {"matchLabels": labels}},
        },
    )
    yield (
        "prometheusrule.yaml",
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": meta,
            "spec": {
                "groups": [
                    {
                        "name": f"{name}.rules",
                        "rules": [
                            {
                                "alert": f"{name.title()}Alert{i}",
                                "expr": f'sum(rate(http_requests_total{{job="{name}",code=~"5.."}}[5m])) > {i}',
                                "for": "10m",
                                "labels": {"severity": rng.choice(["warning", "critical"])},
                                "annotations": {"summary": " ".join(rng.choices(WORDS, k=12))},
                            }
                            for i in range(15)
                        ],
                    }
                ]
            },
        },
    )
    yield (
        "webhook.yaml",
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": meta,
            "webhooks": [
                {
                    "name": f"v{i}.{name}.example.com",
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "clientConfig": {
                        "service": {"name": meta["name"], "namespace": "default", "path": f"/validate-{i}"}
                    },
                    "rules": [
                        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["*"]}
                    ],
                }
                for i in range(4)
            ],
        },
    )


def _deployment(rng: random.Random, *, meta: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": "registry.example.com/app:1.2.3",
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    }
    if rng.random() < 0.5:
        container["envFrom"] = [{"configMapRef": {"name": f"{meta['name']}-config"}}]
    kind = rng.choice(["Deployment", "Deployment", "StatefulSet", "DaemonSet"])
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def _crd(rng: random.Random, *, group: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.lower()}s.{group}",
            "annotations": {"controller-gen.kubebuilder.io/version": "v0.16.1"},
        },
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": f"{kind.lower()}s"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": _schema(rng, depth=4)},
                }
            ],
        },
    }


def _schema(rng: random.Random, *, depth: int) -> dict[str, Any]:
    """A controller-gen-like schema: nested objects, descriptions, enums (with `=`), formats."""
    description = " ".join(rng.choices(WORDS, k=rng.randint(10, 40)))
    if depth == 0:
        leaf: dict[str, Any] = {"description": description, "type": rng.choice(["string", "integer", "boolean"])}
        if leaf["type"] == "string" and rng.random() < 0.3:
            leaf["enum"] = ["!=", "=", "=~", "!~"]
        return leaf
    properties = {f"field{i}": _schema(rng, depth=depth - 1) for i in range(rng.randint(3, 5))}
    return {"description": description, "type": "object", "properties": properties, "required": sorted(properties)[:1]}
