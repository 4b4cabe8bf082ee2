"""`reload-safe serve --source cluster` against a loopback fake of the API server.

The fake replays recorded list and watch responses (no real API server: the end-to-end test
against kube-apiserver comes with the envtest harness). This checks the wiring a unit test
cannot: caches started in each gunicorn worker after fork, readiness that waits for both
caches, namespace modes from labels, and the ConfigMaps the policy reads.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.server.fake_api import WATCH_FIXTURES, recorded_events
from tests.server.harness import Pki, Server, audit_lines, fixture
from tests.support.polling import eventually

pytestmark = pytest.mark.server

NAMESPACE_LIST_DELAY = 1.5
STOP = threading.Event()
REQUESTS: list[tuple[str, bool]] = []
"""(path, is a watch) of every GET the fake answered."""


def _current_objects() -> dict[str, Any]:
    """Path of each object → the object after the recorded list and watch events."""
    objects: dict[str, Any] = {}

    def path(obj: Any) -> str:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            return f"/api/v1/namespaces/{meta['name']}"
        return f"/api/v1/namespaces/{meta['namespace']}/configmaps/{meta['name']}"

    for kind in ("configmaps", "namespaces"):
        for obj in json.loads((WATCH_FIXTURES / f"{kind}-list.json").read_text())["items"]:
            objects[path(obj)] = obj
        for event in recorded_events(f"{kind}-watch.jsonl"):
            if event["type"] in ("ADDED", "MODIFIED"):
                objects[path(event["object"])] = event["object"]
            elif event["type"] == "DELETED":
                objects.pop(path(event["object"]), None)
    return objects


CURRENT = _current_objects()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client (the webhook at shutdown) hanging up mid-response is expected


class FakeAPIServer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        watch = parse_qs(url.query).get("watch") == ["true"]
        REQUESTS.append((url.path, watch))
        if url.path == "/api/v1/configmaps":
            if watch:
                return self._stream("configmaps-watch.jsonl")
            return self._file("configmaps-list.json")
        if url.path == "/api/v1/namespaces":
            if watch:
                return self._stream("namespaces-watch.jsonl")
            time.sleep(NAMESPACE_LIST_DELAY)  # readiness must wait for this cache too
            return self._file("namespaces-list.json")
        current = CURRENT.get(url.path)  # a direct GET sees the state after the recorded events
        if current is not None:
            return self._json(200, current)
        return self._json(404, {"kind": "Status", "apiVersion": "v1", "code": 404, "reason": "NotFound"})

    def _file(self, name: str) -> None:
        self._json(200, json.loads((WATCH_FIXTURES / name).read_text()))

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, name: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in (WATCH_FIXTURES / name).read_bytes().splitlines(keepends=True):
            if b'"ERROR"' in line:
                continue  # the 410 is for the unit tests; here the watch just stays open
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        STOP.wait(60)  # an idle watch, until the test ends


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    STOP.clear()
    REQUESTS.clear()
    api = _QuietServer(("127.0.0.1", 0), FakeAPIServer)
    api.daemon_threads = True
    threading.Thread(target=api.serve_forever, daemon=True).start()
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{api.server_address[1]}"}}],
                "users": [{"name": "webhook", "user": {"token": "test-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "webhook"}}],
                "current-context": "fake",
            }
        )
    )
    yield path
    STOP.set()
    api.shutdown()
    api.server_close()


def review(namespace: str, uid: str) -> bytes:
    body = fixture("deployment-envfrom-create.json")
    body["request"]["uid"] = uid
    body["request"]["namespace"] = namespace
    body["request"]["object"]["metadata"]["namespace"] = namespace
    return json.dumps(body).encode()


def test_cluster_source_end_to_end_against_recorded_responses(
    pki: Pki, serving_files: tuple[Path, Path], kubeconfig: Path, tmp_path: Path
) -> None:
    cert, key = serving_files
    audit = tmp_path / "audit.jsonl"
    server = Server(
        workdir=tmp_path / "serve",
        ca_file=pki.ca_file,
        args=["--cert-file", str(cert), "--key-file", str(key), "--kubeconfig", str(kubeconfig),
              "--audit-file", str(audit), "--default-policy", "warn"],
        env={"POD_NAMESPACE": "reload-safe", "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    try:
        # A worker accepts connections only once both caches are synced (the namespace list
        # takes NAMESPACE_LIST_DELAY): the first answer is already "ready", from any worker.
        server.wait_ready()
        started = time.monotonic()
        answers = [server.get("/readyz").status for _ in range(6)]
        assert answers == [200] * 6
        assert time.monotonic() - started < 2

        shop = server.post("/validate", review("shop", "c-1")).json()["response"]  # labelled enforce
        assert shop["allowed"] is False
        assert shop["status"]["code"] == 403
        mutated = server.post("/mutate", review("shop", "c-2")).json()["response"]
        assert "patch" in mutated

        for uid in ("c-3", "c-4", "c-5"):  # label "enforced": a typo, so the default (warn)
            answer = server.post("/validate", review("payments", uid)).json()["response"]
            assert answer["allowed"] is True
            assert len(answer["warnings"]) == 1
        team_b = server.post("/validate", review("team-b", "c-6")).json()["response"]  # added by watch: off
        assert team_b["auditAnnotations"]["decision"] == "skipped"
        own = server.post("/validate", review("reload-safe", "c-7")).json()["response"]  # POD_NAMESPACE
        assert own["auditAnnotations"]["decision"] == "skipped"

        # The namespace cache may still be listing (its list takes NAMESPACE_LIST_DELAY too): it
        # reports 0 until it is done, so wait for it.
        synced = ('reload_safe_cache_synced{cache="configmaps"}', 'reload_safe_cache_synced{cache="namespaces"}')
        samples = eventually(
            server.metrics, until=lambda got: all(got[name] == 1 for name in synced), timeout=10, what="caches synced"
        )
        assert samples['reload_safe_cache_objects{cache="configmaps"}'] == 5  # +new -old, broken skipped
        assert samples['reload_safe_cache_objects{cache="namespaces"}'] == 4
        assert samples["reload_safe_namespace_policy_errors_total"] == 3
        # One server process: one list and one watch of each resource.
        assert REQUESTS.count(("/api/v1/configmaps", False)) == 1
        assert REQUESTS.count(("/api/v1/configmaps", True)) == 1
        assert REQUESTS.count(("/api/v1/namespaces", False)) == 1
        # Without --hash-key-file not one Secret is listed, watched or read (SPEC v2).
        assert [path for path, _ in REQUESTS if "secrets" in path] == []
    finally:
        assert server.stop() == 0

    lines = {line["uid"]: line for line in audit_lines(audit)}
    # env-config as the watch's MODIFIED event left it (log_level: DEBUG), not as listed (INFO).
    entries = json.dumps([["env-config", "data", "log_level", "REVCVUc="]], separators=(",", ":"))
    assert lines["c-2"]["config_hash"] == "sha256:" + hashlib.sha256(entries.encode()).hexdigest()
    assert lines["c-1"]["mode"] == "enforce"
    assert {lines[uid]["mode"] for uid in ("c-3", "c-4", "c-5")} == {"warn"}
    stderr = server.stderr()
    # The configuration error is logged, rate-limited: one line.
    assert stderr.count('unknown reload-safe.io/policy value "enforced"') == 1
    assert "DEBUG" not in stderr  # no ConfigMap value in any log line
    assert "SIGABRT" not in stderr
    assert "caches not synced" not in stderr
