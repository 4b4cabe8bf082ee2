"""Phase 4: `reload-safe scan` over a large manifest set, as a CI pipeline runs it.

`workloads` Deployments, StatefulSets, DaemonSets, CronJobs and Jobs (the mix of a real
repository of charts) with their ConfigMaps are written as multi-document YAML, 100 objects a
file, and `reload-safe scan DIR --format json` is run as a separate process, start-up
included, `runs` times; the median wall time gives the throughput.

Then the same over one file of rendered charts (`bench.charts`: mostly non-workload documents
and CRDs, as `helm template` output is), one chart per 20 workloads: `scan_mb_per_s`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import charts, workloads

PER_FILE = 100


@dataclass(kw_only=True)
class ChartsResults:
    charts: int
    workloads: int
    megabytes: float
    """MB of 10^6 bytes, as throughput is usually quoted."""
    seconds: list[float]

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / statistics.median(self.seconds)


@dataclass(kw_only=True)
class ScanResults:
    workloads: int
    files: int
    megabytes: float
    seconds: list[float]
    findings: int
    charts: ChartsResults

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def workloads_per_s(self) -> float:
        return self.workloads / self.median_seconds


def run(*, count: int, runs: int, work_dir: Path, seed: int, log: Any) -> ScanResults:
    folder = work_dir / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    namespaces = [f"team-{i}" for i in range(8)]
    pool = 40
    objects = list(workloads.scan_workloads(seed=seed, count=count, namespaces=namespaces, pool_size=pool))
    for index in range(0, len(objects), PER_FILE):
        chunk = objects[index : index + PER_FILE]
        (folder / f"workloads-{index // PER_FILE:04d}.yaml").write_text(yaml.safe_dump_all(chunk, sort_keys=False))
    configmaps = workloads.configmap_pool(seed=seed, namespaces=namespaces, per_namespace=pool)
    (folder / "configmaps.yaml").write_text(yaml.safe_dump_all(configmaps, sort_keys=False))
    files = sorted(folder.glob("*.yaml"))
    size = sum(f.stat().st_size for f in files) / 1024 / 1024
    seconds: list[float] = []
    findings = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "webhook", "scan", str(folder), "--format", "json"],
            check=False,
            capture_output=True,
        )
        seconds.append(round(time.perf_counter() - started, 3))
        if result.returncode not in (0, 1):
            raise RuntimeError(f"scan exited {result.returncode}: {result.stderr.decode()[-500:]}")
        findings = len(json.loads(result.stdout)["findings"])
    log(f"  scan of {count} workloads in {len(files)} files ({size:.1f} MiB): {seconds} s, {findings} findings")
    rendered = run_charts(charts_count=max(1, count // 20), runs=runs, work_dir=work_dir, seed=seed, log=log)
    return ScanResults(
        workloads=count, files=len(files), megabytes=round(size, 1), seconds=seconds, findings=findings, charts=rendered
    )


def run_charts(*, charts_count: int, runs: int, work_dir: Path, seed: int, log: Any) -> ChartsResults:
    """`reload-safe scan rendered.yaml`, where the file is `charts_count` rendered charts."""
    text, count = charts.rendered(charts=charts_count, seed=seed)
    path = work_dir / "rendered.yaml"
    path.write_text(text, encoding="utf-8")
    megabytes = len(text.encode()) / 1e6
    seconds: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "webhook", "scan", str(path), "--format", "json"], check=False, capture_output=True
        )
        seconds.append(round(time.perf_counter() - started, 3))
        if result.returncode not in (0, 1):
            raise RuntimeError(f"scan exited {result.returncode}: {result.stderr.decode()[-500:]}")
    log(f"  scan of {charts_count} rendered charts ({megabytes:.1f} MB, {count} workloads): {seconds} s")
    return ChartsResults(charts=charts_count, workloads=count, megabytes=round(megabytes, 2), seconds=seconds)
