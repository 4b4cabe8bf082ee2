"""A loopback stand-in for the API server whose direct reads can be made slow or failing.

Lists answer at once (so the caches sync), watches stay open and quiet, and a direct GET of a
ConfigMap or Namespace waits `get_delay` seconds and then answers 404 (or 500 with
`get_status`): what a webhook sees when kube-apiserver is up but etcd is not answering. Only
loopback; every wait is bounded and ends when the test stops the server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeAPIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, namespaces: Mapping[str, str | None], configmaps: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.namespaces = dict(namespaces)
        self.configmaps = configmaps
        self.get_delay = 0.0
        self.get_status = 404
        self.gets = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client giving up on a slow GET is what the tests provoke

    def count_get(self) -> None:
        with self._lock:
            self.gets += 1

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.server_address[1]}"}}],
                    "users": [{"name": "webhook", "user": {"token": "test-token"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "webhook"}}],
                    "current-context": "fake",
                }
            )
        )
        return path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeAPIServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        watch = parse_qs(url.query).get("watch") == ["true"]
        if url.path in ("/api/v1/configmaps", "/api/v1/namespaces"):
            if watch:
                return self._idle_watch()
            if url.path == "/api/v1/configmaps":
                return self._json(200, {"kind": "ConfigMapList", "metadata": {"resourceVersion": "10"},
                                        "items": self.server.configmaps})  # fmt: skip
            items = [
                {
                    "kind": "Namespace",
                    "metadata": {"name": name, "labels": {"reload-safe.io/policy": mode} if mode else {}},
                }
                for name, mode in self.server.namespaces.items()
            ]
            return self._json(200, {"kind": "NamespaceList", "metadata": {"resourceVersion": "10"}, "items": items})
        self.server.count_get()
        self.server.stopping.wait(self.server.get_delay)
        status = self.server.get_status
        return self._json(status, {"kind": "Status", "apiVersion": "v1", "code": status, "reason": "NotFound"})

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def _idle_watch(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.server.stopping.wait(120)


@contextmanager
def fake_apiserver(
    *, namespaces: Mapping[str, str | None], configmaps: list[dict[str, Any]]
) -> Iterator[FakeAPIServer]:
    server = FakeAPIServer(namespaces=namespaces, configmaps=configmaps)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
