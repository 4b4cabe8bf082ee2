"""`python -m bench` (= `make bench`): the performance benchmark of docs/performance.md.

Phases, all in one run so every ratio is measured side by side:

1. admission: `reload-safe serve` (static source) and the null webhook, attacked by vegeta
   over TLS keep-alive at max throughput and at a fixed rate (bench/admission.py);
2. memory and end-to-end, on the real control plane (bench/cluster.py);
3. `reload-safe scan` over a large manifest set (bench/scan.py);
4. webhook calls per rollout, through kube-controller-manager (bench/calls.py);
5. the rollout controller's resident memory with 10,000 ConfigMaps (bench/controller.py).

`--smoke` runs every phase at tiny sizes for a few seconds: tests/bench keeps it working.
Results: a table on stdout, JSON in `--out` (default bench/results/latest.json for a full run,
bench/results/partial.json with `--only` or `--smoke`, so the committed figures are always the
last full run's), the latency plot in `--plot` (default docs/performance-latency.png; none for a
partial or smoke run unless given).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench import admission, calls, cluster, controller, report, report_cluster, scan, servers
from bench.loadgen import ensure_vegeta
from bench.null_server import serve_default

REPO: Final = Path(__file__).resolve().parents[1]
SEED: Final = 7
PHASES: Final = ("admission", "cluster", "scan", "calls", "report", "controller")
MAX_CONNECTIONS: Final = 8
"""Closed-loop keep-alive connections at max throughput (the ratios and the server comparison).
Several short attacks per server, pooled, with the order alternating, rather than one long one."""
OVERLOAD_CONNECTIONS: Final = 32
"""The overload attack (`overload_max_ms`): 32 keep-alive connections at max rate for 15 s."""

FULL: Final = {
    "admission": admission.AdmissionSizes(
        reviews=1000,
        namespaces=8,
        configmaps_per_namespace=40,
        max_workers=MAX_CONNECTIONS,
        fixed_rate=500,
        seconds=10.0,
        warmup_seconds=3.0,
        rounds=4,
        overload_connections=OVERLOAD_CONNECTIONS,
        overload_seconds=15.0,
    ),
    "cluster": cluster.ClusterSizes(
        configmaps=10_000, configmap_bytes=4096, configmap_namespaces=10, e2e_creates=500, secrets=10_000
    ),
    "scan": {"count": 5000, "runs": 3},
    "report": report_cluster.ReportSizes(workloads=10_000, pods_per_workload=2, namespaces=10),
    "controller": controller.ControllerSizes(
        configmaps=10_000, configmap_bytes=4096, configmap_namespaces=10, deployments=1000
    ),
}
SMOKE: Final = {
    "admission": admission.AdmissionSizes(
        reviews=20,
        namespaces=2,
        configmaps_per_namespace=10,
        max_workers=4,
        fixed_rate=50,
        seconds=1.0,
        warmup_seconds=0.5,
        rounds=1,
        overload_connections=OVERLOAD_CONNECTIONS,
        overload_seconds=2.0,
    ),
    "cluster": cluster.ClusterSizes(
        configmaps=100, configmap_bytes=4096, configmap_namespaces=2, e2e_creates=10, secrets=100
    ),
    "scan": {"count": 100, "runs": 1},
    "report": report_cluster.ReportSizes(workloads=20, pods_per_workload=2, namespaces=2),
    "controller": controller.ControllerSizes(
        configmaps=100, configmap_bytes=4096, configmap_namespaces=2, deployments=20
    ),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _outputs(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """latest.json and the plot are the last full run's: a partial or smoke run never replaces them."""
    full_run = not args.smoke and not args.only
    out = args.out or REPO / "bench" / "results" / ("latest.json" if full_run else "partial.json")
    return out, args.plot or (REPO / "docs" / "performance-latency.png" if full_run else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (keeps the harness working)")
    parser.add_argument("--out", type=Path, help="results JSON (default: see above)")
    parser.add_argument("--plot", type=Path, help="latency plot PNG (default docs/performance-latency.png)")
    parser.add_argument("--only", action="append", choices=PHASES, help="run only this phase (repeatable)")
    parser.add_argument("--work-dir", type=Path, help="keep intermediate files here (default: a removed temp dir)")
    args = parser.parse_args(argv)
    sizes: dict[str, Any] = SMOKE if args.smoke else FULL
    out, plot = _outputs(args)
    phases = args.only or list(PHASES)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="reload-safe-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    facts = report.machine() | {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
        "smoke": args.smoke,
    }
    try:
        vegeta = ensure_vegeta()
        facts["vegeta"] = _vegeta_version(vegeta)
        admission_results = cluster_results = scan_results = calls_results = None
        if "admission" in phases:
            log("admission reviews: reload-safe vs the null webhook")
            admission_results = admission.run(
                sizes=sizes["admission"], work_dir=work_dir / "admission", vegeta=vegeta, seed=SEED, log=log
            )
        if "cluster" in phases:
            log("memory and end-to-end on the real control plane")
            cluster_results = cluster.run(sizes=sizes["cluster"], work_dir=work_dir / "cluster", seed=SEED, log=log)
        if "scan" in phases:
            log("reload-safe scan")
            scan_results = scan.run(
                count=sizes["scan"]["count"], runs=sizes["scan"]["runs"], work_dir=work_dir / "scan", seed=SEED, log=log
            )
        if "calls" in phases:  # the same size in smoke mode: one Deployment is quick
            log("webhook calls per rollout (kube-controller-manager making the ReplicaSet and Pods)")
            calls_results = calls.run(work_dir=work_dir / "calls", log=log)
        report_extra = report_cluster.phase(phases=phases, sizes=sizes["report"], work_dir=work_dir, log=log)
        controller_results = _controller_phase(phases, sizes=sizes, work_dir=work_dir)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    facts["load_average_at_end"] = list(os.getloadavg())
    facts["duration_s"] = round(time.monotonic() - started, 1)
    results = report.build(
        admission=admission_results,
        cluster=cluster_results,
        scan=scan_results,
        calls=calls_results,
        controller=controller_results,
        settings=_settings(phases, sizes=sizes),
        facts=facts,
    )
    results |= report_extra
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if plot is not None:
        if report.plot(admission=admission_results, cluster=cluster_results, path=plot):
            log(f"plot: {plot}")
        else:
            log("plot skipped: matplotlib is not installed (pip install matplotlib)")
    print(report.table(results))
    print(f"results: {out} ({facts['duration_s']:.0f} s)")
    return 0


def _settings(phases: list[str], *, sizes: dict[str, Any]) -> dict[str, Any]:
    return {
        "phases": phases,
        "seed": SEED,
        "admission": asdict(sizes["admission"]),
        "cluster": asdict(sizes["cluster"]),
        "scan": sizes["scan"],
        "controller": asdict(sizes["controller"]),
        "server": (
            f"reload-safe serve defaults: gunicorn gthread, {serve_default('workers')} worker x "
            f"{serve_default('threads')} threads, TLS, keep-alive"
        ),
        "compared": (
            f"the null webhook and reload-safe's app on granian (WSGI, TLS, 1 process, "
            f"{servers.GRANIAN_THREADS} blocking threads)"
        ),
    }


def _controller_phase(
    phases: list[str], *, sizes: dict[str, Any], work_dir: Path
) -> controller.ControllerResults | None:
    if "controller" not in phases:
        return None
    log("the rollout controller's memory with many ConfigMaps")
    return controller.run(sizes=sizes["controller"], work_dir=work_dir / "controller", seed=SEED, log=log)


def _vegeta_version(vegeta: Path) -> str:
    import subprocess  # noqa: PLC0415

    output = subprocess.run([str(vegeta), "-version"], check=False, capture_output=True, text=True).stdout
    for line in output.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
