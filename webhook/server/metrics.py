"""Prometheus metrics of the webhook server: one process per pod, so the default registry.

A pod runs one server process (`reload-safe serve --workers 1`, the default); `/metrics` shows
that process's counters. With `--workers N` each scrape shows one worker only (see
docs/operating.md): capacity comes from replicas, not from workers.

Label values that come from requests are bounded (an unknown kind is `other`), so a client
cannot create unbounded series.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from webhook.admission import Outcome
from webhook.policy import WORKLOAD_KINDS, Operation, Verdict

_NS: Final = "reload_safe"

REQUESTS = Counter(
    "admission_requests",
    "Admission reviews answered, by endpoint, object kind, operation, namespace mode and decision.",
    ["endpoint", "kind", "operation", "mode", "decision"],
    namespace=_NS,
)
VIOLATIONS = Counter(
    "admission_violations",
    "Violations found, by endpoint and reference type (both webhooks see the same object: sum one endpoint, not both).",
    ["endpoint", "type"],
    namespace=_NS,
)
LATENCY = Histogram(
    "admission_duration_seconds",
    "Time from the request body read to the audit line written.",
    ["endpoint"],
    namespace=_NS,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
REJECTED = Counter(
    "http_rejected_requests",
    "Requests refused before evaluation (bad envelope 400, timeout 408, too large 413, method 405).",
    ["endpoint", "code"],
    namespace=_NS,
)
CACHE_OBJECTS = Gauge(
    "cache_objects",
    "Objects held by a list+watch cache.",
    ["cache"],
    namespace=_NS,
)
CACHE_SYNCED = Gauge(
    "cache_synced",
    "1 when the cache has completed its initial list.",
    ["cache"],
    namespace=_NS,
)
CACHE_RELISTS = Counter(
    "cache_relists",
    "Full lists of a cache: the first one and each after a 410 Gone or an error.",
    ["cache"],
    namespace=_NS,
)
CACHE_WATCH_ERRORS = Counter(
    "cache_watch_errors",
    "Watch streams that failed (reconnected with backoff).",
    ["cache"],
    namespace=_NS,
)
DIRECT_READS = Counter(
    "configmap_direct_reads",
    "ConfigMaps read from the API server on a cache miss, by result (found, absent, unreadable).",
    ["result"],
    namespace=_NS,
)
CERT_EXPIRY = Gauge(
    "certificate_expiry_timestamp_seconds",
    "notAfter of the serving certificate in use, as a Unix time.",
    namespace=_NS,
)
CERT_RELOADS = Counter(
    "certificate_reloads",
    "Serving certificate reloads after a change on disk, by result (failure: kept the previous one).",
    ["result"],
    namespace=_NS,
)
AUDIT_FAILURES = Counter(
    "audit_write_failures",
    "Audit lines that could not be written (the request was answered anyway).",
    namespace=_NS,
)
NAMESPACE_POLICY_ERRORS = Counter(
    "namespace_policy_errors",
    "Requests in a namespace whose reload-safe.io/policy label has an unknown value.",
    namespace=_NS,
)

_KINDS: Final = frozenset(WORKLOAD_KINDS)
_OPERATIONS: Final = frozenset(str(o) for o in Operation)


def observe_outcome(outcome: Outcome, *, endpoint: str, seconds: float) -> None:
    """Count one answered review."""
    _child(
        REQUESTS,
        endpoint,
        _kind_label(outcome.request.kind),
        _operation_label(outcome.request.operation),
        str(outcome.mode),
        str(outcome.verdict),
    ).inc()
    if outcome.decision is not None:
        for violation in outcome.decision.violations:
            _child(VIOLATIONS, endpoint, violation.type).inc()
    if outcome.namespace_problem:
        NAMESPACE_POLICY_ERRORS.inc()
    _child(LATENCY, endpoint).observe(seconds)


@functools.lru_cache(maxsize=4096)
def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered: prometheus_client validates the labels and takes a
    lock on every call, which was a tenth of a review's policy time. Every label value here is
    bounded (see `_kind_label`), so the cache is too."""
    return metric.labels(*labels)


def observe_error(*, endpoint: str, kind: str | None, operation: str, seconds: float) -> None:
    """Count a review that failed inside the server (HTTP 500)."""
    REQUESTS.labels(endpoint, _kind_label(kind), _operation_label(operation), "", str(Verdict.ERROR)).inc()
    LATENCY.labels(endpoint).observe(seconds)


def observe_rejected(*, endpoint: str, code: int) -> None:
    REJECTED.labels(endpoint, str(code)).inc()


def certificate_in_use(not_after: float) -> None:
    CERT_EXPIRY.set(not_after)


def certificate_loaded(not_after: float) -> None:
    CERT_EXPIRY.set(not_after)
    CERT_RELOADS.labels("success").inc()


def certificate_failed() -> None:
    CERT_RELOADS.labels("failure").inc()


def audit_failed(_error: OSError) -> None:
    AUDIT_FAILURES.inc()


class CacheMetrics:
    """The `CacheObserver` of `webhook.sources.watch`, as Prometheus samples."""

    def synced(self, *, cache: str, synced: bool) -> None:
        CACHE_SYNCED.labels(cache).set(1 if synced else 0)

    def size(self, *, cache: str, objects: int) -> None:
        CACHE_OBJECTS.labels(cache).set(objects)

    def relisted(self, *, cache: str) -> None:
        CACHE_RELISTS.labels(cache).inc()

    def watch_failed(self, *, cache: str) -> None:
        CACHE_WATCH_ERRORS.labels(cache).inc()

    def direct_read(self, *, result: str) -> None:
        DIRECT_READS.labels(result).inc()


def render() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _kind_label(kind: str | None) -> str:
    if kind is None:
        return ""
    return kind if kind in _KINDS else "other"


def _operation_label(operation: str) -> str:
    return operation if operation in _OPERATIONS else ("" if not operation else "other")
