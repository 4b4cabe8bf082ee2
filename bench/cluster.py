"""Phases 2 and 3, on the real control plane (tests/envtest): memory, then end-to-end latency.

**Memory.** `count` ConfigMaps of `configmap_bytes` each are created through the API server
(16 client threads), then `reload-safe serve --source cluster` is started exactly as the e2e
tests start it (`tests/e2e/webhook_process.WebhookServer`: production defaults, 2 workers),
lists them into each worker's cache and reports ready. Its /metrics must show every
ConfigMap cached before the resident set of the master and of each worker is read from
/proc (after a short settle, and again after the end-to-end load).

**End-to-end.** Deployments are created one at a time through the API server, in blocks:
a block with no webhook registered, then a block with the chart's Mutating and Validating
WebhookConfigurations registered (`render_webhook_configurations` + `register`, as the e2e
tests do), and so on, alternating, so the two conditions see the same control plane at the
same moments. Each toggle waits until the API server has picked the change up (a dry-run
canary is, or is no longer, warned by the webhook), then a few unmeasured creates warm the
connections. The namespace is in `warn` mode and the Deployments refer to ConfigMaps, so
each create is mutated (config hash) and warned: the full path, twice (mutate + validate).
"""

from __future__ import annotations

import http.client
import json
import random
import re
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs, workloads
from tests.e2e.kube import Kube
from tests.e2e.webhook_process import WebhookServer, register, render_webhook_configurations, unregister
from tests.envtest import ControlPlane, new_namespace

CANARY = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "canary"},
    "spec": {"containers": [{"name": "c", "image": "x", "envFrom": [{"configMapRef": {"name": "canary"}}]}]},
}
WARMUP_CREATES = 5
CREATE_THREADS = 16


@dataclass(frozen=True, kw_only=True)
class ClusterSizes:
    configmaps: int
    configmap_bytes: int
    configmap_namespaces: int
    e2e_creates: int
    """Per condition (with and without the webhook)."""
    e2e_block: int


@dataclass(kw_only=True)
class ClusterResults:
    configmaps_cached: int
    create_seconds: float
    memory_synced: list[procs.Memory]
    memory_after_load: list[procs.Memory]
    without_ms: list[float]
    with_ms: list[float]
    warned_creates: int
    apiserver_version: str


def run(*, sizes: ClusterSizes, work_dir: Path, seed: int, log: Any) -> ClusterResults:
    rng = random.Random(seed)
    with ControlPlane(work_dir=work_dir / "controlplane") as cp:
        log(f"  control plane {cp.apiserver_version()} at {cp.url}")
        started = time.monotonic()
        _create_configmaps(cp, sizes=sizes, rng=rng)
        create_seconds = time.monotonic() - started
        log(f"  created {sizes.configmaps} ConfigMaps of {sizes.configmap_bytes} B in {create_seconds:.1f}s")
        kube = Kube(cp.api_client())
        server = WebhookServer(kubeconfig=cp.kubeconfig_path, work_dir=work_dir / "webhook")
        (work_dir / "webhook").mkdir(exist_ok=True)
        server.start(timeout=180)
        try:
            cached = _cached_configmaps(server)
            if cached < sizes.configmaps:
                raise RuntimeError(f"only {cached} ConfigMaps cached, expected at least {sizes.configmaps}")
            time.sleep(2.0)  # let start-up garbage settle, as a pod would before its first scrape
            assert server.process is not None
            synced = procs.server_memory(server.process.pid)
            log(f"  memory with {cached} ConfigMaps cached: {_describe(synced)}")
            without, with_webhook, warned = _end_to_end(cp, kube, server, sizes=sizes, rng=rng, log=log)
            after = procs.server_memory(server.process.pid)
            log(f"  memory after the end-to-end load: {_describe(after)}")
        finally:
            server.stop()
        return ClusterResults(
            configmaps_cached=cached,
            create_seconds=round(create_seconds, 1),
            memory_synced=synced,
            memory_after_load=after,
            without_ms=without,
            with_ms=with_webhook,
            warned_creates=warned,
            apiserver_version=cp.apiserver_version(),
        )


def _describe(memory: list[procs.Memory]) -> str:
    each = ", ".join(f"{m.role} {m.rss_mib:.0f}" for m in memory)
    return f"RSS {sum(m.rss_mib for m in memory):.0f} MiB ({each}); PSS {sum(m.pss_mib for m in memory):.0f} MiB"


def _create_configmaps(cp: ControlPlane, *, sizes: ClusterSizes, rng: random.Random) -> None:
    """POST the ConfigMaps over keep-alive connections, one per thread (client certificate)."""
    namespaces = [new_namespace(cp.api_client(), prefix="bench-cm") for _ in range(sizes.configmap_namespaces)]
    bodies = [
        json.dumps(
            workloads.sized_configmap(
                rng=rng, name=f"cm-{i}", namespace=namespaces[i % len(namespaces)], size=sizes.configmap_bytes
            )
        ).encode()
        for i in range(sizes.configmaps)
    ]
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    context.load_cert_chain(str(cp.client_cert_file), str(cp.client_key_file))
    host, port = cp.url.removeprefix("https://").rsplit(":", 1)
    local = threading.local()

    def post(body: bytes) -> None:
        namespace = json.loads(body)["metadata"]["namespace"]
        for attempt in range(5):
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPSConnection(
                    host, int(port), context=context, timeout=30
                )
            try:
                connection.request(
                    "POST",
                    f"/api/v1/namespaces/{namespace}/configmaps",
                    body=body,
                    headers={"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                local.connection = None
                continue
            if response.status in (201, 409):  # 409: a retried create that had landed
                return
            if response.status != 429 or attempt == 4:
                raise RuntimeError(f"ConfigMap create answered {response.status}")
            time.sleep(0.2)

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(post, bodies))


def _cached_configmaps(server: WebhookServer) -> int:
    """What /metrics says the ConfigMap cache holds (the largest over live workers)."""
    status, text = server.get("/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    match = re.search(r'^reload_safe_cache_objects\{cache="configmaps"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def _end_to_end(
    cp: ControlPlane, kube: Kube, server: WebhookServer, *, sizes: ClusterSizes, rng: random.Random, log: Any
) -> tuple[list[float], list[float], int]:
    namespace = new_namespace(kube.api, prefix="bench-e2e", labels={"reload-safe.io/policy": "warn"})
    pool_size = 20
    for index in range(pool_size):
        obj = workloads.sized_configmap(rng=rng, name=f"config-{index}", namespace=namespace, size=1024)
        answer = kube.create(obj, namespace=namespace)
        if not answer.ok:
            raise RuntimeError(f"ConfigMap create answered {answer.status}: {answer.message}")
    configurations = render_webhook_configurations(helm=cp.binary("helm"), url=server.url, ca_bundle=server.ca_bundle)
    canary_namespace = new_namespace(kube.api, prefix="bench-canary")
    without: list[float] = []
    with_webhook: list[float] = []
    warned = 0
    counter = 0

    def create() -> tuple[float, bool]:
        nonlocal counter
        counter += 1
        obj = workloads.deployment(
            rng, name=f"app-{counter}", namespace=None, pool_size=pool_size, references=rng.randint(1, 6)
        )
        started = time.perf_counter()
        answer = kube.create(obj, namespace=namespace)
        elapsed = (time.perf_counter() - started) * 1000
        if not answer.ok:
            raise RuntimeError(f"Deployment create answered {answer.status}: {answer.message}")
        return elapsed, bool(answer.warnings)

    registered = False
    blocks = max(1, sizes.e2e_creates // sizes.e2e_block)
    for block in range(blocks * 2):
        want = block % 2 == 1
        if want != registered:
            if want:
                register(kube.api, configurations)
            else:
                unregister(kube.api, configurations)
            _wait_for_webhook(kube, canary_namespace, called=want)
            registered = want
        for _ in range(WARMUP_CREATES):
            create()
        target = with_webhook if registered else without
        for _ in range(sizes.e2e_block):
            elapsed, was_warned = create()
            target.append(elapsed)
            if was_warned and not registered:
                raise RuntimeError("a create was warned with no webhook registered")
            warned += was_warned
    if registered:
        unregister(kube.api, configurations)
    log(f"  {len(without)} creates without, {len(with_webhook)} with the webhook ({warned} warned)")
    return without, with_webhook, warned


def _wait_for_webhook(kube: Kube, namespace: str, *, called: bool, timeout: float = 30.0) -> None:
    """The API server applies webhook configuration changes asynchronously: dry-run a canary
    until its answer is (or is no longer) warned by the webhook."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = kube.create(CANARY, namespace=namespace, dry_run=True)
        if bool(answer.warnings) == called:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the API server did not {'start' if called else 'stop'} calling the webhook")
