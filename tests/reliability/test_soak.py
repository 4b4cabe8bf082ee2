"""Load on the production stack: a steady rate for minutes, nothing lost, memory flat.

`reload-safe serve --source cluster` (one worker, the defaults) against kube-apiserver + etcd,
sent a steady rate of reviews (mutate and validate, every workload kind, the richest pod spec,
namespaces in enforce and warn) on a new connection each, while a ConfigMap the reviews
consume is edited every second through the API server (so the watches deliver events and the
hashes change under load). Measured: errors (anything but a 200 with the request's uid), the
resident memory of the master and workers after a warm-up and at the end, and the audit lines
against the reviews answered (one each).

Quick (every `pytest -q`): 5 s warm-up + 15 s at 40 reviews/s. Slow (`make reliability`): 60 s warm-up +
10 minutes at 40 reviews/s.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.envtest import ControlPlane
from tests.reliability.cluster import new_namespace, put_configmap, start_cluster_server
from tests.reliability.figures import record
from tests.reliability.probes import SteadyLoad, tree_rss
from tests.reliability.reviews import KINDS, review, rich_object
from tests.server.harness import Pki, audit_lines

pytestmark = [pytest.mark.e2e, pytest.mark.server]

RATE = 40.0


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(work_dir=tmp_path_factory.mktemp("controlplane")) as plane:
        yield plane


def soak(
    cp: ControlPlane, pki: Pki, serving_files: tuple[Path, Path], workdir: Path, *, warmup: float, seconds: float
) -> None:
    server = start_cluster_server(cp=cp, pki=pki, serving_files=serving_files, workdir=workdir)
    namespaces = [new_namespace(cp, "enforce", prefix="soak"), new_namespace(cp, "warn", prefix="soak")]
    for ns in namespaces:
        for name in ("env-config", "nginx-conf", "report-config"):
            put_configmap(cp, ns, name, {"log_level": "INFO", "default.conf": "server {}", "settings.ini": "x"})
    stop = threading.Event()
    edits = [0]
    edit_failures: list[str] = []

    def churn() -> None:  # bounded: ends with the load
        while not stop.wait(1.0):
            try:
                put_configmap(cp, namespaces[0], "env-config", {"log_level": f"v{edits[0] + 1}"})
            except Exception as error:  # kept, and asserted below: the churn is part of the test
                edit_failures.append(f"{type(error).__name__}: {error}"[:300])
            else:
                edits[0] += 1

    def make(n: int) -> tuple[str, bytes, str]:
        uid = f"soak-{n}"
        ns = namespaces[n % 2]
        kind = KINDS[n % len(KINDS)]
        body = json.dumps(review(rich_object(kind, namespace=ns), uid=uid, namespace=ns)).encode()
        return uid, body, "/mutate" if (n // 2) % 2 else "/validate"

    editor = threading.Thread(target=churn, daemon=True)
    editor.start()
    samples: list[tuple[float, int]] = []
    try:
        with SteadyLoad(server, rate=RATE, seconds=warmup + seconds, make=make, threads=6) as load:
            time.sleep(warmup)
            baseline = tree_rss(server.process.pid)
            samples.append((warmup, baseline))
            while time.monotonic() - load.started < warmup + seconds:
                time.sleep(min(15.0, max(0.1, warmup + seconds - (time.monotonic() - load.started))))
                samples.append((round(time.monotonic() - load.started), tree_rss(server.process.pid)))
            result = load.wait()
        stop.set()
        editor.join(10)
        final = tree_rss(server.process.pid)
        time.sleep(0.5)
    finally:
        stop.set()
        code = server.stop()
    lines = audit_lines(workdir / "audit.jsonl")
    soak_lines = [line for line in lines if str(line.get("uid", "")).startswith("soak-")]
    growth = (final - baseline) / baseline * 100
    hashes = {
        line["config_hash"] for line in soak_lines if line.get("namespace") == namespaces[0] and line.get("config_hash")
    }
    record(
        f"soak: {seconds / 60:.1f} min at {RATE:.0f}/s after {warmup:.0f}s warm-up",
        requests=result.sent,
        errors=result.errors,
        late=result.late,
        p50_ms=round(result.percentile(0.5) * 1000, 1),
        p99_ms=round(result.percentile(0.99) * 1000, 1),
        max_ms=round(max(result.latencies) * 1000, 1),
        rss_after_warmup_mib=round(baseline / 2**20, 1),
        rss_end_mib=round(final / 2**20, 1),
        rss_growth_pct=round(growth, 2),
        rss_samples_mib=[round(rss / 2**20, 1) for _, rss in samples],
        audit_lines=len(soak_lines),
        answered=len(result.answered_uids),
        configmap_edits=edits[0],
        configmap_edit_failures=len(edit_failures),
        config_hashes_seen=len(hashes),
        exit_code=code,
    )
    assert edit_failures == []
    assert edits[0] >= (warmup + seconds) / 2  # about one a second, on a busy machine
    assert len(hashes) > 1  # the edits reached the reviews: the hash changed under load
    assert result.errors == 0, result.failures[:5]
    assert len(soak_lines) == len(result.answered_uids) == result.sent
    assert {line["uid"] for line in soak_lines} == result.answered_uids
    assert growth < 5.0
    assert code == 0


def test_soak_quick(cp: ControlPlane, pki: Pki, serving_files: tuple[Path, Path], tmp_path: Path) -> None:
    soak(cp, pki, serving_files, tmp_path / "serve", warmup=5, seconds=15)


@pytest.mark.slow
def test_soak_ten_minutes(cp: ControlPlane, pki: Pki, serving_files: tuple[Path, Path], tmp_path: Path) -> None:
    soak(cp, pki, serving_files, tmp_path / "serve", warmup=60, seconds=600)
