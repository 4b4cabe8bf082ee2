"""`calls_per_rollout`: how many admission webhook calls one rollout costs the API server.

A Deployment of `REPLICAS` Pods is created through the real control plane (tests/envtest, with
kube-controller-manager, so the Deployment really makes its ReplicaSet and the ReplicaSet its
Pods) with reload-safe registered the way the e2e tests and the cluster phase register it:
the chart's Mutating and ValidatingWebhookConfigurations rendered by `helm template`
(`render_webhook_configurations`). The figure therefore follows the chart: whatever its rules,
selectors and matchConditions send to the webhook is what is counted.

The count is the API server's own: `apiserver_admission_webhook_admission_duration_seconds_count`
from its `/metrics`, summed over the webhooks the chart rendered (every operation, admitted or
rejected), read before the create and again once the `REPLICAS` Pods exist and the counters have
stopped moving. The webhook's audit lines for the namespace give the same calls by kind
(`by_kind`), as a cross-check that names where they went. Measured with the chart as it was
when this was written (no matchConditions): 24 calls for 10 replicas, the Deployment 2 (mutate,
validate), its ReplicaSet 2, and each Pod 2, although reload-safe never changes owned objects.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.cluster import CANARY
from tests.e2e.kube import Kube, owned_by, settled_replica_sets
from tests.e2e.webhook_process import WebhookServer, register, render_webhook_configurations
from tests.envtest import ControlPlane, new_namespace
from tests.support.polling import eventually

REPLICAS: Final = 10
METRIC: Final = "apiserver_admission_webhook_admission_duration_seconds_count"
QUIET_SECONDS: Final = 2.0
"""How long the counters must stay still after the last Pod exists before the second reading."""
_SAMPLE: Final = re.compile(rf"^{METRIC}\{{(?P<labels>[^}}]*)\}} (?P<value>\S+)$", re.MULTILINE)
_LABEL: Final = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, kw_only=True)
class CallsResults:
    calls_per_rollout: int
    """Webhook calls, all of reload-safe's webhooks together, for one Deployment of `replicas`."""
    by_webhook: dict[str, int]
    """The same calls by `<webhook name> <type> <operation>` (the metric's labels)."""
    by_kind: dict[str, int]
    """The webhook's audit lines for the namespace, by object kind (a cross-check)."""
    replicas: int
    pods_after_s: float
    """Seconds from the create until the last Pod existed (kube-controller-manager's pace)."""
    apiserver_version: str


def run(*, work_dir: Path, log: Any, replicas: int = REPLICAS) -> CallsResults:
    """Start a control plane with kube-controller-manager and reload-safe, create one Deployment
    of `replicas`, and count the webhook calls it caused."""
    with ControlPlane(work_dir=work_dir / "controlplane") as cp:
        log(f"  control plane {cp.apiserver_version()} with kube-controller-manager at {cp.url}")
        kube = Kube(cp.api_client())
        (work_dir / "webhook").mkdir(parents=True, exist_ok=True)
        server = WebhookServer(kubeconfig=cp.kubeconfig_path, work_dir=work_dir / "webhook")
        server.start(timeout=180)
        try:
            configurations = render_webhook_configurations(
                helm=cp.binary("helm"), url=server.url, ca_bundle=server.ca_bundle
            )
            register(kube.api, configurations)
            webhooks = {hook["name"] for configuration in configurations for hook in configuration["webhooks"]}
            _wait_until_called(kube)
            namespace = new_namespace(kube.api, prefix="bench-calls", labels={"reload-safe.io/policy": "warn"})
            before = _admission_counts(cp, webhooks)
            started = time.monotonic()
            _create_rollout(kube, namespace, replicas=replicas)
            pods_after = time.monotonic() - started
            after = _settled_counts(cp, webhooks)
            by_kind = Counter(r["kind"] for r in server.audit_records() if r.get("namespace") == namespace)
        finally:
            server.stop()
        delta = {key: int(after.get(key, 0) - before.get(key, 0)) for key in sorted(after)}
        delta = {key: count for key, count in delta.items() if count}
        total = sum(delta.values())
        log(f"  one Deployment of {replicas} replicas: {total} webhook calls ({_describe(by_kind)})")
        return CallsResults(
            calls_per_rollout=total,
            by_webhook=delta,
            by_kind=dict(sorted(by_kind.items())),
            replicas=replicas,
            pods_after_s=round(pods_after, 2),
            apiserver_version=cp.apiserver_version(),
        )


def _describe(by_kind: Counter[str]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(by_kind.items())) or "no audit lines"


def _wait_until_called(kube: Kube) -> None:
    """The API server loads new webhook configurations asynchronously: dry-run a canary, in a
    namespace of its own, until reload-safe's warning comes back."""
    namespace = new_namespace(kube.api, prefix="bench-calls-canary")
    eventually(
        lambda: kube.create(CANARY, namespace=namespace, dry_run=True).warnings,
        timeout=30,
        what="the API server calling reload-safe",
    )


def _create_rollout(kube: Kube, namespace: str, *, replicas: int) -> None:
    """An opted-in Deployment reading a ConfigMap, as a reload-safe user writes one; returns
    once its ReplicaSet has made every Pod."""
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": {"k": "v"}}
    if not kube.create(configmap, namespace=namespace).ok:
        raise RuntimeError("could not create the ConfigMap")
    answer = kube.create(_deployment(replicas), namespace=namespace)
    if not answer.ok:
        raise RuntimeError(f"Deployment create answered {answer.status}: {answer.message}")
    (replica_set,) = settled_replica_sets(kube, "app", namespace=namespace, quiet=0.5, timeout=60)

    def all_pods() -> bool:
        pods = [pod for pod in kube.list_objects("Pod", namespace=namespace) if owned_by(pod, replica_set)]
        return len(pods) == replicas

    eventually(all_pods, timeout=120, what=f"{replicas} Pods")


def _deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "app"}
    container = {
        "name": "app",
        "image": "registry.example/app:1",
        "envFrom": [{"configMapRef": {"name": "app-config"}}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "annotations": {"reload-safe.io/reload": "rollout"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def _settled_counts(cp: ControlPlane, webhooks: set[str]) -> dict[str, float]:
    """The counters once they have not moved for `QUIET_SECONDS` (a call that follows the last
    Pod, such as an update of the ReplicaSet, is still counted)."""
    current = _admission_counts(cp, webhooks)
    still_since = time.monotonic()
    while time.monotonic() - still_since < QUIET_SECONDS:
        time.sleep(0.25)
        latest = _admission_counts(cp, webhooks)
        if latest != current:
            current, still_since = latest, time.monotonic()
    return current


def _admission_counts(cp: ControlPlane, webhooks: set[str]) -> dict[str, float]:
    """`METRIC` per `<name> <type> <operation>` for the given webhooks, summed over the other
    labels (rejected or not), from the API server's /metrics (admin client certificate)."""
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    context.load_cert_chain(str(cp.client_cert_file), str(cp.client_key_file))
    with urllib.request.urlopen(cp.url + "/metrics", context=context, timeout=10) as response:
        text = response.read().decode()
    return count_calls(text, webhooks)


def count_calls(metrics: str, webhooks: set[str]) -> dict[str, float]:
    """Parse `METRIC` samples out of a Prometheus text exposition, keeping the named webhooks."""
    counts: dict[str, float] = {}
    for sample in _SAMPLE.finditer(metrics):
        labels = dict(_LABEL.findall(sample.group("labels")))
        if labels.get("name") in webhooks:
            key = f"{labels['name']} {labels.get('type', '?')} {labels.get('operation', '?')}"
            counts[key] = counts.get(key, 0.0) + float(sample.group("value"))
    return counts
