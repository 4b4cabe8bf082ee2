"""Realistic inputs, generated from a seed: Deployments, AdmissionReviews, ConfigMaps, manifests.

The figures are only worth something if the server does the work a cluster makes it do, so
the objects look like what the API server really sends a webhook:

- Deployments of 1-5 containers with probes, resources, ports, plain `env` values, and 0-6
  ConfigMap references spread over the four reference types (`env`, `envFrom`, `subPath`,
  plain volume), some covered by `reload-safe.io/reload: rollout`, a few to ConfigMaps that do
  not exist;
- `metadata.managedFields` and, on half of them, kubectl's `last-applied-configuration`
  annotation: the bulk of a real request body, which the server must decode and never reads;
- bodies of 4-40 KiB (the API server also sends `oldObject` on UPDATE: 30 % of the reviews);
- every review twice, to /mutate and to /validate, each with its own uid, as the API server
  calls the two webhooks separately.

Everything is derived from `random.Random(seed)`: the same seed gives the same bytes.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

KIB: Final = 1024
MIN_BODY: Final = 4 * KIB
MAX_BODY: Final = 40 * KIB
MAX_CONTAINERS: Final = 5
MAX_REFERENCES: Final = 6
UPDATE_SHARE: Final = 0.3
MISSING_SHARE: Final = 0.05
"""Share of references to a ConfigMap that does not exist."""

Obj = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ReviewTarget:
    """One HTTP request of the load: the path and the AdmissionReview body."""

    path: str
    body: bytes


def _word(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=length))


def _text(rng: random.Random, length: int) -> str:
    """ConfigMap-like text: lines of `key = value`, not a repeated byte (values are hashed)."""
    out: list[str] = []
    size = 0
    while size < length:
        line = f"{_word(rng, rng.randint(4, 12))} = {_word(rng, rng.randint(4, 40))}\n"
        out.append(line)
        size += len(line)
    return "".join(out)[:length]


def configmap(*, name: str, namespace: str | None, data: dict[str, str]) -> Obj:
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def configmap_pool(*, seed: int, namespaces: list[str], per_namespace: int) -> list[Obj]:
    """ConfigMaps the generated workloads refer to: 1-8 keys, 20 B to 2 KiB values."""
    rng = random.Random(seed)
    pool: list[Obj] = []
    for namespace in namespaces:
        for index in range(per_namespace):
            keys = rng.randint(1, 8)
            data = {f"{_word(rng, 6)}.conf": _text(rng, rng.randint(20, 2 * KIB)) for _ in range(keys)}
            pool.append(configmap(name=f"config-{index}", namespace=namespace, data=data))
    return pool


def sized_configmap(*, rng: random.Random, name: str, namespace: str, size: int) -> Obj:
    """A ConfigMap whose `data` holds `size` bytes of values, in four keys."""
    quarter = size // 4
    data = {f"part-{i}.properties": _text(rng, quarter) for i in range(4)}
    return configmap(name=name, namespace=namespace, data=data)


def _probe(rng: random.Random, port: int) -> Obj:
    return {
        "httpGet": {"path": rng.choice(["/healthz", "/ready", "/-/health"]), "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": rng.randint(0, 30),
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def _container(rng: random.Random, *, name: str, index: int) -> Obj:
    port = rng.choice([8080, 8443, 9090, 3000, 5000]) + index  # distinct per pod, as the API server wants
    tag = f"{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}"
    return {
        "name": name,
        "image": f"registry.example.com/{_word(rng, 6)}/{name}:{tag}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": f"http-{index}", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": f"{_word(rng, 8).upper()}_{i}", "value": _word(rng, rng.randint(4, 30))}
            for i in range(rng.randint(2, 12))
        ],
        "resources": {
            "requests": {"cpu": f"{rng.choice([50, 100, 250, 500])}m", "memory": f"{rng.choice([64, 128, 256])}Mi"},
            "limits": {"memory": f"{rng.choice([256, 512, 1024])}Mi"},
        },
        "livenessProbe": _probe(rng, port),
        "readinessProbe": _probe(rng, port),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [],
    }


def _add_references(rng: random.Random, pod_spec: Obj, *, count: int, pool_size: int) -> None:
    """`count` ConfigMap references over the containers, of every type."""
    containers = pod_spec["containers"]
    volumes = pod_spec.setdefault("volumes", [])
    for index in range(count):
        container = rng.choice(containers)
        name = f"config-{rng.randrange(pool_size)}" if rng.random() > MISSING_SHARE else f"missing-{index}"
        kind = rng.choice(["env", "envFrom", "subPath", "volume"])
        if kind == "env":
            container["env"].append(
                {"name": f"CFG_{index}", "valueFrom": {"configMapKeyRef": {"name": name, "key": "app.conf"}}}
            )
        elif kind == "envFrom":
            container.setdefault("envFrom", []).append({"configMapRef": {"name": name}})
        else:
            volume = f"cfg-{index}"
            volumes.append({"name": volume, "configMap": {"name": name, "defaultMode": 420}})
            mount: Obj = {"name": volume, "mountPath": f"/etc/{volume}", "readOnly": True}
            if kind == "subPath":
                mount["mountPath"] += "/app.conf"
                mount["subPath"] = "app.conf"
            container["volumeMounts"].append(mount)


def _managed_fields(rng: random.Random, spec: Obj) -> list[Obj]:
    """Server-side apply bookkeeping: about as large as the spec, never read by the webhook."""

    def fields(node: Any) -> Any:
        if isinstance(node, dict):
            return {f"f:{key}": fields(value) for key, value in node.items()}
        if isinstance(node, list):
            return {f'k:{{"name":"{_word(rng, 5)}"}}': {".": {}} for _ in node[:8]}
        return {}

    return [
        {
            "manager": rng.choice(["kubectl-client-side-apply", "helm", "argocd-controller"]),
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2025-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": fields(spec)},
        }
    ]


def deployment(rng: random.Random, *, name: str, namespace: str | None, pool_size: int, references: int) -> Obj:
    """One Deployment of 1-5 containers with `references` ConfigMap references."""
    containers = [_container(rng, name=f"{_word(rng, 5)}-{i}", index=i) for i in range(rng.randint(1, MAX_CONTAINERS))]
    pod_spec: Obj = {
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
        "schedulerName": "default-scheduler",
    }
    _add_references(rng, pod_spec, count=references, pool_size=pool_size)
    if not pod_spec["volumes"]:
        del pod_spec["volumes"]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": _word(rng, 6), "team": _word(rng, 5)}
    template_annotations: Obj = {"prometheus.io/scrape": "true"}
    if references and rng.random() < 0.3:
        template_annotations["reload-safe.io/reload"] = "rollout"
    metadata: Obj = {"name": name, "labels": dict(labels), "annotations": {"deployment.kubernetes.io/revision": "1"}}
    if namespace is not None:
        metadata["namespace"] = namespace
    spec: Obj = {
        "replicas": rng.randint(1, 5),
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": dict(labels), "annotations": template_annotations}, "spec": pod_spec},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def _pad(rng: random.Random, obj: Obj, *, size: int) -> None:
    """Grow `obj` towards `size` bytes of JSON the way real objects are big: the last-applied
    annotation, managed fields, then more plain environment variables. A small target keeps
    the object lean (the smallest bodies skip the bookkeeping, as a bare `kubectl create` does)."""
    metadata = obj["metadata"]
    current = len(json.dumps(obj))
    if current * 2 <= size and rng.random() < 0.5:
        last_applied = {k: v for k, v in obj.items() if k != "metadata"}
        metadata["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(last_applied)
        current = len(json.dumps(obj))
    managed = _managed_fields(rng, obj["spec"])
    if current + len(json.dumps(managed)) <= size:
        metadata["managedFields"] = managed
        current = len(json.dumps(obj))
    containers = obj["spec"]["template"]["spec"]["containers"]
    while current < size:
        entry = {"name": f"{_word(rng, 10).upper()}", "value": _word(rng, rng.randint(20, 120))}
        rng.choice(containers)["env"].append(entry)
        current += len(json.dumps(entry)) + 1


def _review(*, uid: str, operation: str, namespace: str, obj: Obj, old: Obj | None) -> Obj:
    name = obj["metadata"]["name"]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {
                "username": "system:serviceaccount:ci:deployer",
                "uid": "0b6a2f0e-2f7c-4a8e-9d0c-3b2c5b8f7a11",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"],
            },
            "object": obj,
            "oldObject": old,
            "dryRun": False,
            "options": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "CreateOptions" if operation == "CREATE" else "UpdateOptions",
            },
        },
    }


def review_targets(*, seed: int, count: int, namespaces: list[str], pool_size: int) -> list[ReviewTarget]:
    """`count` reviews, each sent to /mutate and to /validate (2 × `count` targets)."""
    rng = random.Random(seed)
    targets: list[ReviewTarget] = []
    for index in range(count):
        namespace = rng.choice(namespaces)
        size = rng.randint(MIN_BODY, MAX_BODY)
        references = rng.randint(0, MAX_REFERENCES)
        update = rng.random() < UPDATE_SHARE
        name = f"app-{index}"
        state = rng.getstate()
        obj = deployment(rng, name=name, namespace=namespace, pool_size=pool_size, references=references)
        old = None
        if update:
            rng.setstate(state)  # the same Deployment, before its image was bumped
            old = deployment(rng, name=name, namespace=namespace, pool_size=pool_size, references=references)
            old["spec"]["template"]["spec"]["containers"][0]["image"] += "-previous"
        share = size // 2 if update else size
        _pad(rng, obj, size=share)
        if old is not None:
            _pad(rng, old, size=share)
        for path in ("/mutate", "/validate"):
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            review = _review(uid=uid, operation="UPDATE" if update else "CREATE", namespace=namespace, obj=obj, old=old)
            targets.append(ReviewTarget(path=path, body=json.dumps(review, separators=(",", ":")).encode()))
    return targets


def vegeta_targets(targets: list[ReviewTarget], *, base_url: str) -> Iterator[str]:
    """vegeta's JSON target format, one line per request (the body in base64)."""
    header = {"Content-Type": ["application/json"]}
    for target in targets:
        yield json.dumps(
            {
                "method": "POST",
                "url": base_url + target.path,
                "header": header,
                "body": base64.b64encode(target.body).decode("ascii"),
            }
        )


def scan_workloads(*, seed: int, count: int, namespaces: list[str], pool_size: int) -> Iterator[Obj]:
    """Workloads of every kind for `reload-safe scan`: mostly Deployments, as in a real repo."""
    rng = random.Random(seed)
    for index in range(count):
        namespace = rng.choice(namespaces)
        obj = deployment(
            rng,
            name=f"app-{index}",
            namespace=namespace,
            pool_size=pool_size,
            references=rng.randint(0, MAX_REFERENCES),
        )
        kind = rng.choices(["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"], weights=[60, 15, 10, 10, 5])[0]
        if kind in ("StatefulSet", "DaemonSet"):
            obj["kind"] = kind
            obj["spec"].pop("strategy", None)
            obj["spec"].pop("progressDeadlineSeconds", None)
        elif kind in ("CronJob", "Job"):
            template = obj["spec"]["template"]
            template["spec"]["restartPolicy"] = "OnFailure"
            job_spec = {"template": template, "backoffLimit": 3}
            obj["apiVersion"] = "batch/v1"
            obj["kind"] = kind
            obj["spec"] = (
                {"schedule": "*/5 * * * *", "jobTemplate": {"spec": job_spec}} if kind == "CronJob" else job_spec
            )
        yield obj
