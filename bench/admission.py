"""Phase 1: reviews per second and latency, reload-safe side by side with the null webhook.

Both servers run at the same time (an idle one costs nothing) and are attacked one after the
other with identical load settings and identical targets; the order alternates between
rounds (reload-safe first, then null first, ...), so a slow spell of this noisy machine does
not fall on one server only. The rounds of each (server, load) pair are pooled.

Before measuring, each server answers a warm-up attack (connections opened, code paths run
once) and a correctness check: a few reviews sent by hand must come back with their uid, and
reload-safe must patch and warn where the policy says so, or the figures would time nothing.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import servers, workloads
from bench.loadgen import AttackResult, Load, attack, merge
from tests.envtest import free_port
from webhook.certs.dev import ensure_dev_certificates


@dataclass(frozen=True, kw_only=True)
class AdmissionSizes:
    reviews: int
    namespaces: int
    configmaps_per_namespace: int
    max_workers: int
    """Closed-loop connections for the max-throughput attack."""
    fixed_rate: int
    seconds: float
    warmup_seconds: float
    rounds: int
    overload_connections: int
    """Keep-alive connections at max rate for the overload attack (`overload_max_ms`)."""
    overload_seconds: float


@dataclass(kw_only=True)
class AdmissionResults:
    max_ours: AttackResult
    max_null: AttackResult
    max_granian: AttackResult | None
    """The null webhook on granian (None when granian is not installed)."""
    max_ours_granian: AttackResult | None
    """reload-safe's own app on granian (None when granian is not installed)."""
    overload_ours: AttackResult
    """reload-safe under `overload_connections` closed-loop connections: its slowest answer."""
    rate_ours: AttackResult
    rate_null: AttackResult
    body_bytes: dict[str, float]
    references: dict[str, float]
    targets: int


def run(*, sizes: AdmissionSizes, work_dir: Path, vegeta: Path, seed: int, log: Any) -> AdmissionResults:
    certs = ensure_dev_certificates(work_dir / "certs")
    namespaces = [f"team-{i}" for i in range(sizes.namespaces)]
    pool = workloads.configmap_pool(seed=seed, namespaces=namespaces, per_namespace=sizes.configmaps_per_namespace)
    configmaps_file = work_dir / "configmaps.yaml"
    configmaps_file.write_text(yaml.safe_dump_all(pool, sort_keys=False))
    targets = workloads.review_targets(
        seed=seed, count=sizes.reviews, namespaces=namespaces, pool_size=sizes.configmaps_per_namespace
    )
    sizes_seen = sorted(len(t.body) for t in targets)
    log(
        f"  {len(targets)} targets ({sizes.reviews} reviews x /mutate,/validate), bodies "
        f"{sizes_seen[0] / 1024:.1f}-{sizes_seen[-1] / 1024:.1f} KiB"
    )

    ours = servers.reload_safe(
        port=free_port(),
        cert_file=certs.cert_file,
        key_file=certs.key_file,
        ca_file=certs.ca_file,
        configmaps=configmaps_file,
        audit_file=work_dir / "audit.jsonl",
        log_file=work_dir / "reload-safe.log",
    )
    null = servers.null_webhook(
        port=free_port(),
        cert_file=certs.cert_file,
        key_file=certs.key_file,
        ca_file=certs.ca_file,
        log_file=work_dir / "null.log",
    )
    granian = servers.null_granian(
        port=free_port(),
        cert_file=certs.cert_file,
        key_file=certs.key_file,
        ca_file=certs.ca_file,
        log_file=work_dir / "null-granian.log",
    )
    ours_granian = servers.reload_safe_granian(
        port=free_port(),
        cert_file=certs.cert_file,
        key_file=certs.key_file,
        ca_file=certs.ca_file,
        configmaps=configmaps_file,
        audit_file=work_dir / "audit-granian.jsonl",
        log_file=work_dir / "rs-granian.log",
    )
    on_granian = [s for s in (granian, ours_granian) if s is not None]
    if not on_granian:
        log("  granian not installed: the HTTP server comparison is skipped (pip install granian)")
    compared = [ours, null, *on_granian]
    files = {}
    for server in compared:
        path = work_dir / f"targets-{server.name}.jsonl"
        with path.open("w") as out:
            for line in workloads.vegeta_targets(targets, base_url=server.url):
                out.write(line + "\n")
        files[server.name] = path
    try:
        for server in compared:
            server.start()
        for server in compared:
            _check_answers(server, targets, expect_policy=server in (ours, ours_granian))
        for server in compared:
            warmup = Load(rate=0, workers=sizes.max_workers, seconds=sizes.warmup_seconds)
            attack(
                vegeta=vegeta,
                targets_file=files[server.name],
                ca_file=certs.ca_file,
                load=warmup,
                server=server.name,
                server_pid=server.pid,
                work_dir=work_dir,
            )
        collected: dict[tuple[str, int], list[AttackResult]] = {}
        loads = [
            Load(rate=0, workers=sizes.max_workers, seconds=sizes.seconds),
            Load(rate=sizes.fixed_rate, workers=sizes.max_workers, seconds=sizes.seconds),
        ]
        for round_index in range(sizes.rounds):
            order = compared if round_index % 2 == 0 else compared[::-1]
            for load in loads:
                for server in order:
                    if server in on_granian and load.rate != 0:
                        continue  # the server comparison is at max throughput only
                    result = attack(
                        vegeta=vegeta,
                        targets_file=files[server.name],
                        ca_file=certs.ca_file,
                        load=load,
                        server=server.name,
                        server_pid=server.pid,
                        work_dir=work_dir,
                    )
                    log(
                        f"  round {round_index + 1} {server.name:11} {load.label:22} "
                        f"{result.throughput:7.0f}/s p50 {result.percentile(50):6.2f} ms "
                        f"p99 {result.percentile(99):6.2f} ms  server cpu {result.server_cpu_s:5.1f}s "
                        f"loadgen cpu {result.loadgen_cpu_s:5.1f}s  errors {sum(result.errors.values())}"
                    )
                    collected.setdefault((server.name, load.rate), []).append(result)
        overload = _overload(
            ours, sizes=sizes, vegeta=vegeta, targets_file=files[ours.name], work_dir=work_dir, log=log
        )
    finally:
        for server in compared:
            server.stop()
    references = [_reference_count(t.body) for t in targets]
    return AdmissionResults(
        max_ours=merge(collected[(ours.name, 0)]),
        max_null=merge(collected[(null.name, 0)]),
        max_granian=merge(collected[(granian.name, 0)]) if granian is not None else None,
        max_ours_granian=merge(collected[(ours_granian.name, 0)]) if ours_granian is not None else None,
        overload_ours=overload,
        rate_ours=merge(collected[(ours.name, sizes.fixed_rate)]),
        rate_null=merge(collected[(null.name, sizes.fixed_rate)]),
        body_bytes={
            "min": sizes_seen[0],
            "median": sizes_seen[len(sizes_seen) // 2],
            "max": sizes_seen[-1],
        },
        references={
            "min": min(references),
            "max": max(references),
            "mean": round(sum(references) / len(references), 2),
        },
        targets=len(targets),
    )


def _overload(
    server: servers.Server, *, sizes: AdmissionSizes, vegeta: Path, targets_file: Path, work_dir: Path, log: Any
) -> AttackResult:
    """As many keep-alive connections as the API server may open at once, at max rate: the
    slowest answer says whether overload is shared out evenly (`overload_max_ms`)."""
    load = Load(rate=0, workers=sizes.overload_connections, seconds=sizes.overload_seconds)
    result = attack(
        vegeta=vegeta,
        targets_file=targets_file,
        ca_file=server.ca_file,
        load=load,
        server=server.name,
        server_pid=server.pid,
        work_dir=work_dir,
    )
    log(
        f"  overload {server.name:11} {load.label:22} {result.throughput:7.0f}/s p50 {result.percentile(50):6.2f} ms "
        f"max {result.latencies_ms[-1] if result.latencies_ms else float('nan'):7.1f} ms  "
        f"errors {sum(result.errors.values())}"
    )
    return result


def _reference_count(body: bytes) -> int:
    from webhook.policy.references import find_references  # noqa: PLC0415

    obj = json.loads(body)["request"]["object"]
    return len(
        {(r.type, r.name, r.container, r.key, r.mount_path) for r in find_references(obj["spec"]["template"]["spec"])}
    )


def _check_answers(server: servers.Server, targets: list[workloads.ReviewTarget], *, expect_policy: bool) -> None:
    """A sample of targets, answered with their uid; reload-safe also patches and warns."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    patched = warned = 0
    try:
        for target in random.Random(0).sample(targets, min(40, len(targets))):
            connection.request("POST", target.path, body=target.body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            sent = json.loads(target.body)["request"]["uid"]
            if response.status != 200 or answer["response"]["uid"] != sent:
                raise RuntimeError(f"{server.name}: bad answer {response.status} {str(answer)[:300]}")
            patch = answer["response"].get("patch")
            if patch:
                ops = json.loads(base64.b64decode(patch))
                assert any("config-hash" in op["path"] for op in ops), ops
                patched += 1
            warned += bool(answer["response"].get("warnings"))
    finally:
        connection.close()
    if expect_policy and not (patched and warned):
        raise RuntimeError(f"{server.name}: no patch or no warning in 40 reviews: is the policy running?")
    if not expect_policy and (patched or warned):
        raise RuntimeError(f"{server.name}: the null webhook patched or warned")
