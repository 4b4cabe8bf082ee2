"""The controller's Prometheus metrics, and a small HTTP endpoint for them and the probes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Counter, Gauge, make_wsgi_app

ROLLOUTS = Counter("reload_safe_controller_rollouts_total", "Workloads rolled by a hash patch.", ["kind"])
UNCHANGED = Counter(
    "reload_safe_controller_skipped_unchanged_total",
    "Consumers of a changed ConfigMap whose consumed content (hash) did not change.",
)
ERRORS = Counter("reload_safe_controller_errors_total", "Hash patches that failed.")
RETRIES = Counter("reload_safe_controller_retries_total", "Reconciles queued again with backoff after a failure.")
LEASE_ERRORS = Counter(
    "reload_safe_controller_lease_errors_total", "Lease calls that failed (timeout, refused, 5xx, 409)."
)
QUEUE_DEPTH = Gauge("reload_safe_controller_queue_depth", "Workloads waiting in the work queue.")
LEADER = Gauge("reload_safe_controller_leader", "1 while this process holds the leader Lease.")
WORKLOADS = Gauge(
    "reload_safe_workloads",
    "Workloads by configuration state (current, stale, changed, unknown, none), at the last report pass.",
    ["namespace", "state"],
)
STALE_PODS = Gauge(
    "reload_safe_stale_pods",
    "Pods whose config hash differs from what their workload consumes now, at the last report pass.",
    ["namespace"],
)
REPORT_PASSES = Counter("reload_safe_controller_report_passes_total", "Report passes, by result.", ["result"])


def publish_states(counts: dict[str, dict[str, int]], stale_pods: dict[str, int]) -> None:
    """Replace the state gauges with one pass's counts (a namespace that is gone disappears)."""
    WORKLOADS.clear()
    STALE_PODS.clear()
    for namespace, by_state in counts.items():
        for state, count in by_state.items():
            WORKLOADS.labels(namespace=namespace, state=state).set(count)
    for namespace, count in stale_pods.items():
        STALE_PODS.labels(namespace=namespace).set(count)


class PrometheusCounters:
    """The reconciler's `Counters`, as Prometheus metrics."""

    def rollout(self, kind: str) -> None:
        ROLLOUTS.labels(kind=kind).inc()

    def unchanged(self) -> None:
        UNCHANGED.inc()

    def error(self) -> None:
        ERRORS.inc()

    def queue_depth(self, depth: int) -> None:
        QUEUE_DEPTH.set(depth)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the log."""


def serve_metrics(*, port: int, ready: Callable[[], bool]) -> None:
    """`/metrics`, `/healthz` (alive) and `/readyz` (caches synced, or standing by) on `port`."""
    metrics_app = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" or (path == "/readyz" and ready()):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"caches not synced\n"]
        result: Iterable[bytes] = metrics_app(environ, start_response)
        return result

    server = make_server("", port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
