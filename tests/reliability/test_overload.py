"""Overload is fair: with more keep-alive connections than a webhook usually gets, all at max
rate, latency grows evenly and no request waits for seconds while others are served in ms.

The API server opens one connection per admission in flight, with Go's HTTP client, which
dials connections it does not use at once. The load comes from vegeta (Go, the bench's load
generator, built once into the tools cache) for the same reason: a Python client does not
open connections the way the API server does. With gunicorn's 4 threads this attack got
4 reviews/s, answers up to 10 s late and client timeouts (docs/performance.md); with the
server's 32 threads no answer took a second. Loopback only, bounded: 32 connections, 10 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import workloads
from bench.loadgen import Load, attack, ensure_vegeta
from tests.reliability.figures import record
from tests.reliability.probes import wait_workers
from tests.server.fixtures_shared import StartServer
from tests.server.harness import Pki

# e2e: needs the Go-built load generator. slow: the slowest answer is sensitive to whatever
# else the 2 cores run; beside other suites it reached 2.0 and 4.1 s (alone: 0.17-0.30 s), so it
# runs in `make reliability`, and `make bench` reports it as overload_max_ms.
pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.slow]

CONNECTIONS = 32
SECONDS = 10.0
MAX_WAIT_MS = 1000.0


def test_32_connections_at_max_rate_are_served_evenly(start_server: StartServer, pki: Pki, tmp_path: Path) -> None:
    server = start_server("--namespace-policy", "warn")
    wait_workers(server, 1)
    targets = workloads.review_targets(seed=16, count=100, namespaces=["shop"], pool_size=3)
    targets_file = tmp_path / "targets.jsonl"
    targets_file.write_text(
        "".join(line + "\n" for line in workloads.vegeta_targets(targets, base_url=f"https://127.0.0.1:{server.port}"))
    )
    result = attack(
        vegeta=ensure_vegeta(),
        targets_file=targets_file,
        ca_file=pki.ca_file,
        load=Load(rate=0, workers=CONNECTIONS, seconds=SECONDS),
        server="reload-safe",
        server_pid=server.process.pid,
        work_dir=tmp_path,
    )
    slowest = result.latencies_ms[-1] if result.latencies_ms else float("nan")
    record(
        f"overload: {CONNECTIONS} keep-alive connections at max rate for {SECONDS:.0f} s",
        requests=result.requests,
        answered=result.ok,
        errors=result.errors,
        reviews_per_s=round(result.throughput, 1),
        p50_ms=round(result.percentile(50), 1),
        p99_ms=round(result.percentile(99), 1),
        max_ms=round(slowest, 1),
    )
    assert result.errors == {}  # every request answered 200 before vegeta's 10 s timeout
    assert result.ok > 20 * SECONDS  # it served, not merely survived
    assert slowest < MAX_WAIT_MS
