"""`report_workloads_per_s`: `reload-safe report -A` on a generated cluster in the real control plane.

The cluster is written straight into the API server (tests/envtest without
kube-controller-manager, so nothing reconciles or deletes what is generated): `namespaces`
namespaces with ConfigMaps, and `workloads` Deployments, each with one ReplicaSet it owns and
`pods_per_workload` Pods the ReplicaSet owns (real uids in the ownerReferences, so the report
walks Pod → ReplicaSet → Deployment as on a live cluster). Every other Deployment's hash is
out of date (stale), and of each workload's pods one carries the old hash.

The figure is the command's own wall time, start to exit (Python start-up, kubeconfig, every
paged list, judging, JSON out), and its peak RSS (`VmHWM`), so "seconds and bounded memory"
is measured rather than claimed. The output is checked against what was generated.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.envtest import ControlPlane, new_namespace
from webhook.policy import ConfigMapContent, config_hash, consumed_entries, find_references

CREATE_THREADS: Final = 8
CONFIGMAPS_PER_NAMESPACE: Final = 20
OLD_HASH: Final = "sha256:" + "0" * 64


@dataclass(frozen=True, kw_only=True)
class ReportSizes:
    workloads: int
    pods_per_workload: int
    namespaces: int


@dataclass(frozen=True, kw_only=True)
class ReportResults:
    report_workloads_per_s: float
    report_seconds: float
    report_peak_rss_mib: float
    workloads: int
    pods: int
    generate_seconds: float

    def as_results(self) -> dict[str, Any]:
        """The top-level key the benchmark's results carry, and the details beside it."""
        return {
            "report_workloads_per_s": self.report_workloads_per_s,
            "report": {
                "what": "reload-safe report -A --format json on a generated cluster (Deployment → ReplicaSet →"
                " Pods), wall time of the command from start to exit, its peak RSS (VmHWM)",
                "workloads": self.workloads,
                "pods": self.pods,
                "seconds": self.report_seconds,
                "peak_rss_mib": self.report_peak_rss_mib,
                "generate_seconds": self.generate_seconds,
            },
        }


def phase(*, phases: Sequence[str], sizes: ReportSizes, work_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The benchmark's hook: this phase's results keys, or none when it was not asked for."""
    if "report" not in phases:
        return {}
    log("reload-safe report -A on a generated cluster")
    return run(sizes=sizes, work_dir=work_dir / "report", log=log).as_results()


def run(*, sizes: ReportSizes, work_dir: Path, log: Callable[[str], None]) -> ReportResults:
    with ControlPlane(work_dir=work_dir / "controlplane", controller_manager=False) as cp:
        started = time.monotonic()
        poster = _Poster(cp)
        namespaces = [new_namespace(cp.api_client(), prefix="bench-report") for _ in range(sizes.namespaces)]
        data = {"log_level": "INFO", "threads": "4"}
        current = config_hash(
            consumed_entries(find_references(_pod_spec()), {"config-0": ConfigMapContent(name="config-0", data=data)})
        )
        poster.create_all(
            [
                ("/api/v1/namespaces/{ns}/configmaps", ns, {"metadata": {"name": f"config-{i}"}, "data": data})
                for ns in namespaces
                for i in range(CONFIGMAPS_PER_NAMESPACE)
            ]
        )
        deployments = poster.create_all(
            [
                (
                    "/apis/apps/v1/namespaces/{ns}/deployments",
                    namespaces[i % len(namespaces)],
                    _deployment(f"web-{i}", config_hash=OLD_HASH if i % 2 else current),
                )
                for i in range(sizes.workloads)
            ]
        )
        replica_sets = poster.create_all(
            [
                ("/apis/apps/v1/namespaces/{ns}/replicasets", d["metadata"]["namespace"], _replica_set(d))
                for d in deployments
            ]
        )
        poster.create_all(
            [
                ("/api/v1/namespaces/{ns}/pods", rs["metadata"]["namespace"], _pod(rs, index=k, current=current))
                for rs in replica_sets
                for k in range(sizes.pods_per_workload)
            ]
        )
        generated = time.monotonic() - started
        pods = len(deployments) * sizes.pods_per_workload
        log(f"  generated {len(deployments)} workloads, {pods} pods in {generated:.0f} s")
        seconds, rss_mib, document = _timed_report(cp.kubeconfig_path)
    summary = document["summary"]
    expected_pods = sizes.workloads * sizes.pods_per_workload
    if summary["workloads"] != sizes.workloads or summary["pods"] != expected_pods:
        raise RuntimeError(f"report saw {summary['workloads']} workloads and {summary['pods']} pods")
    log(f"  report -A: {sizes.workloads} workloads in {seconds:.2f} s, peak RSS {rss_mib:.0f} MiB")
    return ReportResults(
        report_workloads_per_s=round(sizes.workloads / seconds, 1),
        report_seconds=round(seconds, 2),
        report_peak_rss_mib=round(rss_mib, 1),
        workloads=sizes.workloads,
        pods=expected_pods,
        generate_seconds=round(generated, 1),
    )


_PEAK_AT_EXIT: Final = """
import atexit, sys
from webhook.cli.main import cli

def _peak() -> None:
    with open("/proc/self/status") as status:
        sys.stderr.write(next(line for line in status if line.startswith("VmHWM:")))

atexit.register(_peak)
cli(sys.argv[1:], prog_name="reload-safe")
"""
"""`reload-safe report` as `python -m webhook` runs it, printing its own peak RSS when it exits.
Not `wait4`'s `ru_maxrss`: Linux carries the forking parent's high-water mark into the child
across exec, so a child of this benchmark (which holds the generated objects) would report the
benchmark's memory, not its own. `VmHWM` belongs to the process's own address space."""


def _timed_report(kubeconfig: Path) -> tuple[float, float, dict[str, Any]]:
    out_path = kubeconfig.parent / "report.json"
    arguments = ["report", "-A", "--format", "json", "--kubeconfig", str(kubeconfig)]
    with out_path.open("w") as out:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", _PEAK_AT_EXIT, *arguments],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"report exited {done.returncode}: {done.stderr}")
    peak_kib = int(done.stderr.rsplit("VmHWM:", 1)[1].split()[0])
    document: dict[str, Any] = json.loads(out_path.read_text())
    return seconds, peak_kib / 1024, document


def _pod_spec() -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": "nginx:1.27", "envFrom": [{"configMapRef": {"name": "config-0"}}]}]}


def _deployment(name: str, *, config_hash: str) -> dict[str, Any]:
    labels = {"app": name}
    template = {
        "metadata": {"labels": labels, "annotations": {"reload-safe.io/config-hash": config_hash}},
        "spec": _pod_spec(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"reload-safe.io/reload": "rollout"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template},
    }


def _owner(obj: dict[str, Any]) -> list[dict[str, Any]]:
    meta = obj["metadata"]
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
    ]


def _replica_set(deployment: dict[str, Any]) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": deployment["metadata"]["name"] + "-1", "ownerReferences": _owner(deployment)},
        "spec": {"replicas": 2, "selector": deployment["spec"]["selector"], "template": template},
    }


def _pod(replica_set: dict[str, Any], *, index: int, current: str) -> dict[str, Any]:
    template = replica_set["spec"]["template"]
    config = current if index else OLD_HASH
    metadata = {
        "name": f"{replica_set['metadata']['name']}-{index}",
        "labels": template["metadata"]["labels"],
        "annotations": {"reload-safe.io/config-hash": config},
        "ownerReferences": _owner(replica_set),
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


class _Poster:
    """POSTs over keep-alive connections, one per thread (the admin client certificate)."""

    def __init__(self, cp: ControlPlane) -> None:
        self._context = ssl.create_default_context(cafile=str(cp.ca_file))
        self._context.load_cert_chain(str(cp.client_cert_file), str(cp.client_key_file))
        host, port = cp.url.removeprefix("https://").rsplit(":", 1)
        self._host, self._port = host, int(port)
        self._local = threading.local()

    def create_all(self, requests: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(CREATE_THREADS) as pool:
            return list(pool.map(self._post, requests))

    def _post(self, request: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
        path, namespace, body = request
        raw = json.dumps(body).encode()
        for attempt in range(5):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPSConnection(self._host, self._port, context=self._context, timeout=30)
                self._local.connection = connection
            try:
                connection.request(
                    "POST", path.format(ns=namespace), body=raw, headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                continue
            if response.status == 201:
                created: dict[str, Any] = json.loads(answer)
                return created
            if response.status != 429 or attempt == 4:
                raise RuntimeError(f"create at {path} answered {response.status}")
            time.sleep(0.2)
        raise RuntimeError(f"create at {path} failed after retries")
