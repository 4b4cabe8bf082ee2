"""Decisions under uncertainty that need no real control plane: a slow API server, no sync.

The API server gives a webhook `timeoutSeconds` (the chart: 5 s) and then applies the failure
policy. A review must therefore never wait on the API server for long, however many of the
ConfigMaps it references are missing from the cache: each direct read has a 1 s timeout, and
all of one review's direct reads share a budget (`DIRECT_READ_BUDGET`), after which the rest
count as unreadable without being tried. Unreadable is not absent: in `enforce` a violation on
an unreadable ConfigMap is warned, not denied (docs/policy.md), and no hash is set.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.reliability.fake_apiserver import fake_apiserver
from tests.reliability.figures import record
from tests.reliability.probes import metric, post_review
from tests.reliability.reviews import review
from tests.server.harness import Pki, Response, Server, audit_lines
from tests.support.builders import container, env_from, pod_spec, workload
from tests.support.polling import eventually
from webhook.sources.budget import DIRECT_READ_BUDGET, DIRECT_READ_TIMEOUT

pytestmark = pytest.mark.server

MISSING = 12


def many_missing(uid: str, *, namespace: str = "shop") -> bytes:
    app = container(envFrom=[env_from(f"missing-{i:02d}") for i in range(MISSING)])
    obj = workload("Deployment", pod_spec(app), namespace=namespace)
    return json.dumps(review(obj, uid=uid, namespace=namespace)).encode()


def cluster_server(pki: Pki, serving_files: tuple[Path, Path], workdir: Path, kubeconfig: Path) -> Server:
    cert, key = serving_files
    return Server(
        workdir=workdir,
        ca_file=pki.ca_file,
        args=["--cert-file", str(cert), "--key-file", str(key), "--kubeconfig", str(kubeconfig),
              "--audit-file", str(workdir / "audit.jsonl"), "--default-policy", "warn", "--workers", "1"],
    )  # fmt: skip


def test_many_cache_misses_on_a_hanging_api_server_answer_within_the_deadline(
    pki: Pki, serving_files: tuple[Path, Path], tmp_path: Path
) -> None:
    with fake_apiserver(namespaces={"shop": "enforce"}, configmaps=[]) as api:
        server = cluster_server(pki, serving_files, tmp_path / "serve", api.kubeconfig(tmp_path / "kubeconfig"))
        try:
            server.wait_ready()
            api.get_delay = 30.0  # every direct read hangs (etcd down behind a live API server)
            timings = {}
            for endpoint in ("/mutate", "/validate"):
                answer = post_review(server, many_missing(f"slow{endpoint}"), endpoint=endpoint, timeout=30)
                assert answer.status == 200, answer.body
                timings[endpoint] = answer.seconds
                response = answer.json()["response"]
                assert response["uid"] == f"slow{endpoint}"
                assert response["allowed"] is True  # enforce, but unreadable: warned, not denied
                assert "patch" not in response  # no hash from configuration it could not read
                if endpoint == "/mutate":
                    assert any("could not read ConfigMap" in w for w in response["warnings"])
            samples = server.metrics()
            unreadable = metric(samples, "reload_safe_configmap_direct_reads_total", result="unreadable")
            gets = api.gets
        finally:
            server.stop()
    lines = {line["uid"]: line for line in audit_lines(tmp_path / "serve" / "audit.jsonl")}
    record(
        "deadline: 12 cache misses, API server hanging",
        direct_read_timeout_s=DIRECT_READ_TIMEOUT,
        budget_s=DIRECT_READ_BUDGET,
        mutate_s=round(timings["/mutate"], 2),
        validate_s=round(timings["/validate"], 2),
        direct_gets_tried=gets,
        unreadable_counted=unreadable,
    )
    for seconds in timings.values():
        assert seconds < DIRECT_READ_BUDGET + 1.0  # far below timeoutSeconds (5 s)
    assert unreadable == 2 * MISSING  # every miss accounted for, tried or not
    assert gets <= 2 * (DIRECT_READ_BUDGET / DIRECT_READ_TIMEOUT + 1)
    assert lines["slow/validate"]["decision"] == "warned"
    assert len(lines["slow/validate"]["unreadable"]) == MISSING
    assert lines["slow/mutate"]["config_hash"] is None


def test_a_namespace_miss_and_configmap_misses_share_the_budget(
    pki: Pki, serving_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The namespace is not in the cache either: its read counts against the same budget, and
    when it fails the default mode (warn) applies."""
    with fake_apiserver(namespaces={}, configmaps=[]) as api:
        server = cluster_server(pki, serving_files, tmp_path / "serve", api.kubeconfig(tmp_path / "kubeconfig"))
        try:
            server.wait_ready()
            api.get_delay = 30.0
            answer = post_review(server, many_missing("ns-miss", namespace="brand-new"), timeout=30)
        finally:
            server.stop()
    assert answer.status == 200
    assert answer.json()["response"]["allowed"] is True
    assert answer.seconds < DIRECT_READ_BUDGET + 1.0
    record("deadline: namespace miss + 12 ConfigMap misses", validate_s=round(answer.seconds, 2))


def test_caches_not_synced_serve_anyway_and_say_so(pki: Pki, serving_files: tuple[Path, Path], tmp_path: Path) -> None:
    """An API server that answers nothing: after SYNC_WAIT the worker serves, /readyz says 503
    naming both caches, reviews are answered (every reference unreadable: warned, never denied)."""
    from webhook.server.gunicorn_app import SYNC_WAIT

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],  # discard port: refused
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
            "current-context": "dead",
        })
    )  # fmt: skip
    server = cluster_server(pki, serving_files, tmp_path / "serve", kubeconfig)
    started = time.monotonic()
    try:

        def readyz() -> Response | None:
            try:
                return server.get("/readyz")
            except OSError:
                return None  # not listening yet

        ready = eventually(
            readyz, until=lambda got: got is not None, timeout=SYNC_WAIT + 20, interval=0.5, what="/readyz"
        )
        serving_after = time.monotonic() - started
        assert ready is not None
        assert ready.status == 503
        assert set(ready.json()["waiting_for"]) == {"configmaps", "namespaces"}
        answer = post_review(server, many_missing("unsynced"), timeout=30)
        assert answer.status == 200
        response = answer.json()["response"]
        assert response["allowed"] is True
        assert answer.seconds < DIRECT_READ_BUDGET + 1.0
    finally:
        server.stop()
    record(
        "uncertainty: caches never synced",
        serving_after_s=round(serving_after, 1),
        readyz=ready.status,
        review_s=round(answer.seconds, 2),
        decision="allowed with warnings (default mode warn; ConfigMaps unreadable)",
    )
    assert "caches not synced" in server.stderr()
