"""`reload-safe report` without a cluster: usage errors, an unreachable or refusing API server
(exit 2, one plain sentence), and paging (`limit`/`continue`) against a small fake API server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from click.testing import CliRunner

from tests.cli.helpers import one_line_error
from tests.support.spec import V1_HASH
from webhook.cli.main import cli

LIBRARY_WORDS = ("MaxRetryError", "urllib3", "NewConnectionError", "ApiException", "Traceback", "Exception")


def kubeconfig(tmp_path: Path, server: str, *, namespace: str | None = None) -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": context}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["report", *args])


def no_library_words(text: str) -> None:
    for word in LIBRARY_WORDS:
        assert word not in text, text


def test_namespace_and_all_namespaces_exclude_each_other(tmp_path: Path) -> None:
    result = run("--kubeconfig", str(kubeconfig(tmp_path, "http://127.0.0.1:1")), "-n", "a", "-A")
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr


def test_unreachable_cluster_exits_2_with_a_plain_sentence(tmp_path: Path) -> None:
    result = run("--kubeconfig", str(kubeconfig(tmp_path, "https://127.0.0.1:1")), "-A")
    one_line_error(result, "cannot reach the Kubernetes API server at https://127.0.0.1:1", "refused")
    no_library_words(result.stderr)


def test_missing_kubeconfig_and_unknown_context_exit_2(tmp_path: Path) -> None:
    one_line_error(run("--kubeconfig", str(tmp_path / "nope")), "cannot use the kubeconfig")
    path = kubeconfig(tmp_path, "http://127.0.0.1:1")
    result = run("--kubeconfig", str(path), "--context", "other")
    one_line_error(result, "cannot use the kubeconfig", "other")
    no_library_words(result.stderr)


class FakeAPI(BaseHTTPRequestHandler):
    """Serves each list from `LISTS` in pages of `limit`, the continue token being the offset."""

    LISTS: ClassVar[dict[str, list[dict[str, Any]]]] = {}
    SEEN: ClassVar[list[str]] = []
    FORBID: ClassVar[set[str]] = set()

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        type(self).SEEN.append(self.path)
        if url.path in self.FORBID:
            status: dict[str, Any] = {
                "kind": "Status",
                "message": 'pods is forbidden: User "u" cannot list',
                "code": 403,
            }
            self._send(403, status)
            return
        items = self.LISTS.get(url.path, [])
        limit = int(query["limit"][0])
        start = int(query.get("continue", ["0"])[0])
        page = items[start : start + limit]
        more = start + limit < len(items)
        self._send(200, {"items": page, "metadata": {"continue": str(start + limit) if more else ""}})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[str]:
    FakeAPI.LISTS, FakeAPI.SEEN, FakeAPI.FORBID = {}, [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def bare_pod(index: int, *, config_hash: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"p{index}",
            "namespace": "team",
            "uid": f"u{index}",
            "annotations": {"reload-safe.io/config-hash": config_hash},
        },
        "spec": {"containers": [{"name": "c", "image": "x", "envFrom": [{"configMapRef": {"name": "env-config"}}]}]},
    }


def test_pages_through_every_list_with_limit_and_continue(tmp_path: Path, fake_api: str) -> None:
    configmap = {"metadata": {"name": "env-config", "namespace": "team"}, "data": {"log_level": "INFO"}}
    FakeAPI.LISTS["/api/v1/namespaces/team/configmaps"] = [configmap]
    FakeAPI.LISTS["/api/v1/namespaces/team/pods"] = [bare_pod(i, config_hash=V1_HASH) for i in range(1203)]
    result = run("--kubeconfig", str(kubeconfig(tmp_path, fake_api, namespace="team")), "--format", "json")
    assert result.exit_code == 1, result.stderr  # envFrom without a strategy: a finding per pod
    document = json.loads(result.stdout)
    assert len(document["workloads"]) == 1203
    assert {w["state"] for w in document["workloads"]} == {"current"}
    pod_calls = [p for p in FakeAPI.SEEN if p.startswith("/api/v1/namespaces/team/pods")]
    assert len(pod_calls) == 3, "1203 pods in pages of 500"
    assert all("limit=500" in p for p in pod_calls)
    assert ["continue" in p for p in pod_calls] == [False, True, True]
    assert all("/namespaces/team/" in p for p in FakeAPI.SEEN), "the context's namespace is the default scope"


def test_refused_list_exits_2_with_the_api_servers_words(tmp_path: Path, fake_api: str) -> None:
    FakeAPI.FORBID.add("/api/v1/pods")
    result = run("--kubeconfig", str(kubeconfig(tmp_path, fake_api)), "-A")
    one_line_error(result, "refused to list pods in all namespaces", "HTTP 403", "cannot list")
    no_library_words(result.stderr)
