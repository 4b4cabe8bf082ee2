"""The real Kubernetes client calls of `kubeapi`, against a loopback HTTP server replaying
recorded API responses: checks the parameters the client accepts and the raw-JSON paths."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client

from tests.e2e.process import REPO
from tests.server.fake_api import WATCH_FIXTURES, recorded_events
from tests.support.polling import eventually
from webhook.policy import ABSENT, UNREADABLE, ConfigMapContent
from webhook.sources.cluster import ClusterConfigMaps, configmap_from_api
from webhook.sources.kubeapi import CoreReads, KubeGetter, KubeListWatch, core_api
from webhook.sources.watch import WatchCache, WatchExpired


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client (the webhook at shutdown) hanging up mid-response is expected


class Replay(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []
    accept: ClassVar[list[str | None]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        Replay.requests.append((url.path, query))
        Replay.accept.append(self.headers.get("Accept"))
        if url.path == "/api/v1/configmaps" and query.get("watch") == ["true"]:
            if query["resourceVersion"] == ["1"]:
                return self._json(410, {"kind": "Status", "code": 410, "reason": "Expired"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in (WATCH_FIXTURES / "configmaps-watch.jsonl").read_bytes().splitlines(keepends=True):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return None
        if url.path == "/api/v1/namespaces/shop":
            return self._json(200, {"kind": "Namespace", "metadata": {"name": "shop"}})
        if url.path == "/api/v1/configmaps":
            return self._json(200, json.loads((WATCH_FIXTURES / "configmaps-list.json").read_text()))
        if url.path == "/api/v1/namespaces/shop/configmaps/late":
            return self._json(
                200, {"kind": "ConfigMap", "metadata": {"name": "late", "namespace": "shop"}, "data": {"k": "v"}}
            )
        if url.path == "/api/v1/namespaces/shop/configmaps/slow":
            time.sleep(3)
            return self._json(200, {"kind": "ConfigMap", "metadata": {"name": "slow"}})
        return self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api() -> Iterator[CoreReads]:
    server = _QuietServer(("127.0.0.1", 0), Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    Replay.requests.clear()
    yield core_api(configuration, retries=False)
    server.shutdown()
    server.server_close()


def test_list_and_watch_through_the_real_client(api: CoreReads) -> None:
    source = KubeListWatch(call=api.list_config_map_for_all_namespaces)
    pages = list(source.list())
    assert pages[-1].resource_version == "1000"
    assert sum(len(page.items) for page in pages) == 5
    assert list(source.watch(resource_version="1000")) == recorded_events("configmaps-watch.jsonl")
    _path, query = Replay.requests[-1]
    assert query["allowWatchBookmarks"] == ["true"]
    assert query["resourceVersion"] == ["1000"]
    assert int(query["timeoutSeconds"][0]) >= 300
    with pytest.raises(WatchExpired):
        list(source.watch(resource_version="1"))


def test_cache_over_the_real_client(api: CoreReads) -> None:
    cache: WatchCache[ConfigMapContent] = WatchCache(
        name="configmaps", source=KubeListWatch(call=api.list_config_map_for_all_namespaces), convert=configmap_from_api
    )
    cache.start()
    assert cache.wait_synced(5)
    # The replayed watch ends in a 410 and the cache lists again, without new-config: catch it
    # while it is there.
    try:
        found = eventually(
            lambda: cache.get(("shop", "new-config")), timeout=5, interval=0.001, what="new-config listed"
        )
    finally:
        cache.stop()
    assert found == ConfigMapContent(name="new-config", data={"feature": "on"})


def test_direct_reads_through_the_real_client(api: CoreReads) -> None:
    reader = ClusterConfigMaps(
        cache=WatchCache(
            name="empty", source=KubeListWatch(call=api.list_config_map_for_all_namespaces), convert=configmap_from_api
        ),
        getter=KubeGetter(call=api.read_namespaced_config_map, namespaced=True),
    )
    assert reader.get(namespace="shop", name="late") == ConfigMapContent(name="late", data={"k": "v"})
    assert reader.get(namespace="shop", name="missing") is ABSENT
    started = time.monotonic()
    assert reader.get(namespace="shop", name="slow") is UNREADABLE
    assert time.monotonic() - started < 2.0  # ~1 s timeout, no retries


def test_the_paths_and_the_accept_header_are_those_of_the_generated_client(api: CoreReads) -> None:
    api.read_namespace(name="shop", _preload_content=False).release_conn()
    api.read_namespaced_config_map(name="late", namespace="shop", _preload_content=False).release_conn()
    paths = [path for path, _query in Replay.requests[-2:]]
    assert paths == ["/api/v1/namespaces/shop", "/api/v1/namespaces/shop/configmaps/late"]
    assert Replay.accept[-2:] == ["application/json", "application/json"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"_preload_content": True}, "raw responses only", id="decoded-models-refused"),
        pytest.param({"label_selector": "a=b"}, "unexpected arguments", id="unknown-parameter-refused"),
    ],
)
def test_what_the_reads_do_not_take(api: CoreReads, options: dict[str, object], error: str) -> None:
    with pytest.raises(TypeError, match=error):
        api.list_namespace(**options)


def test_the_server_reads_never_import_the_generated_core_api() -> None:
    """The generated CoreV1Api module (and the ~250 models it pulls in) is 21 MiB of RSS in
    every worker; the caches' reads go through `CoreReads` instead."""
    code = (
        "import sys\n"
        "from kubernetes import client\n"
        "from webhook.server.inputs import cluster_inputs\n"
        "from webhook.sources.kubeapi import core_api\n"
        "core_api(client.Configuration(host='http://127.0.0.1:9'))\n"
        "print('kubernetes.client.api.core_v1_api' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "False", result.stderr
