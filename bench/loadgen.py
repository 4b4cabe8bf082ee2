"""The load generator: vegeta, driven over TLS with keep-alive, as the API server connects.

vegeta (Go) is built from the module pinned in tests/tools/vegeta by bench/build-loadgen.sh.
Each request carries its own AdmissionReview body (vegeta's JSON target format, read into
memory before the attack and sent round-robin), over HTTP/1.1 with persistent connections
and the server's CA, like the API server's webhook client (which speaks HTTP/1.1 here because
the server offers only `http/1.1` in ALPN).

Two shapes of load:

- **max throughput** (closed loop): `-rate=0` with a fixed number of workers, each sending its
  next request as soon as the previous answer arrives;
- **fixed rate** (open loop): requests start on schedule whatever the server does, so a slow
  answer cannot hide the ones queued behind it (no coordinated omission).

The load generator's CPU time (from the kernel's rusage of the vegeta process, its target
loading included) is reported beside the server's, to show it was not the bottleneck.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.procs import tree_context_switches, tree_cpu_seconds

REPO: Final = Path(__file__).resolve().parents[1]
BUILD_SCRIPT: Final = REPO / "bench" / "build-loadgen.sh"
REQUEST_TIMEOUT: Final = "10s"
"""The API server's default webhook timeout."""


def ensure_vegeta() -> Path:
    """The vegeta binary, built once into the tools cache."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, capture_output=True, text=True)
    return Path(result.stdout.strip().splitlines()[-1]) / "vegeta"


@dataclass(frozen=True, kw_only=True)
class Load:
    """One attack's shape: `rate` 0 means as fast as `workers` closed-loop connections go."""

    rate: int
    workers: int
    seconds: float

    @property
    def label(self) -> str:
        return f"max ({self.workers} connections)" if self.rate == 0 else f"{self.rate}/s"


@dataclass(kw_only=True)
class AttackResult:
    server: str
    load: Load
    requests: int
    ok: int
    wall_s: float
    """From the first request sent to the last answer received."""
    latencies_ms: list[float] = field(repr=False)
    """Of the successful requests, sorted."""
    server_cpu_s: float
    server_context_switches: int
    """Of every thread of the server's processes, during the attack."""
    loadgen_cpu_s: float
    errors: dict[str, int]

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the successful requests' latency, in ms."""
        if not self.latencies_ms:
            return float("nan")
        rank = max(1, min(len(self.latencies_ms), math.ceil(q / 100 * len(self.latencies_ms))))
        return self.latencies_ms[rank - 1]


def merge(results: list[AttackResult]) -> AttackResult:
    """Several rounds of the same server and load, as one sample."""
    first = results[0]
    errors: dict[str, int] = {}
    for result in results:
        for key, count in result.errors.items():
            errors[key] = errors.get(key, 0) + count
    return AttackResult(
        server=first.server,
        load=first.load,
        requests=sum(r.requests for r in results),
        ok=sum(r.ok for r in results),
        wall_s=sum(r.wall_s for r in results),
        latencies_ms=sorted(x for r in results for x in r.latencies_ms),
        server_cpu_s=sum(r.server_cpu_s for r in results),
        server_context_switches=sum(r.server_context_switches for r in results),
        loadgen_cpu_s=sum(r.loadgen_cpu_s for r in results),
        errors=errors,
    )


def attack(
    *,
    vegeta: Path,
    targets_file: Path,
    ca_file: Path,
    load: Load,
    server: str,
    server_pid: int,
    work_dir: Path,
) -> AttackResult:
    """Run one attack against the server whose gunicorn master is `server_pid`."""
    results_file = work_dir / f"{server}-{load.rate}-{time.monotonic_ns()}.bin"
    argv = [
        str(vegeta),
        "attack",
        "-format=json",
        f"-targets={targets_file}",
        f"-root-certs={ca_file}",
        "-http2=false",
        "-keepalive=true",
        "-max-body=0",
        f"-timeout={REQUEST_TIMEOUT}",
        f"-duration={load.seconds}s",
        f"-rate={load.rate}/s" if load.rate else "-rate=0",
        f"-workers={load.workers}",
        f"-output={results_file}",
    ]
    if load.rate == 0:
        argv.append(f"-max-workers={load.workers}")
    server_cpu = tree_cpu_seconds(server_pid)
    server_switches = tree_context_switches(server_pid)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    server_cpu = tree_cpu_seconds(server_pid) - server_cpu
    server_switches = tree_context_switches(server_pid) - server_switches
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"vegeta attack failed ({process.returncode}): {stderr.strip()}")
    result = _read_results(vegeta, results_file, server=server, load=load)
    result.server_cpu_s = round(server_cpu, 3)
    result.server_context_switches = server_switches
    result.loadgen_cpu_s = round(usage.ru_utime + usage.ru_stime, 3)
    results_file.unlink(missing_ok=True)
    return result


def _read_results(vegeta: Path, results_file: Path, *, server: str, load: Load) -> AttackResult:
    encoded = subprocess.run(
        [str(vegeta), "encode", "-to=json", str(results_file)], check=True, capture_output=True, text=True
    ).stdout
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = end = None
    requests = 0
    for line in encoded.splitlines():
        if not line.strip():
            continue
        hit = json.loads(line)
        requests += 1
        began = _unix_ns(hit["timestamp"])
        finished = began + int(hit["latency"])
        start = began if start is None else min(start, began)
        end = finished if end is None else max(end, finished)
        if hit["code"] == 200 and not hit.get("error"):
            latencies.append(int(hit["latency"]) / 1e6)
        else:
            key = f"{hit['code']} {hit.get('error') or ''}".strip()
            errors[key] = errors.get(key, 0) + 1
    wall = (end - start) / 1e9 if start is not None and end is not None else 0.0
    return AttackResult(
        server=server,
        load=load,
        requests=requests,
        ok=len(latencies),
        wall_s=round(wall, 3),
        latencies_ms=sorted(latencies),
        server_cpu_s=0.0,
        server_context_switches=0,
        loadgen_cpu_s=0.0,
        errors=errors,
    )


def _unix_ns(timestamp: str) -> int:
    """vegeta's RFC 3339 timestamps with nanoseconds, e.g. 2025-01-01T00:00:00.123456789Z."""
    from datetime import datetime  # noqa: PLC0415 - only here

    main, _, fraction = timestamp.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in fraction:
            fraction, _, rest = fraction.partition(sign)
            zone = sign + rest
    if not zone and len(main) > 19:
        main, zone = main[:19], main[19:]
    seconds = datetime.fromisoformat(main + (zone or "+00:00")).timestamp()
    digits = (fraction + "000000000")[:9]
    return int(seconds) * 1_000_000_000 + int(digits)
