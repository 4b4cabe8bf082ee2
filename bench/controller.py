"""`controller_rss_mib_10k_configmaps`: the rollout controller's resident memory at scale.

The real control plane (without kube-controller-manager: only the controller's caches matter
here) holds `configmaps` ConfigMaps of `configmap_bytes` (10,000 of 4 KiB in the full run) and
`deployments` opted-in Deployments (1,000), each consuming one of them and carrying no hash (no
webhook registered), so the controller's start pass records a baseline for each. A real
`reload-safe controller` process is started; once every Deployment's baseline is recorded (its
caches synced and its queue drained), its VmRSS and VmHWM (peak) are read from /proc.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubernetes import client

from bench import cluster
from tests.e2e.controller_process import LEASE_NAMESPACE, ControllerProcess
from tests.e2e.kube import Kube
from tests.envtest import ControlPlane
from tests.support.builders import container, env_from, pod_spec, workload
from tests.support.polling import eventually

BASELINE_LINE: Final = "has no hash: baseline"
REPORT_INTERVAL = 5.0


@dataclass(frozen=True, kw_only=True)
class ControllerSizes:
    configmaps: int
    configmap_bytes: int
    configmap_namespaces: int
    deployments: int


@dataclass(frozen=True, kw_only=True)
class ControllerResults:
    controller_rss_mib_10k_configmaps: float
    """VmRSS once the start pass is done (named for the full size; smoke runs fewer)."""
    controller_peak_rss_mib: float
    """VmHWM: the most the process was resident, the initial lists included."""
    start_pass_s: float
    """From the process start until every Deployment's baseline was recorded."""
    configmaps: int
    configmap_bytes: int
    deployments: int


def run(*, sizes: ControllerSizes, work_dir: Path, seed: int, log: Any) -> ControllerResults:
    with ControlPlane(work_dir=work_dir / "controlplane", controller_manager=False) as cp:
        log(f"  control plane {cp.apiserver_version()} at {cp.url}")
        kube = Kube(cp.api_client())
        rng = random.Random(seed)
        cluster_sizes = cluster.ClusterSizes(
            configmaps=sizes.configmaps,
            configmap_bytes=sizes.configmap_bytes,
            configmap_namespaces=sizes.configmap_namespaces,
            e2e_creates=0,
        )
        log(f"  creating {sizes.configmaps} ConfigMaps of {sizes.configmap_bytes} bytes")
        namespaces = cluster._create_configmaps(cp, sizes=cluster_sizes, rng=rng)
        log(f"  creating {sizes.deployments} opted-in Deployments")
        _create_deployments(kube, namespaces=namespaces, count=sizes.deployments, configmaps=sizes.configmaps)
        client.CoreV1Api(kube.api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=LEASE_NAMESPACE))
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        # A short report interval, so the memory is read after a report pass (its lists of every
        # namespace's ConfigMaps, workloads and pods) as well as the start pass.
        process = ControllerProcess(
            kubeconfig=cp.kubeconfig_path,
            work_dir=work_dir,
            identity="bench",
            extra_args=("--report-interval", str(REPORT_INTERVAL)),
        )
        started = time.monotonic()
        process.start()
        try:
            process.wait_leading(timeout=300)
            eventually(
                lambda: process.log().count(BASELINE_LINE) >= sizes.deployments,
                timeout=300,
                interval=0.5,
                what="every Deployment's baseline",
            )
            start_pass = time.monotonic() - started
            eventually(
                lambda: process.metric('reload_safe_controller_report_passes_total{result="ok"}'),
                until=lambda passes: passes >= 1,
                timeout=300,
                interval=0.5,
                what="a report pass",
            )
            time.sleep(2.0)  # let the queue and the watch threads go quiet
            rss, peak = _memory_mib(process.pid)
        finally:
            process.stop(kill=True)
    log(f"  controller: {rss:.1f} MiB resident ({peak:.1f} MiB peak), start pass {start_pass:.1f}s")
    return ControllerResults(
        controller_rss_mib_10k_configmaps=round(rss, 1),
        controller_peak_rss_mib=round(peak, 1),
        start_pass_s=round(start_pass, 1),
        configmaps=sizes.configmaps,
        configmap_bytes=sizes.configmap_bytes,
        deployments=sizes.deployments,
    )


def _create_deployments(kube: Kube, *, namespaces: list[str], count: int, configmaps: int) -> None:
    """Opted-in Deployments, the i-th reading ConfigMap `cm-i` (in that ConfigMap's namespace)."""

    def create(index: int) -> None:
        target = index % configmaps
        namespace = namespaces[target % len(namespaces)]
        obj = workload(
            "Deployment",
            pod_spec(container(envFrom=[env_from(f"cm-{target}")])),
            name=f"app-{index}",
            namespace=None,
            annotations={"reload-safe.io/reload": "rollout"},
        )
        answer = kube.create(obj, namespace=namespace)
        if not answer.ok:
            raise RuntimeError(f"Deployment create answered {answer.status}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))


def _memory_mib(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
