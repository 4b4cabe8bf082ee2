"""Turn the phases' results into `latest.json`, a table for people, and the latency plot.

The JSON is flat where a figure has a target (so a reader or a script finds it by name) and
keeps the detail beside it; every latency is in milliseconds, every size in MiB.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from bench import procs
from bench.admission import AdmissionResults
from bench.calls import CallsResults
from bench.cluster import ClusterResults
from bench.controller import ControllerResults
from bench.loadgen import AttackResult
from bench.scan import ScanResults

PERCENTILES: Final = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9)

TARGETS: Final = {
    "ratio_p50": ("<=", 1.3),
    "ratio_reviews_per_s": ("<=", 1.3),
    "rss_mib_10k_configmaps": ("<=", 130.0),
    "rss_secrets_delta_mib": ("<=", 40.0),
    "e2e_ratio_p95": ("<=", 1.3),
    "overload_max_ms": ("<=", 1000.0),
    "controller_rss_mib_10k_configmaps": ("<=", 100.0),
}
"""Issue 16's targets (2 cores, the load generator on the same machine): reload-safe against
the null webhook on the same one-process stack; the pod's resident set with 10,000 ConfigMaps
of 4 KiB cached, each page its processes map counted once (what the kernel charges the pod;
`procs.ServerMemory`); reload-safe's added p95 on a Deployment create over the patching null
webhook's, interleaved; the slowest answer with 32 keep-alive connections at max rate; and
issue 15's: the rollout controller's resident set with 10,000 ConfigMaps and 1,000 opted-in
Deployments."""
GRANIAN_SWITCH: Final = 0.75
"""Switch to granian only if its null webhook's p50 is at most this fraction of gunicorn's."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _r(value: float, digits: int = 2) -> float:
    return round(value, digits)


def _judged_mib(memory: procs.ServerMemory) -> float:
    """The resident set (pages once), or the RSS sum where page frames cannot be read."""
    return memory.resident_mib if memory.resident_mib is not None else memory.rss_sum_mib


def _secrets_figures(cluster: Any, *, without_secrets: float) -> dict[str, Any]:
    """`rss_mib_10k_secrets` and its difference with the same server without Secrets."""
    memory = cluster.memory_with_secrets
    if memory is None:
        return {}
    with_secrets = _judged_mib(memory)
    return {
        "rss_mib_10k_secrets": with_secrets,
        "rss_secrets_delta_mib": _r(with_secrets - without_secrets, 1),
        "secrets_cached": cluster.secrets_cached,
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of one condition's create latencies, in ms."""
    return {f"p{q:g}": _r(percentile(values, q), 3) for q in (50, 95, 99)}


def _added(values: list[float], without: list[float], q: float) -> float:
    """What a condition adds to a create at percentile `q`, against *without* in the same run."""
    return _r(percentile(values, q) - percentile(without, q), 3)


def _overload(result: AttackResult) -> dict[str, Any]:
    """The overload attack's figures: its slowest answer is the target (a request that got no
    answer counts as the load generator's whole timeout, the API server's default 10 s)."""
    slowest = result.latencies_ms[-1] if result.latencies_ms else 0.0
    if result.errors:
        slowest = max(slowest, 10_000.0)
    return {
        "overload_max_ms": _r(slowest, 1),
        "overload_p50_ms": _r(result.percentile(50), 3),
        "overload_p99_ms": _r(result.percentile(99), 3),
        "overload_reviews_per_s": _r(result.throughput, 1),
        "overload_connections": result.load.workers,
        "overload_over_1s": sum(1 for x in result.latencies_ms if x > 1000.0),
    }


def _granian(
    granian: AttackResult | None, gunicorn: AttackResult, *, ours_granian: AttackResult | None, ours: AttackResult
) -> dict[str, Any]:
    """The null webhook on granian beside gunicorn's, at max throughput (the switch rule), and
    reload-safe's own app on both: what the policy costs on each floor."""
    out: dict[str, Any] = {}
    if granian is not None:
        ratio = granian.percentile(50) / gunicorn.percentile(50)
        out |= {
            "null_granian_reviews_per_s": _r(granian.throughput, 1),
            "null_granian_p50_ms": _r(granian.percentile(50), 3),
            "null_granian_p99_ms": _r(granian.percentile(99), 3),
            "granian_p50_over_gunicorn": _r(ratio, 3),
            "granian_floor_25pct_lower": ratio <= GRANIAN_SWITCH,
        }
    if ours_granian is not None:
        out |= {
            "granian_reviews_per_s": _r(ours_granian.throughput, 1),
            "granian_p50_ms": _r(ours_granian.percentile(50), 3),
            "granian_p99_ms": _r(ours_granian.percentile(99), 3),
            "granian_p50_over_gunicorn_reload_safe": _r(ours_granian.percentile(50) / ours.percentile(50), 3),
        }
    if granian is not None and ours_granian is not None:
        out |= {
            "granian_ratio_p50": _r(ours_granian.percentile(50) / granian.percentile(50), 3),
            "granian_ratio_reviews_per_s": _r(granian.throughput / ours_granian.throughput, 3),
        }
    return out


def _per_review(result: AttackResult, *, prefix: str) -> dict[str, Any]:
    """What one answer cost the server at max throughput: CPU, and context switches (each a
    GIL hand-off between its threads, or a wait for the network)."""
    return {
        f"{prefix}server_cpu_us_per_review": _r(result.server_cpu_s / result.ok * 1e6, 1) if result.ok else None,
        f"{prefix}context_switches_per_review": (
            _r(result.server_context_switches / result.ok, 2) if result.ok else None
        ),
    }


def _attack(result: AttackResult) -> dict[str, Any]:
    return {
        "load": result.load.label,
        "requests": result.requests,
        "ok": result.ok,
        "errors": result.errors,
        "wall_s": _r(result.wall_s, 1),
        "reviews_per_s": _r(result.throughput, 1),
        "latency_ms": {f"p{q:g}": _r(result.percentile(q), 3) for q in PERCENTILES}
        | {"max": _r(result.latencies_ms[-1] if result.latencies_ms else math.nan, 3)},
        "server_cpu_s": result.server_cpu_s,
        "server_cores": _r(result.server_cpu_s / result.wall_s if result.wall_s else 0.0),
        "server_context_switches": result.server_context_switches,
        "loadgen_cpu_s": result.loadgen_cpu_s,
        "loadgen_cores": _r(result.loadgen_cpu_s / result.wall_s if result.wall_s else 0.0),
    }


def machine() -> dict[str, Any]:
    from importlib.metadata import version  # noqa: PLC0415

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": _r(memory_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "gunicorn": version("gunicorn"),
        "flask": version("flask"),
    }


def build(
    *,
    admission: AdmissionResults | None,
    cluster: ClusterResults | None,
    scan: ScanResults | None,
    settings: dict[str, Any],
    facts: dict[str, Any],
    calls: CallsResults | None = None,
    controller: ControllerResults | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if admission is not None:
        ours, null = admission.max_ours, admission.max_null
        rate_ours, rate_null = admission.rate_ours, admission.rate_null
        out |= {
            "reviews_per_s": _r(ours.throughput, 1),
            "p50_ms": _r(ours.percentile(50), 3),
            "p99_ms": _r(ours.percentile(99), 3),
            "null_reviews_per_s": _r(null.throughput, 1),
            "null_p50_ms": _r(null.percentile(50), 3),
            "null_p99_ms": _r(null.percentile(99), 3),
            "ratio_p50": _r(ours.percentile(50) / null.percentile(50), 3),
            "ratio_reviews_per_s": _r(null.throughput / ours.throughput, 3),
            "fixed_rate_per_s": rate_ours.load.rate,
            "fixed_rate_p50_ms": _r(rate_ours.percentile(50), 3),
            "fixed_rate_p99_ms": _r(rate_ours.percentile(99), 3),
            "null_fixed_rate_p50_ms": _r(rate_null.percentile(50), 3),
            "null_fixed_rate_p99_ms": _r(rate_null.percentile(99), 3),
            "fixed_rate_ratio_p50": _r(rate_ours.percentile(50) / rate_null.percentile(50), 3),
            "loadgen_cpu_per_server_cpu": _r(ours.loadgen_cpu_s / ours.server_cpu_s, 3) if ours.server_cpu_s else None,
            **_per_review(ours, prefix=""),
            **_per_review(null, prefix="null_"),
            **_overload(admission.overload_ours),
            **_granian(admission.max_granian, null, ours_granian=admission.max_ours_granian, ours=ours),
            "attacks": {
                "max_throughput": {"reload-safe": _attack(ours), "null": _attack(null)},
                "fixed_rate": {"reload-safe": _attack(rate_ours), "null": _attack(rate_null)},
                "overload": {"reload-safe": _attack(admission.overload_ours)},
            }
            | ({"null_granian": _attack(admission.max_granian)} if admission.max_granian is not None else {})
            | ({"rs_granian": _attack(admission.max_ours_granian)} if admission.max_ours_granian is not None else {}),
            "request_mix": {
                "targets": admission.targets,
                "body_bytes": admission.body_bytes,
                "configmap_references": admission.references,
            },
        }
    if cluster is not None:
        peak = max((cluster.memory_synced, cluster.memory_after_load), key=_judged_mib)
        without, null_e2e, with_webhook = cluster.without_ms, cluster.null_ms, cluster.with_ms
        patching = cluster.null_patching_ms
        out |= {
            # Without the right to read page frames, the one reading left is the RSS sum.
            "rss_mib_10k_configmaps": _judged_mib(peak),
            "rss_method": "resident set, pages counted once" if peak.resident_mib is not None else "RSS sum",
            "rss_sum_mib_10k_configmaps": peak.rss_sum_mib,
            "pss_mib_10k_configmaps": peak.pss_mib,
            **_secrets_figures(cluster, without_secrets=_judged_mib(peak)),
            "memory": {
                "source": "cluster (list+watch of the real kube-apiserver)",
                "configmaps_cached": cluster.configmaps_cached,
                "configmaps_create_s": cluster.create_seconds,
                "after_sync": cluster.memory_synced.as_json(),
                "after_e2e_load": cluster.memory_after_load.as_json(),
            },
            "e2e_added_p50_ms": _added(with_webhook, without, 50),
            "e2e_added_p95_ms": _added(with_webhook, without, 95),
            "e2e_null_added_p50_ms": _added(null_e2e, without, 50),
            "e2e_null_added_p95_ms": _added(null_e2e, without, 95),
            "e2e_null_patching_added_p50_ms": _added(patching, without, 50),
            "e2e_null_patching_added_p95_ms": _added(patching, without, 95),
            # None when the patching null added nothing at p95 (tiny smoke samples): no ratio.
            "e2e_ratio_p95": _r(_added(with_webhook, without, 95) / _added(patching, without, 95), 3)
            if _added(patching, without, 95) > 0
            else None,
            "e2e_server_p50_ms": _r(percentile(cluster.server_ms, 50), 3),
            "e2e_server_p95_ms": _r(percentile(cluster.server_ms, 95), 3),
            "e2e": {
                "creates_per_condition": len(without),
                "warned_creates": cluster.warned_creates,
                "design": "interleaved: each Deployment created in the four conditions' namespaces in turn",
                "none_registered_ms": _percentiles(cluster.none_registered_ms),
                "without_webhook_ms": _percentiles(without),
                "null_webhook_ms": _percentiles(null_e2e),
                "null_patching_webhook_ms": _percentiles(patching),
                "with_webhook_ms": _percentiles(with_webhook),
                "server_ms_per_create": _percentiles(cluster.server_ms),
            },
        }
        facts = facts | {"kube_apiserver": cluster.apiserver_version}
    if scan is not None:
        out |= {
            "scan_workloads_per_s": _r(scan.workloads_per_s, 1),
            "scan_mb_per_s": _r(scan.charts.mb_per_s, 2),
            "scan": {
                "workloads": scan.workloads,
                "files": scan.files,
                "mib": scan.megabytes,
                "seconds": scan.seconds,
                "findings": scan.findings,
                "charts_like": asdict(scan.charts),
            },
        }
    if calls is not None:
        out |= {
            "calls_per_rollout": calls.calls_per_rollout,
            "calls": {
                "what": f"admission webhook calls to reload-safe for creating one Deployment of {calls.replicas} "
                "replicas, until its Pods exist (API server /metrics, chart's configurations)",
                "replicas": calls.replicas,
                "by_webhook": calls.by_webhook,
                "audit_lines_by_kind": calls.by_kind,
                "pods_after_s": calls.pods_after_s,
            },
        }
    if controller is not None:
        out |= {
            "controller_rss_mib_10k_configmaps": controller.controller_rss_mib_10k_configmaps,
            "controller": asdict(controller),
        }
    out["targets"] = {
        key: {
            "target": f"{op} {limit:g}",
            "measured": out[key],
            "met": out[key] is not None and _meets(out[key], op, limit),
        }
        for key, (op, limit) in TARGETS.items()
        if key in out
    }
    out["machine"] = facts
    out["settings"] = settings
    return out


def _meets(value: float, op: str, limit: float) -> bool:
    return value >= limit if op == ">=" else value <= limit


#: The table's plain rows, in order: label, key in the results, unit.
_HEAD_ROWS: Final = (
    ("reviews/s (max throughput)", "reviews_per_s"),
    ("  null webhook reviews/s", "null_reviews_per_s"),
    ("p50 at max throughput", "p50_ms", " ms"),
    ("p99 at max throughput", "p99_ms", " ms"),
    ("  null p50 / p99", "null_p50_ms", " ms"),
    ("  null p99", "null_p99_ms", " ms"),
    ("ratio p50 (ours / null)", "ratio_p50"),
    ("ratio reviews/s (null / ours)", "ratio_reviews_per_s"),
    ("  null on granian reviews/s", "null_granian_reviews_per_s"),
    ("  null on granian p50", "null_granian_p50_ms", " ms"),
    ("  granian p50 / gunicorn p50 (null)", "granian_p50_over_gunicorn"),
    ("reload-safe on granian reviews/s", "granian_reviews_per_s"),
    ("  reload-safe on granian p50", "granian_p50_ms", " ms"),
    ("  ratio p50 on granian (ours / null)", "granian_ratio_p50"),
    ("  ratio reviews/s on granian (null / ours)", "granian_ratio_reviews_per_s"),
    ("overload: slowest answer, 32 connections", "overload_max_ms", " ms"),
    ("  overload p50 / p99", "overload_p50_ms", " ms"),
    ("  overload reviews/s", "overload_reviews_per_s"),
)
_TAIL_ROWS: Final = (
    ("RSS, 10k ConfigMaps (pages once)", "rss_mib_10k_configmaps", " MiB"),
    ("RSS, + 10k Secrets of 1 KiB (hash key)", "rss_mib_10k_secrets", " MiB"),
    ("  Secrets add", "rss_secrets_delta_mib", " MiB"),
    ("RSS, 10k ConfigMaps (per-process sum)", "rss_sum_mib_10k_configmaps", " MiB"),
    ("PSS, 10k ConfigMaps (sum)", "pss_mib_10k_configmaps", " MiB"),
    ("e2e added p50", "e2e_added_p50_ms", " ms"),
    ("e2e added p95", "e2e_added_p95_ms", " ms"),
    ("  null webhook e2e added p50", "e2e_null_added_p50_ms", " ms"),
    ("  null webhook e2e added p95", "e2e_null_added_p95_ms", " ms"),
    ("  null webhook, patching, e2e added p50", "e2e_null_patching_added_p50_ms", " ms"),
    ("  null webhook, patching, e2e added p95", "e2e_null_patching_added_p95_ms", " ms"),
    ("e2e ratio p95 (ours added / patching null added)", "e2e_ratio_p95"),
    ("  reload-safe's own time per create p50", "e2e_server_p50_ms", " ms"),
    ("  reload-safe's own time per create p95", "e2e_server_p95_ms", " ms"),
    ("scan workloads/s", "scan_workloads_per_s"),
    ("scan MB/s (rendered charts)", "scan_mb_per_s"),
    ("webhook calls per 10-replica Deployment", "calls_per_rollout"),
    ("reload-safe report -A workloads/s", "report_workloads_per_s"),
    ("rollout controller RSS, 10k ConfigMaps + 1k Deployments", "controller_rss_mib_10k_configmaps", " MiB"),
)


def table(results: dict[str, Any]) -> str:
    """The human summary printed at the end of `make bench`."""
    rows: list[tuple[str, str, str]] = []

    def row(label: str, key: str, unit: str = "") -> None:
        if results.get(key) is not None:
            target = results["targets"].get(key)
            verdict = "" if target is None else f"{target['target']}  {'met' if target['met'] else 'NOT MET'}"
            rows.append((label, f"{results[key]:g}{unit}", verdict))

    for label, key, *unit in _HEAD_ROWS:
        row(label, key, *unit)
    if "fixed_rate_per_s" in results:
        rate = results["fixed_rate_per_s"]
        row(f"p50 at {rate} reviews/s", "fixed_rate_p50_ms", " ms")
        row(f"p99 at {rate} reviews/s", "fixed_rate_p99_ms", " ms")
        row(f"  null p99 at {rate}/s", "null_fixed_rate_p99_ms", " ms")
        row(f"ratio p50 at {rate}/s", "fixed_rate_ratio_p50")
        row("load generator CPU / server CPU", "loadgen_cpu_per_server_cpu")
    row("server CPU per review, max throughput", "server_cpu_us_per_review", " µs")
    row("  null server CPU per review", "null_server_cpu_us_per_review", " µs")
    row("server context switches per review", "context_switches_per_review")
    row("  null server context switches per review", "null_context_switches_per_review")
    for label, key, *unit in _TAIL_ROWS:
        row(label, key, *unit)
    width = max(len(r[0]) for r in rows) if rows else 0
    value_width = max(len(r[1]) for r in rows) if rows else 0
    lines = [f"{label:<{width}}  {value:>{value_width}}  {verdict}".rstrip() for label, value, verdict in rows]
    memory = results.get("memory", {}).get("after_sync")
    if memory:
        lines.append(
            "per process after sync (RSS / PSS / USS MiB): "
            + "; ".join(
                f"{m['role']} {m['rss_mib']:.0f}/{m['pss_mib']:.0f}/{m['uss_mib']:.0f}" for m in memory["processes"]
            )
        )
    facts = results.get("machine", {})
    lines.append(f"machine: {facts.get('cores')} cores, {facts.get('cpu_model')}, Python {facts.get('python')}")
    return "\n".join(lines)


def plot(
    *,
    admission: AdmissionResults | None,
    cluster: ClusterResults | None,
    path: Path,
) -> bool:
    """Latency by percentile: reload-safe vs null at the fixed rate and at max throughput, and
    Deployment creates with reload-safe, with the null webhook (plain and patching) and with
    none. False when
    matplotlib is missing."""
    try:
        import matplotlib  # noqa: PLC0415 - a bench-only dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    panels: list[tuple[str, list[tuple[str, list[float]]]]] = []
    if admission is not None:
        panels.append(
            (
                f"Admission reviews at {admission.rate_ours.load.rate}/s (open loop)",
                [("reload-safe", admission.rate_ours.latencies_ms), ("null webhook", admission.rate_null.latencies_ms)],
            )
        )
        panels.append(
            (
                f"At max throughput, {admission.max_ours.load.workers} connections (closed loop)",
                [
                    (f"reload-safe ({admission.max_ours.throughput:.0f}/s)", admission.max_ours.latencies_ms),
                    (f"null webhook ({admission.max_null.throughput:.0f}/s)", admission.max_null.latencies_ms),
                ],
            )
        )
    if cluster is not None:
        panels.append(
            (
                "Deployment create through kube-apiserver",
                [
                    ("reload-safe registered", cluster.with_ms),
                    ("no webhook", cluster.without_ms),
                    ("null webhook registered", cluster.null_ms),
                    ("null webhook, patching", cluster.null_patching_ms),
                ],
            )
        )
    if not panels:
        return False
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    ticks = [50.0, 90.0, 99.0, 99.9]
    for axis, (title, series) in zip(axes[0], panels, strict=True):
        for (label, values), colour in zip(series, ("tab:blue", "tab:grey", "tab:orange", "tab:green"), strict=False):
            ordered = sorted(values)
            if not ordered:
                continue
            count = len(ordered)
            xs = [-math.log10(max(1 - (i + 0.5) / count, 1e-6)) for i in range(count)]
            axis.plot(xs, ordered, label=label, color=colour, linewidth=1.6)
        axis.set_xticks([-math.log10(1 - q / 100) for q in ticks])
        axis.set_xticklabels([f"p{q:g}" for q in ticks])
        axis.set_xlim(0, -math.log10(1 - 99.9 / 100) + 0.3)
        shown = [percentile(values, 99.95) for _, values in series if values]
        axis.set_ylim(0, max(shown) * 1.1 if shown else 1)
        axis.set_ylabel("latency (ms)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=9, loc="upper left")
    figure.suptitle("reload-safe latency by percentile (2 cores, load generator on the same machine)", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
