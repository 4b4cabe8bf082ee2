"""`python -m bench --smoke`: every phase of the benchmark at tiny sizes, so `make test` keeps
the harness working. It checks the shape and sanity of the results, never timing thresholds:
a benchmark's figures are judged by people reading docs/performance.md, not by a test on a
noisy machine."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e  # starts the real control plane (and builds vegeta once)

REPO = Path(__file__).resolve().parents[2]
KEYS = (
    "reviews_per_s",
    "p50_ms",
    "p99_ms",
    "null_reviews_per_s",
    "null_p50_ms",
    "null_p99_ms",
    "ratio_p50",
    "ratio_reviews_per_s",
    "overload_max_ms",
    "overload_reviews_per_s",
    "fixed_rate_per_s",
    "fixed_rate_p50_ms",
    "fixed_rate_p99_ms",
    "null_fixed_rate_p99_ms",
    "rss_mib_10k_configmaps",
    "rss_sum_mib_10k_configmaps",
    "pss_mib_10k_configmaps",
    "e2e_added_p50_ms",
    "e2e_added_p95_ms",
    "e2e_null_added_p95_ms",
    "e2e_null_patching_added_p95_ms",
    "e2e_server_p50_ms",
    "e2e_server_p95_ms",
    "scan_workloads_per_s",
    "scan_mb_per_s",
    "loadgen_cpu_per_server_cpu",
    "server_cpu_us_per_review",
    "null_server_cpu_us_per_review",
    "context_switches_per_review",
    "null_context_switches_per_review",
    "calls_per_rollout",
    "report_workloads_per_s",
    "controller_rss_mib_10k_configmaps",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "latest.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--work-dir", str(folder / "work")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "reviews/s" in run.stdout  # the human table
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_every_key_is_a_finite_number(results: dict[str, Any]) -> None:
    missing = [key for key in KEYS if key not in results]
    assert not missing
    for key in KEYS:
        assert isinstance(results[key], int | float), key
        assert math.isfinite(results[key]), key


def test_values_are_sane(results: dict[str, Any]) -> None:
    for prefix in ("", "null_"):
        assert results[f"{prefix}reviews_per_s"] > 0
        assert 0 < results[f"{prefix}p50_ms"] <= results[f"{prefix}p99_ms"]
    assert 0 < results["fixed_rate_p50_ms"] <= results["fixed_rate_p99_ms"]
    assert results["ratio_p50"] == pytest.approx(results["p50_ms"] / results["null_p50_ms"], rel=0.01)
    assert 10 < results["rss_mib_10k_configmaps"] <= results["rss_sum_mib_10k_configmaps"] < 4096
    # PSS splits a page among all its mappers, some outside the server: at most the resident
    # set (a little slack: the two are read a moment apart).
    assert 0 < results["pss_mib_10k_configmaps"] <= results["rss_mib_10k_configmaps"] * 1.05
    assert 0 < results["overload_p50_ms"] <= results["overload_max_ms"]
    # With 10 creates per condition the patching null may add nothing at p95: then no ratio.
    added = results["e2e_null_patching_added_p95_ms"]
    if added > 0:
        assert results["e2e_ratio_p95"] == pytest.approx(results["e2e_added_p95_ms"] / added, rel=0.01)
    else:
        assert results["e2e_ratio_p95"] is None
    assert results["overload_connections"] == 32
    assert results["scan_workloads_per_s"] > 0
    assert results["scan_mb_per_s"] > 0
    assert results["scan"]["charts_like"]["workloads"] > 0
    assert results["loadgen_cpu_per_server_cpu"] > 0
    for prefix in ("", "null_"):
        # Each answer is read from and written to a socket by a thread of the server's pool.
        assert results[f"{prefix}server_cpu_us_per_review"] > 0
        assert results[f"{prefix}context_switches_per_review"] > 0


def test_every_request_was_answered(results: dict[str, Any]) -> None:
    for shape in ("max_throughput", "fixed_rate", "overload"):
        for server in ("reload-safe", "null") if shape != "overload" else ("reload-safe",):
            attack = results["attacks"][shape][server]
            assert attack["errors"] == {}, (shape, server)
            assert attack["ok"] == attack["requests"] > 0


def test_memory_is_measured_per_process_on_the_cluster_source(results: dict[str, Any]) -> None:
    memory = results["memory"]
    assert memory["source"].startswith("cluster")
    roles = [process["role"] for process in memory["after_sync"]["processes"]]
    assert roles.count("master") == 1
    assert roles.count("worker") >= 1
    assert memory["configmaps_cached"] >= results["settings"]["cluster"]["configmaps"]


def test_end_to_end_went_through_the_webhook(results: dict[str, Any]) -> None:
    e2e = results["e2e"]
    assert e2e["creates_per_condition"] == results["settings"]["cluster"]["e2e_creates"]
    assert e2e["warned_creates"] > 0  # the webhook was called: its warnings came back
    assert e2e["design"].startswith("interleaved")
    for condition in ("none_registered", "without_webhook", "null_webhook", "null_patching_webhook", "with_webhook"):
        assert 0 < e2e[f"{condition}_ms"]["p50"] <= e2e[f"{condition}_ms"]["p95"], condition
    # The server's own time, from its audit lines, is part of each create's time.
    assert 0 < results["e2e_server_p50_ms"] <= results["e2e_server_p95_ms"]
    assert results["e2e_server_p50_ms"] < e2e["with_webhook_ms"]["p50"]


def test_calls_per_rollout_is_the_api_servers_count_of_the_rollouts_reviews(results: dict[str, Any]) -> None:
    calls = results["calls"]
    assert calls["replicas"] == 10
    assert results["calls_per_rollout"] == sum(calls["by_webhook"].values())
    # The webhook wrote one audit line per call it answered: the same count, by kind, and the
    # Deployment itself was both mutated and validated.
    assert sum(calls["audit_lines_by_kind"].values()) == results["calls_per_rollout"]
    assert calls["audit_lines_by_kind"]["Deployment"] == 2


def test_targets_and_machine_facts(results: dict[str, Any]) -> None:
    assert set(results["targets"]) == {
        "ratio_p50",
        "ratio_reviews_per_s",
        "rss_mib_10k_configmaps",
        "rss_secrets_delta_mib",
        "e2e_ratio_p95",
        "overload_max_ms",
        "controller_rss_mib_10k_configmaps",
    }
    assert all(isinstance(t["met"], bool) for t in results["targets"].values())
    machine = results["machine"]
    assert machine["cores"] >= 1
    assert machine["python"].startswith("3.")
    assert machine["smoke"] is True


def test_the_secrets_memory_was_read_with_every_secret_cached(results: dict[str, Any]) -> None:
    assert results["secrets_cached"] == results["settings"]["cluster"]["secrets"] > 0
    assert 10 < results["rss_mib_10k_secrets"] < 4096
    assert results["rss_secrets_delta_mib"] == round(
        results["rss_mib_10k_secrets"] - results["rss_mib_10k_configmaps"], 1
    )


def test_the_controller_memory_was_read_after_its_start_pass(results: dict[str, Any]) -> None:
    controller = results["controller"]
    assert controller["deployments"] == results["settings"]["controller"]["deployments"] > 0
    assert 10 < results["controller_rss_mib_10k_configmaps"] <= controller["controller_peak_rss_mib"] < 4096
    assert controller["start_pass_s"] > 0
